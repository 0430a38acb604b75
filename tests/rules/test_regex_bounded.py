"""`$regex` work is bounded (issue #12, item 4): a pattern from a GrowthBook payload or a tag
trigger cannot stall a worker on an attacker-controlled attribute.

With ``google-re2`` installed (the ``re2`` extra, part of the test extras) RE2-compatible
patterns run on RE2, in time linear in the input. Patterns RE2 cannot run (look-arounds,
back-references), or every pattern when RE2 is absent, go to Python's backtracking ``re`` only
after a static check refuses catastrophic shapes, and with the input length bounded. No test
here measures time: each asserts which engine runs the pattern, or that it is refused at
compile time, and the answer.
"""

from __future__ import annotations

import pytest

import persona_sdk.rules._regex as regex_mod
from persona_sdk import ConfigError
from persona_sdk.rules import compile_condition
from persona_sdk.rules._regex import (
    FALLBACK_STEPS,
    UnsafeRegexError,
    fallback_input_limit,
    re2_available,
    translate,
)

needs_re2 = pytest.mark.skipif(not re2_available(), reason="google-re2 is not installed")

# The shapes of the report: a nested repetition that backtracks exponentially on a
# near-miss (a browser User-Agent of 28 characters took 10.8 s); here against 50,000.
CATASTROPHIC = ["^(\\w+\\s?)*$", "(a+)+$", "^(a|aa)+$", "^([a-z]*)*@x\\.io$"]
ATTACK = "a" * 50_000 + "!"


@pytest.fixture
def without_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as if google-re2 were not installed."""
    monkeypatch.setattr(regex_mod, "_re2", None)


@needs_re2
@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_run_on_the_linear_engine(pattern: str) -> None:
    """With RE2 installed, a nested-repetition pattern is compiled by RE2 (linear in the
    input) and answers on a long hostile string."""
    compiled = translate(pattern)
    assert compiled.engine == "re2"
    assert compiled.max_input is None
    assert compiled.regex.search(ATTACK) is None
    assert compile_condition({"ua": {"$regex": pattern}})({"ua": ATTACK}) is False
    assert compile_condition({"ua": {"$notRegex": pattern}})({"ua": ATTACK}) is True


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_without_re2_catastrophic_patterns_are_refused_at_compile_time(
    pattern: str, without_re2: None
) -> None:
    """Without RE2, the static check refuses a repeated group holding a repetition or an
    alternation: strict compilation raises a ``ConfigError`` naming the path, lenient
    compilation makes the condition never match (nothing is ever run on the input)."""
    with pytest.raises(UnsafeRegexError):
        translate(pattern)
    with pytest.raises(ConfigError) as info:
        compile_condition({"ua": {"$regex": pattern}}, path="features.f.rules[0].condition")
    assert info.value.errors[0].startswith("features.f.rules[0].condition.ua: unsafe regex")
    lenient = compile_condition({"ua": {"$regex": pattern}}, strict=False)
    assert lenient({"ua": ATTACK}) is False


@needs_re2
def test_patterns_re2_cannot_run_are_checked_and_bounded_too() -> None:
    """Even with RE2 installed, a pattern that needs the backtracking engine (a back-reference
    here) passes the same static check: a catastrophic one is refused."""
    with pytest.raises(UnsafeRegexError):
        translate("^((a)\\2+)+$")
    with pytest.raises(UnsafeRegexError):
        translate("(?=x)(a|aa)*$")
    compiled = translate("^(?!.*bot).*$")
    assert compiled.engine == "re"
    assert compiled.max_input is not None


def test_the_fallback_bounds_the_input_it_searches(without_re2: None) -> None:
    """The backtracking engine only searches values up to the pattern's bound (its worst
    case stays under a fixed step budget); a longer value does not match."""
    compiled = translate("^(?!.*bot).*$")  # two unbounded repetitions
    assert compiled.engine == "re"
    limit = fallback_input_limit(2, 0, 1)
    assert compiled.max_input == limit
    assert limit**3 <= FALLBACK_STEPS < (limit + 1) ** 3
    ok = compile_condition({"ua": {"$regex": "^(?!.*bot).*$"}})
    assert ok({"ua": "x" * limit}) is True
    assert ok({"ua": "x" * (limit + 1)}) is False  # too long for the fallback
    assert ok({"ua": "x" * 10 + "bot"}) is False


def test_fallback_bound_shrinks_with_each_repetition() -> None:
    """More unbounded repetitions, back-references or bounded choices give a shorter bound,
    and too many are refused at compile time."""
    assert fallback_input_limit(0, 0, 1) > fallback_input_limit(1, 0, 1)
    assert fallback_input_limit(1, 0, 1) > fallback_input_limit(2, 0, 1)
    assert fallback_input_limit(1, 1, 1) == fallback_input_limit(2, 0, 1)
    assert fallback_input_limit(1, 0, 100) < fallback_input_limit(1, 0, 1)
    with pytest.raises(UnsafeRegexError, match="too many repetitions"):
        translate("a*b*c*d*e*(?=f)", use_re2=False)


@pytest.mark.parametrize("pattern", ["^/checkout", "@example\\.com$", "a+b", "^(ab)+$",
                                     "^[a-z]+(-[a-z])*$"])  # fmt: skip
def test_ordinary_patterns_still_compile_without_re2(pattern: str, without_re2: None) -> None:
    """Patterns without a catastrophic shape (a repeated group of plain atoms, literals)
    compile on the fallback, bounded."""
    compiled = translate(pattern)
    assert compiled.engine == "re"
    assert compiled.literal is not None or compiled.max_input is not None


def test_a_repeated_group_of_plain_atoms_is_not_nested_repetition() -> None:
    """``(-[a-z])+`` is allowed, ``(-[a-z]+)+`` is not: the check looks inside the group."""
    translate("^(-[a-z])+$", use_re2=False)
    with pytest.raises(UnsafeRegexError, match="contains a repetition"):
        translate("^(-[a-z]+)+$", use_re2=False)


@pytest.mark.parametrize("use_re2", [True, False], ids=["re2-if-installed", "re"])
def test_values_with_lone_surrogates_are_searched_not_raised(use_re2: bool) -> None:
    """A value holding a lone surrogate (possible in a Python str, not in UTF-8) is searched
    on either engine, never raising: ``.`` matches it as one character."""
    compiled = translate("^a.c$", use_re2=use_re2)
    assert compiled.regex.search("a\ud800c") is not None
    assert compiled.regex.search("a\ud800\udc00c") is None
    assert compile_condition({"ua": {"$regex": "a.c"}})({"ua": "a\udc80c"}) is True
