"""Translate JavaScript regular expressions (as GrowthBook's ``$regex`` uses them) to ``re``.

JS and Python agree on most syntax but not all of it. Without the ``u``/``m``/``s`` flags a
JS pattern differs from the same Python pattern in these ways, which the translation fixes:

* ``$`` matches only at the very end (Python's also matches before a final newline): ``\\Z``.
* ``.`` excludes ``\\r``, U+2028 and U+2029 too, not only ``\\n``.
* ``\\d``, ``\\w``, ``\\b`` are ASCII-only; ``\\s`` is the ECMAScript whitespace set.
* ``(?<name>...)`` and ``\\k<name>`` name groups; ``[]`` matches nothing, ``[^]`` anything.
* An unknown escape such as ``\\A`` or ``\\e`` means the letter itself.
* ``{`` that does not start a ``{n}``, ``{n,}`` or ``{n,m}`` quantifier is a literal.
* Python-only syntax (``(?P<...>``, inline flags, possessive quantifiers) is rejected, since
  JS rejects it too.

Known remaining difference: look-behind must be fixed-width in Python; such a pattern is
reported as invalid instead of being accepted.

Work per match is bounded (issue #12): patterns (and attribute values) are untrusted. The
translation also emits the pattern in RE2 syntax; when ``google-re2`` is installed (the
``re2`` extra) and the pattern needs nothing RE2 lacks (look-arounds, back-references), RE2
runs it, in time linear in the input. Otherwise Python's backtracking ``re`` runs it, but only
after a static check at compile time: a repeated group that itself contains a repetition, an
alternation or a back-reference (``(a+)+``, ``(a|a)*``) is refused as unsafe, and the input
given to ``re`` is bounded so that the remaining polynomial worst case stays under a fixed
number of steps (see :func:`fallback_input_limit`); a longer value does not match.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple, Protocol

__all__ = [
    "JsRegex",
    "RegexSyntaxError",
    "UnsafeRegexError",
    "fallback_input_limit",
    "re2_available",
    "translate",
]


def _load_re2() -> Any:
    try:
        return importlib.import_module("re2")
    except ImportError:
        return None


_re2: Any = _load_re2()

#: The backtracking fallback's budget: input length ** (1 + unbounded repetitions +
#: back-references) * bounded repetition choices stays under this many steps.
FALLBACK_STEPS: Final = 10**7
#: Never give the fallback engine more than this many characters, whatever the pattern.
FALLBACK_MAX_INPUT: Final = 4096
#: A fallback pattern whose bound would be shorter than this is refused at compile time.
FALLBACK_MIN_INPUT: Final = 64


def re2_available() -> bool:
    """Whether ``google-re2`` is installed (the ``re2`` extra), so RE2-compatible ``$regex``
    patterns run on the linear-time engine."""
    return _re2 is not None


_SPACE: Final = (
    "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
_CLASS_SETS: Final = {"d": "0-9", "w": "A-Za-z0-9_", "s": _SPACE}
_SPACE_RE2: Final = (
    "\\t\\n\\x0b\\x0c\\r \\xa0\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}"
    "\\x{205f}\\x{3000}\\x{feff}"
)
_CLASS_SETS_RE2: Final = {"d": "0-9", "w": "A-Za-z0-9_", "s": _SPACE_RE2}
_OUTSIDE_RE2: Final = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[A-Za-z0-9_]",
    "W": "[^A-Za-z0-9_]",
    "s": f"[{_SPACE_RE2}]",
    "S": f"[^{_SPACE_RE2}]",
    "b": "\\b",  # RE2's word boundary is ASCII, as JS's is
    "B": "\\B",
}
_NOTHING_RE2: Final = "[^\\x00-\\x{10FFFF}]"
_DOT_RE2: Final = "[^\\n\\r\\x{2028}\\x{2029}]"
_OUTSIDE: Final = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[A-Za-z0-9_]",
    "W": "[^A-Za-z0-9_]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "b": r"(?a:\b)",
    "B": r"(?a:\B)",
}
_CONTROL: Final = {"f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_QUANT = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_NAMED_GROUP = re.compile(r"\(\?<[A-Za-z_$]")
_GROUP_NAME = re.compile(r"<([A-Za-z_$][A-Za-z0-9_$]*)>")


class RegexSyntaxError(ValueError):
    """The pattern is not a valid JavaScript regular expression (or cannot be translated)."""


class UnsafeRegexError(RegexSyntaxError):
    """The pattern needs the backtracking engine and has a shape that can backtrack
    catastrophically (a repeated group containing a repetition, an alternation or a
    back-reference), so it is refused at compile time."""


class Searcher(Protocol):
    """What a compiled pattern offers: ``re.Pattern`` and RE2's compiled pattern both do."""

    def search(self, string: str, /) -> object | None: ...


class JsRegex(NamedTuple):
    """A translated pattern: the compiled regex, and for plain literals a cheaper form.

    ``literal`` is ``(kind, text)`` with kind one of ``"eq"``, ``"prefix"``, ``"suffix"`` or
    ``"contains"`` when the pattern is a case-sensitive literal (``^@example\\.com$``), so a
    predicate can use ``str`` methods instead of the regex engine.

    ``engine`` is ``"re2"`` (linear time, any input) or ``"re"`` (backtracking: only values
    of at most ``max_input`` characters may be searched; a longer one does not match).
    """

    regex: Searcher
    literal: tuple[str, str] | None
    engine: str = "re"
    max_input: int | None = None


class _Group:
    """What a group holds, for the static safety check."""

    __slots__ = ("alternation", "backref", "repeat")

    def __init__(self) -> None:
        self.repeat = self.alternation = self.backref = False

    def absorb(self, inner: _Group) -> None:
        self.repeat |= inner.repeat
        self.alternation |= inner.alternation
        self.backref |= inner.backref


def _lit(ch: str) -> str:
    """A single character as a Python pattern atom, safe inside and outside classes."""
    return re.escape(ch) if ch not in "-&~|[]" else "\\" + ch


def _lit_re2(ch: str) -> str:
    """A single character as an RE2 atom, safe inside and outside classes."""
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{ord(ch):x}}}"


class _Translator:
    def __init__(self, src: str) -> None:
        self.src = src
        self.i = 0
        self.out: list[str] = []
        self.out_re2: list[str] | None = []  # the same pattern for RE2; None: RE2 lacks a feature
        # static safety check of the pattern for the backtracking engine
        self.groups: list[_Group] = [_Group()]
        self.closed: _Group | None = None  # the group just closed, if the next token repeats it
        self.unbounded = 0  # *, +, {n,}
        self.backrefs = 0
        self.choices = 1  # product of the choices of ?, {n,m}
        self.unsafe: str | None = None
        self.literal: list[str] | None = []  # stays a list while the pattern is a plain literal
        self.named = _NAMED_GROUP.search(src) is not None
        self.quantifiable = False
        self.after_quantifier = False

    def fail(self, why: str) -> RegexSyntaxError:
        return RegexSyntaxError(f"{why} at position {self.i}")

    def not_literal(self) -> None:
        self.literal = None

    def put(self, text: str, re2_text: str | None = "") -> None:
        """Append to both patterns (``re2_text`` ``""``: the same text; ``None``: RE2 cannot
        express it)."""
        self.out.append(text)
        if self.out_re2 is not None:
            if re2_text is None:
                self.out_re2 = None
            else:
                self.out_re2.append(re2_text or text)

    def emit_atom(
        self, text: str, literal_char: str | None = None, re2_text: str | None = ""
    ) -> None:
        if literal_char is not None and re2_text == "":
            re2_text = _lit_re2(literal_char)
        self.put(text, re2_text)
        if literal_char is None:
            self.not_literal()
        elif self.literal is not None:
            self.literal.append(literal_char)
        self.quantifiable = True
        self.after_quantifier = False
        self.closed = None

    def escape(self, in_class: bool) -> tuple[str, str | None]:
        """Read the escape after a backslash; returns (python text, literal char or None)."""
        src = self.src
        if self.i >= len(src):
            raise self.fail("\\ at end of pattern")
        ch = src[self.i]
        self.i += 1
        if ch in _CONTROL:
            return re.escape(_CONTROL[ch]), _CONTROL[ch]
        if ch == "0" and not src[self.i : self.i + 1].isdigit():
            return "\\x00", "\x00"
        if ch == "x" and _HEX2.match(src, self.i):
            c = chr(int(src[self.i : self.i + 2], 16))
            self.i += 2
            return _lit(c), c
        if ch == "u" and _HEX4.match(src, self.i):
            c = chr(int(src[self.i : self.i + 4], 16))
            self.i += 4
            return _lit(c), c
        if ch == "c" and src[self.i : self.i + 1].isascii() and src[self.i : self.i + 1].isalpha():
            c = chr(ord(src[self.i]) % 32)
            self.i += 1
            return _lit(c), c
        if ch.isdigit() and not in_class:
            j = self.i
            while j < len(src) and src[j].isdigit():
                j += 1
            ref = src[self.i - 1 : j]
            self.i = j
            self.note_backref()
            return f"(?:\\{ref})", None
        if ch == "k" and self.named and not in_class:
            m = _GROUP_NAME.match(src, self.i)
            if not m:
                raise self.fail("invalid named reference")
            self.i = m.end()
            self.note_backref()
            return f"(?:(?P={m.group(1)}))", None
        if in_class and ch == "b":
            return "\\x08", "\x08"
        return _lit(ch), ch

    def note_backref(self) -> None:
        self.backrefs += 1
        self.groups[-1].backref = True
        self.out_re2 = None  # RE2 has no back-references

    def char_class(self) -> tuple[str, str | None]:
        """The class as a Python pattern and as an RE2 one (``None``: not expressible)."""
        src = self.src
        negated = src.startswith("^", self.i)
        if negated:
            self.i += 1
        if src.startswith("]", self.i):
            self.i += 1
            return ("(?s:.)", "(?s:.)") if negated else ("(?!)", _NOTHING_RE2)
        items: list[str] = []
        items_re2: list[str] = []
        extra: list[str] = []  # \D \W \S cannot be expressed inside a Python class
        while True:
            if self.i >= len(src):
                raise self.fail("unterminated character class")
            ch = src[self.i]
            self.i += 1
            if ch == "]":
                break
            if ch == "\\" and src[self.i : self.i + 1] in ("d", "w", "s", "D", "W", "S"):
                kind = src[self.i]
                self.i += 1
                if kind.islower():
                    items.append(_CLASS_SETS[kind])
                    items_re2.append(_CLASS_SETS_RE2[kind])
                else:
                    extra.append(_OUTSIDE[kind])
                continue
            atom, char = self.escape(True) if ch == "\\" else (_lit(ch), ch)
            is_range = (
                char is not None
                and src.startswith("-", self.i)
                and self.i + 1 < len(src)
                and src[self.i + 1] != "]"
            )
            if is_range and char is not None:  # (is_range implies it; for mypy)
                save = self.i
                self.i += 1
                nxt = src[self.i]
                self.i += 1
                if nxt == "\\" and src[self.i : self.i + 1] in ("d", "w", "s", "D", "W", "S"):
                    # [a-\d] is a, '-', and the digits in JS's legacy grammar
                    self.i = save
                    items.append(atom)
                    items_re2.append(_lit_re2(char))
                    continue
                end_atom, end_char = self.escape(True) if nxt == "\\" else (_lit(nxt), nxt)
                if char is None or end_char is None or ord(char) > ord(end_char):
                    raise self.fail("range out of order in character class")
                items.append(f"{atom}-{end_atom}")
                items_re2.append(f"{_lit_re2(char)}-{_lit_re2(end_char)}")
            else:
                items.append(atom)
                items_re2.append(_lit_re2(char) if char is not None else atom)
        body = "".join(items)
        hat = "^" if negated else ""
        if not extra:
            if not body:
                return ("(?s:.)", "(?s:.)") if negated else ("(?!)", _NOTHING_RE2)
            return f"[{hat}{body}]", f"[{hat}{''.join(items_re2)}]"
        alternatives = "|".join(([f"[{body}]"] if body else []) + extra)
        if negated:
            return f"(?:(?!{alternatives})(?s:.))", None  # a look-ahead: not in RE2
        re2_alternatives = "|".join(
            ([f"[{''.join(items_re2)}]"] if body else [])
            + [_OUTSIDE_RE2[x] for x in ("D", "W", "S") if _OUTSIDE[x] in extra]
        )
        return f"(?:{alternatives})", f"(?:{re2_alternatives})"

    def group_open(self) -> None:
        src = self.src
        self.groups.append(_Group())
        if not src.startswith("?", self.i):
            self.put("(")
            return
        for js, py, in_re2 in (
            ("?:", "(?:", True),
            ("?=", "(?=", False),
            ("?!", "(?!", False),
            ("?<=", "(?<=", False),
            ("?<!", "(?<!", False),
        ):
            if src.startswith(js, self.i):
                self.i += len(js)
                self.put(py, "" if in_re2 else None)
                return
        m = _GROUP_NAME.match(src, self.i + 1)
        if src.startswith("?<", self.i) and m:
            self.i = m.end()
            self.put(f"(?P<{m.group(1)}>")
            return
        raise self.fail("invalid group")

    def group_close(self) -> None:
        if len(self.groups) < 2:
            raise self.fail("unmatched )")
        inner = self.groups.pop()
        self.groups[-1].absorb(inner)
        self.closed = inner
        self.put(")")

    def quantifier(self, text: str) -> None:
        if not self.quantifiable:
            raise self.fail("nothing to repeat")
        self.note_repeat(text)
        self.closed = None
        self.put(text)
        self.not_literal()
        self.quantifiable = False
        self.after_quantifier = True

    def note_repeat(self, text: str) -> None:
        inner = self.closed
        if inner is not None and self.unsafe is None:
            if inner.repeat:
                self.unsafe = "a repeated group contains a repetition"
            elif inner.alternation:
                self.unsafe = "a repeated group contains an alternation"
            elif inner.backref:
                self.unsafe = "a repeated group contains a back-reference"
        self.groups[-1].repeat = True
        if text in ("*", "+") or text.endswith(",}"):
            self.unbounded += 1
        elif text == "?":
            self.choices *= 2
        else:
            low, _, high = text[1:-1].partition(",")
            self.choices *= int(high or low) - int(low) + 1 if high else 1

    def run(self) -> tuple[str, tuple[str, str] | None]:
        src = self.src
        anchored_start = anchored_end = False
        while self.i < len(src):
            ch = src[self.i]
            self.i += 1
            if ch == "\\" and src[self.i : self.i + 1] in ("b", "B"):
                self.i += 1
                self.put(_OUTSIDE[src[self.i - 1]], _OUTSIDE_RE2[src[self.i - 1]])
                self.not_literal()
                self.quantifiable = False
            elif ch == "\\" and src[self.i : self.i + 1] in _OUTSIDE:
                self.i += 1
                self.emit_atom(_OUTSIDE[src[self.i - 1]], None, _OUTSIDE_RE2[src[self.i - 1]])
            elif ch == "\\":
                self.emit_atom(*self.escape(False))
            elif ch == "[":
                text, re2_text = self.char_class()
                self.emit_atom(text, None, re2_text)
            elif ch == "(":
                self.group_open()
                self.not_literal()
                self.quantifiable = False
                self.after_quantifier = False
                self.closed = None
            elif ch == ")":
                self.group_close()
                self.quantifiable = True
                self.after_quantifier = False
            elif ch in "*+":
                self.quantifier(ch)
            elif ch == "?":
                if self.after_quantifier:
                    self.put("?")  # lazy
                    self.after_quantifier = False
                else:
                    self.quantifier("?")
            elif ch == "{" and (m := _QUANT.match(src, self.i - 1)):
                self.i = m.end()
                self.quantifier(m.group())
            elif ch == ".":
                self.emit_atom("[^\\n\\r\\u2028\\u2029]", None, _DOT_RE2)
            elif ch == "^":
                anchored_start = self.i == 1
                self.put("^")
                if not anchored_start:
                    self.not_literal()
                self.quantifiable = False
            elif ch == "$":
                anchored_end = self.i == len(src)
                self.put("\\Z", "\\z")
                if not anchored_end:
                    self.not_literal()
                self.quantifiable = False
            elif ch == "|":
                self.put("|")
                self.groups[-1].alternation = True
                self.not_literal()
                self.quantifiable = False
                self.closed = None
            else:
                self.emit_atom(_lit(ch), ch)
        literal = None
        if self.literal is not None:
            text = "".join(self.literal)
            kind = {
                (True, True): "eq",
                (True, False): "prefix",
                (False, True): "suffix",
                (False, False): "contains",
            }[(anchored_start, anchored_end)]
            literal = (kind, text)
        return "".join(self.out), literal


def fallback_input_limit(unbounded: int, backrefs: int, choices: int) -> int:
    """The longest value the backtracking engine may search for a pattern with this many
    unbounded repetitions and back-references and this product of bounded choices.

    Without nested repetition, a backtracking search tries at most about
    ``n * n**unbounded * n**backrefs * choices`` paths over ``n`` characters; ``n`` is the
    largest length that keeps this under ``FALLBACK_STEPS``.
    """
    exponent = 1 + unbounded + backrefs
    budget = FALLBACK_STEPS / max(choices, 1)
    n = int(budget ** (1 / exponent))
    while n > 0 and n**exponent > budget:  # floating-point roots can overshoot by one
        n -= 1
    return min(n, FALLBACK_MAX_INPUT)


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class _Re2Search:
    """An RE2 pattern searching ``str`` values. RE2 works on UTF-8, which cannot hold a lone
    surrogate (Python strings can, e.g. from ``surrogateescape``): such code points are
    searched as U+FFFD, which every pattern treats as the same kind of character."""

    __slots__ = ("_search",)

    def __init__(self, compiled: Any) -> None:
        self._search: Callable[[str], object | None] = compiled.search

    def search(self, string: str, /) -> object | None:
        try:
            return self._search(string)
        except UnicodeEncodeError:
            return self._search(_SURROGATE.sub("\ufffd", string))


def _compile_re2(pattern: str, ignore_case: bool) -> Searcher | None:
    options = _re2.Options()
    options.log_errors = False  # a refused pattern falls back; RE2 must not print
    options.never_capture = True  # only "does it match" is asked
    options.case_sensitive = not ignore_case
    try:
        compiled = _re2.compile(pattern, options)
    except _re2.error:
        return None  # e.g. a repetition count above RE2's limit of 1,000
    return _Re2Search(compiled)


def translate(pattern: str, *, ignore_case: bool = False, use_re2: bool | None = None) -> JsRegex:
    """Compile a JS regex source to a :class:`JsRegex`; raise :class:`RegexSyntaxError`
    (:class:`UnsafeRegexError` for a pattern only the backtracking engine can run and that
    could backtrack catastrophically).

    ``use_re2``: ``None`` uses RE2 when installed; ``False`` forces the checked backtracking
    fallback (tests use it to prove the fallback's guarantees).
    """
    translator = _Translator(pattern)
    python_pattern, literal = translator.run()
    if len(translator.groups) > 1:
        raise RegexSyntaxError("missing ) at end of pattern")
    try:
        # always compiled by ``re`` too: it decides validity the same way with or without RE2
        regex = re.compile(python_pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise RegexSyntaxError(str(exc)) from None
    literal = None if ignore_case else literal
    if use_re2 is None:
        use_re2 = _re2 is not None
    if use_re2 and _re2 is not None and translator.out_re2 is not None:
        linear = _compile_re2("".join(translator.out_re2), ignore_case)
        if linear is not None:
            return JsRegex(linear, literal, "re2", None)
    if literal is not None:
        return JsRegex(regex, literal, "re", None)  # searched as a ``str`` method, linear
    if translator.unsafe is not None:
        raise UnsafeRegexError(
            f"{translator.unsafe}, which can backtrack catastrophically"
            + ("" if _re2 is not None else " (install google-re2 to run it in linear time)")
        )
    limit = fallback_input_limit(translator.unbounded, translator.backrefs, translator.choices)
    if limit < FALLBACK_MIN_INPUT:
        raise UnsafeRegexError(
            "too many repetitions for the backtracking engine (it would only search values "
            f"of up to {limit} characters)"
        )
    return JsRegex(regex, literal, "re", limit)
