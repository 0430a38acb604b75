"""Reading a JavaScript regular expression: the translation to a Python ``re`` pattern and to
an RE2 one, with the facts the static safety check needs (see :mod:`persona_sdk.rules._regex`,
which picks the engine)."""

from __future__ import annotations

import re
from typing import Final

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


class Translator:
    """One pass over a JS pattern; :meth:`run` returns the Python pattern, ``out_re2`` holds
    the RE2 one, the counters feed :func:`persona_sdk.rules._regex.fallback_input_limit`."""

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
        self.anchored_start = self.anchored_end = False

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
            self.class_item(ch, items, items_re2, extra)
        return self.class_pattern(negated, items, items_re2, extra)

    def class_item(self, ch: str, items: list[str], items_re2: list[str], extra: list[str]) -> None:
        """Read one member of a class (a character, a range or a set escape) starting at
        ``ch``, appending its Python form to ``items`` (or ``extra``) and its RE2 form."""
        src = self.src
        if ch == "\\" and src[self.i : self.i + 1] in ("d", "w", "s", "D", "W", "S"):
            kind = src[self.i]
            self.i += 1
            if kind.islower():
                items.append(_CLASS_SETS[kind])
                items_re2.append(_CLASS_SETS_RE2[kind])
            else:
                extra.append(_OUTSIDE[kind])
            return
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
                return
            end_atom, end_char = self.escape(True) if nxt == "\\" else (_lit(nxt), nxt)
            if char is None or end_char is None or ord(char) > ord(end_char):
                raise self.fail("range out of order in character class")
            items.append(f"{atom}-{end_atom}")
            items_re2.append(f"{_lit_re2(char)}-{_lit_re2(end_char)}")
        else:
            items.append(atom)
            items_re2.append(_lit_re2(char) if char is not None else atom)

    def class_pattern(
        self, negated: bool, items: list[str], items_re2: list[str], extra: list[str]
    ) -> tuple[str, str | None]:
        """The class read into ``items`` and ``extra`` as a Python and an RE2 pattern."""
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
        while self.i < len(self.src):
            self.i += 1
            self.token(self.src[self.i - 1])
        literal = None
        if self.literal is not None:
            text = "".join(self.literal)
            kind = {
                (True, True): "eq",
                (True, False): "prefix",
                (False, True): "suffix",
                (False, False): "contains",
            }[(self.anchored_start, self.anchored_end)]
            literal = (kind, text)
        return "".join(self.out), literal

    def token(self, ch: str) -> None:
        """Translate the token starting with ``ch`` (already consumed)."""
        src = self.src
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
            self.anchored_start = self.i == 1
            self.put("^")
            if not self.anchored_start:
                self.not_literal()
            self.quantifiable = False
        elif ch == "$":
            self.anchored_end = self.i == len(src)
            self.put("\\Z", "\\z")
            if not self.anchored_end:
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
