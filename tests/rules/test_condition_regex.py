"""JavaScript regex syntax is translated to `re` so patterns mean what they mean in the browser."""

from __future__ import annotations

import pytest

from persona_sdk.rules._regex import RegexSyntaxError, translate


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("a$", "a\n", False),  # JS $ is the very end
        ("^a.c$", "a\rc", False),  # JS . excludes \r, U+2028, U+2029
        ("^a.c$", "a\u2028c", False),
        ("^a.c$", "abc", True),
        ("^\\d+$", "١٢", False),  # \d is ASCII in JS
        ("^\\w+$", "é", False),
        ("^\\s$", "\ufeff", True),  # JS whitespace includes the BOM...
        ("^\\s$", "\x1c", False),  # ...but not the information separators
        ("\\bé", " é", False),  # \b uses ASCII word characters
        ("^[\\d\\W]+$", "1-2", True),
        ("^[^\\D]+$", "123", True),
        ("^[^\\D]+$", "12a", False),
        ("^[]", "a", False),  # [] matches nothing
        ("^[^]$", "\n", True),  # [^] matches anything
        ("a{,2}", "a{,2}", True),  # not a quantifier in JS: literal
        ("^a{2}$", "aa", True),
        ("^a{2,}?$", "aaa", True),
        ("\\Aa", "Aa", True),  # unknown escapes are the letter itself
        ("\\e", "e", True),
        ("^(?<y>\\d)-\\k<y>$", "1-1", True),
        ("^(?<y>\\d)-\\k<y>$", "1-2", False),
        ("\\k<y>", "k<y>", True),  # without named groups \k is a plain k
        ("^\\x41\\u0042\\cA$", "AB\x01", True),
        ("[+--]", ",", True),
        ("^[a-\\d]+$", "a-1", True),
        ("a|b$", "xa", True),
        ("(?=a)a", "a", True),
        ("(?<!x)b", "ab", True),
        ("\\/path\\/", "/path/", True),
        ("\\0", "\x00", True),
        ("^[\\b]$", "\b", True),
        ("(a)\\1", "aa", True),
        ("[&~|]", "~", True),
    ],
)
@pytest.mark.parametrize("use_re2", [True, False], ids=["re2-if-installed", "re"])
def test_js_semantics(pattern: str, text: str, matches: bool, use_re2: bool) -> None:
    """The translated pattern matches exactly where the JS RegExp does, on RE2 (when
    installed and the pattern allows) and on the checked ``re`` fallback alike."""
    assert (translate(pattern, use_re2=use_re2).regex.search(text) is not None) is matches


@pytest.mark.parametrize(
    "pattern",
    ["(", "[a", "a**", "x*+", "(?i)a", "(?P<n>a)", "(?#c)", "+a", "a\\", "[z-a]", "(?<=a+)b"],
)
def test_invalid_patterns_are_refused(pattern: str) -> None:
    """Patterns JS rejects (and Python-only syntax) raise `RegexSyntaxError`."""
    with pytest.raises(RegexSyntaxError):
        translate(pattern)


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("@example\\.com$", ("suffix", "@example.com")),
        ("^/shop", ("prefix", "/shop")),
        ("^yes$", ("eq", "yes")),
        ("mobile", ("contains", "mobile")),
        ("a\\+b", ("contains", "a+b")),
        ("a+b", None),
        ("a.b", None),
        ("a|b", None),
        ("^a^", None),
    ],
)
def test_plain_literals_are_recognized(pattern: str, literal: tuple[str, str] | None) -> None:
    """Literal patterns are recognized so they can run as `str` methods."""
    assert translate(pattern).literal == literal


def test_case_insensitive_has_no_literal_form() -> None:
    """`$regexi` always uses the regex engine (JS case folding is not `str.lower`)."""
    compiled = translate("abc", ignore_case=True)
    assert compiled.literal is None
    assert compiled.regex.search("xABCx") is not None
