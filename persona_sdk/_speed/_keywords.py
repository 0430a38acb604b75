"""Keyword-only parameters without CPython 3.11's per-call dict look-ups (see the package
docstring: "Keyword-only for free")."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["KEYWORDS_ONLY", "KeywordsOnly", "keywords_only", "positional_error"]

F = TypeVar("F", bound=Callable[..., Any])


class KeywordsOnly(enum.Enum):
    """The type of the guard parameter: no argument a caller passes can be of it."""

    GUARD = enum.auto()


#: the guard parameter's default: anything else in its place was passed positionally
KEYWORDS_ONLY: Final = KeywordsOnly.GUARD


def keywords_only(guard: str) -> Callable[[F], F]:
    """Show ``fn``'s parameters after ``guard`` as keyword-only and ``guard`` not at all
    (``inspect.signature``, ``help``, the docs): the signature ``fn`` documents.

    ``fn`` declares them positional-or-keyword after ``guard: KeywordsOnly =
    KEYWORDS_ONLY`` (their defaults are then filled from a tuple, not looked up in a dict)
    and raises ``positional_error`` when ``guard`` is not ``KEYWORDS_ONLY``: any further
    positional argument lands in ``guard`` first, so callers see what ``*`` would do.
    """

    def show(fn: F) -> F:
        sig = inspect.signature(fn)
        params: list[inspect.Parameter] = []
        after = False
        for name, p in sig.parameters.items():
            if name == guard:
                after = True
            elif after:
                params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            else:
                params.append(p)
        if not after:
            raise ValueError(f"{fn.__qualname__} has no parameter {guard!r}")
        fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return fn

    return show


def positional_error(name: str, positional: int) -> TypeError:
    """The ``TypeError`` CPython raises for a keyword-only parameter passed positionally:
    ``name`` takes ``positional`` positional arguments (``self`` included)."""
    return TypeError(
        f"{name}() takes {positional} positional argument{'s' * (positional != 1)} but more "
        "were given"
    )
