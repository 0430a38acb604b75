"""``membership``: ``key in cache`` as one C call (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cachetools import Cache

__all__ = ["membership"]


def membership(cache: Any) -> Callable[[object], bool]:
    """``key in cache`` for the whole life of ``cache``, without a Python frame when it can.

    A ``cachetools.Cache`` (``LRUCache`` among others) whose membership test is ``Cache``'s
    own answers ``key in`` its one item dict, set in ``__init__`` and never replaced: then
    that dict's ``__contains__`` is the same test as one C call. Any other cache (a
    ``TTLCache`` checks expiry, a subclass may override it) keeps its own ``__contains__``.
    """
    data = getattr(cache, "_Cache__data", None)
    if type(cache).__contains__ is Cache.__contains__ and type(data) is dict:
        test: Callable[[object], bool] = data.__contains__
        return test
    fallback: Callable[[object], bool] = cache.__contains__
    return fallback
