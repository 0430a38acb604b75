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

from persona_sdk.rules._js_pattern import RegexSyntaxError, Translator, UnsafeRegexError

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
    translator = Translator(pattern)
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
