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
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["JsRegex", "RegexSyntaxError", "translate"]

_SPACE: Final = (
    "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
_CLASS_SETS: Final = {"d": "0-9", "w": "A-Za-z0-9_", "s": _SPACE}
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


class JsRegex(NamedTuple):
    """A translated pattern: the compiled regex, and for plain literals a cheaper form.

    ``literal`` is ``(kind, text)`` with kind one of ``"eq"``, ``"prefix"``, ``"suffix"`` or
    ``"contains"`` when the pattern is a case-sensitive literal (``^@example\\.com$``), so a
    predicate can use ``str`` methods instead of the regex engine.
    """

    regex: re.Pattern[str]
    literal: tuple[str, str] | None


def _lit(ch: str) -> str:
    """A single character as a Python pattern atom, safe inside and outside classes."""
    return re.escape(ch) if ch not in "-&~|[]" else "\\" + ch


class _Translator:
    def __init__(self, src: str) -> None:
        self.src = src
        self.i = 0
        self.out: list[str] = []
        self.literal: list[str] | None = []  # stays a list while the pattern is a plain literal
        self.named = _NAMED_GROUP.search(src) is not None
        self.quantifiable = False
        self.after_quantifier = False

    def fail(self, why: str) -> RegexSyntaxError:
        return RegexSyntaxError(f"{why} at position {self.i}")

    def not_literal(self) -> None:
        self.literal = None

    def emit_atom(self, text: str, literal_char: str | None = None) -> None:
        self.out.append(text)
        if literal_char is None:
            self.not_literal()
        elif self.literal is not None:
            self.literal.append(literal_char)
        self.quantifiable = True
        self.after_quantifier = False

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
            return f"(?:\\{ref})", None
        if ch == "k" and self.named and not in_class:
            m = _GROUP_NAME.match(src, self.i)
            if not m:
                raise self.fail("invalid named reference")
            self.i = m.end()
            return f"(?P={m.group(1)})", None
        if in_class and ch == "b":
            return "\\x08", "\x08"
        return _lit(ch), ch

    def char_class(self) -> str:
        src = self.src
        negated = src.startswith("^", self.i)
        if negated:
            self.i += 1
        if src.startswith("]", self.i):
            self.i += 1
            return "(?s:.)" if negated else "(?!)"
        items: list[str] = []
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
            if is_range:
                save = self.i
                self.i += 1
                nxt = src[self.i]
                self.i += 1
                if nxt == "\\" and src[self.i : self.i + 1] in ("d", "w", "s", "D", "W", "S"):
                    # [a-\d] is a, '-', and the digits in JS's legacy grammar
                    self.i = save
                    items.append(atom)
                    continue
                end_atom, end_char = self.escape(True) if nxt == "\\" else (_lit(nxt), nxt)
                if char is None or end_char is None or ord(char) > ord(end_char):
                    raise self.fail("range out of order in character class")
                items.append(f"{atom}-{end_atom}")
            else:
                items.append(atom)
        body = "".join(items)
        if not extra:
            if not body:
                return "(?s:.)" if negated else "(?!)"
            return f"[{'^' if negated else ''}{body}]"
        alternatives = "|".join(([f"[{body}]"] if body else []) + extra)
        return f"(?:(?!{alternatives})(?s:.))" if negated else f"(?:{alternatives})"

    def group_open(self) -> None:
        src = self.src
        if not src.startswith("?", self.i):
            self.out.append("(")
            return
        for js, py in (
            ("?:", "(?:"),
            ("?=", "(?="),
            ("?!", "(?!"),
            ("?<=", "(?<="),
            ("?<!", "(?<!"),
        ):
            if src.startswith(js, self.i):
                self.i += len(js)
                self.out.append(py)
                return
        m = _GROUP_NAME.match(src, self.i + 1)
        if src.startswith("?<", self.i) and m:
            self.i = m.end()
            self.out.append(f"(?P<{m.group(1)}>")
            return
        raise self.fail("invalid group")

    def quantifier(self, text: str) -> None:
        if not self.quantifiable:
            raise self.fail("nothing to repeat")
        self.out.append(text)
        self.not_literal()
        self.quantifiable = False
        self.after_quantifier = True

    def run(self) -> tuple[str, tuple[str, str] | None]:
        src = self.src
        anchored_start = anchored_end = False
        while self.i < len(src):
            ch = src[self.i]
            self.i += 1
            if ch == "\\" and src[self.i : self.i + 1] in ("b", "B"):
                self.i += 1
                self.out.append(_OUTSIDE[src[self.i - 1]])
                self.not_literal()
                self.quantifiable = False
            elif ch == "\\" and src[self.i : self.i + 1] in _OUTSIDE:
                self.i += 1
                self.emit_atom(_OUTSIDE[src[self.i - 1]])
            elif ch == "\\":
                self.emit_atom(*self.escape(False))
            elif ch == "[":
                self.emit_atom(self.char_class())
            elif ch == "(":
                self.group_open()
                self.not_literal()
                self.quantifiable = False
                self.after_quantifier = False
            elif ch == ")":
                self.out.append(")")
                self.quantifiable = True
                self.after_quantifier = False
            elif ch in "*+":
                self.quantifier(ch)
            elif ch == "?":
                if self.after_quantifier:
                    self.out.append("?")  # lazy
                    self.after_quantifier = False
                else:
                    self.quantifier("?")
            elif ch == "{" and (m := _QUANT.match(src, self.i - 1)):
                self.i = m.end()
                self.quantifier(m.group())
            elif ch == ".":
                self.emit_atom("[^\\n\\r\\u2028\\u2029]")
            elif ch == "^":
                anchored_start = self.i == 1
                self.out.append("^")
                if not anchored_start:
                    self.not_literal()
                self.quantifiable = False
            elif ch == "$":
                anchored_end = self.i == len(src)
                self.out.append("\\Z")
                if not anchored_end:
                    self.not_literal()
                self.quantifiable = False
            elif ch == "|":
                self.out.append("|")
                self.not_literal()
                self.quantifiable = False
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


def translate(pattern: str, *, ignore_case: bool = False) -> JsRegex:
    """Compile a JS regex source to a :class:`JsRegex`; raise :class:`RegexSyntaxError`."""
    translator = _Translator(pattern)
    python_pattern, literal = translator.run()
    try:
        regex = re.compile(python_pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise RegexSyntaxError(str(exc)) from None
    return JsRegex(regex, None if ignore_case else literal)
