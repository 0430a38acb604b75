"""A bound on nesting: hostile documents (a GrowthBook payload, a reload body) must not reach
the recursive compilers and walkers with thousands of levels (``RecursionError``)."""

from __future__ import annotations

from typing import Any

from .._errors import ConfigError

__all__ = ["MAX_DEPTH", "check_depth"]

#: The deepest nesting of objects and arrays a container document may have. Real containers
#: stay far below (a condition nested ten logical levels deep is about 25).
MAX_DEPTH = 100


def check_depth(doc: Any, *, where: str = "", limit: int = MAX_DEPTH) -> None:
    """Raise ``ConfigError`` when ``doc`` nests dicts and lists deeper than ``limit``.

    Iterative (no recursion, whatever the depth), and it stops at the first container past
    the limit, naming its path.
    """
    stack: list[tuple[Any, int, str]] = [(doc, 1, where)]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(node))
        else:
            continue
        if depth > limit:
            raise ConfigError(f"{path or '<document>'}: nested deeper than {limit} levels")
        for child_path, child in items:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, child_path))
