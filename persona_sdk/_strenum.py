"""``StrEnum``: the base of every closed set of strings the package exposes."""

from __future__ import annotations

import enum

__all__ = ["StrEnum"]


class StrEnum(str, enum.Enum):
    """A ``str`` enum that renders as its value on every supported Python.

    ``str(ProfileSourceKind.LOCAL) == "local"`` and ``f"{kind}"`` is ``"local"`` as with
    3.11's ``enum.StrEnum``; a plain ``(str, Enum)`` renders ``ProfileSourceKind.LOCAL``
    (and ``format`` changed between 3.11 and 3.12).
    """

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str.__str__(self), format_spec)
