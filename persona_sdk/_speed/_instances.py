"""``blank``: an instance made without calling its class (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["blank"]

T = TypeVar("T")

#: ``blank(cls)``: a new ``cls`` with no slot set; the caller sets every one its methods
#: read. ``object.__new__`` itself, so no Python frame is added.
blank: Final[Callable[[type[Any]], Any]] = object.__new__
