"""Dotted-path lookup into attribute mappings, with GrowthBook's JS semantics.

A missing step, or a step into something that is not an object, yields ``None`` (GrowthBook's
``null``); a missing attribute and a ``null`` one are therefore the same to a condition.
Arrays expose their canonical indices (``"0"``, ``"1"``, not ``"01"``) and ``"length"``, as
JS property access does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["compile_path", "get_path", "step"]

Getter = Callable[[Mapping[str, Any]], Any]


def step(current: Any, key: str) -> Any:
    """One path step: ``current[key]`` when ``current`` is an object that has it, else ``None``."""
    if isinstance(current, Mapping):
        return current.get(key)
    if isinstance(current, (list, tuple)):
        if key == "length":
            return len(current)
        if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0"):
            index = int(key)
            if index < len(current):
                return current[index]
    return None


def get_path(attributes: Mapping[str, Any], dotted: str) -> Any:
    """Read ``dotted`` (``"page.path"``) from ``attributes``; ``None`` when any step is missing.

    Prefer :func:`compile_path` for a path read more than once.
    """
    current: Any = attributes
    for key in dotted.split("."):
        current = step(current, key)
        if current is None:
            return None
    return current


def compile_path(dotted: str) -> Getter:
    """Return a fast getter for ``dotted``, equivalent to ``get_path(attributes, dotted)``.

    Example::

        city = compile_path("context.location.city")
        city({"context": {"location": {"city": "Lyon"}}})  # "Lyon"
    """
    keys = dotted.split(".")
    if len(keys) == 1:
        (k0,) = keys

        def get1(a: Mapping[str, Any]) -> Any:
            return a.get(k0)

        return get1
    if len(keys) == 2:
        k0, k1 = keys

        def get2(a: Mapping[str, Any]) -> Any:
            v = a.get(k0)
            if type(v) is dict:
                return v.get(k1)
            return step(v, k1)

        return get2
    first, rest = keys[0], tuple(keys[1:])

    def get_n(a: Mapping[str, Any]) -> Any:
        v = a.get(first)
        for k in rest:
            v = v.get(k) if type(v) is dict else step(v, k)
            if v is None:
                return None
        return v

    return get_n
