"""What a condition reads: its attribute paths, noted by the compiler as it meets them.

A segment index needs to know which attributes can change a condition's result, so that an
event touches only the conditions reading what it changed. The compiler knows it exactly
while it walks the condition (``Compiler.condition``), so it notes each attribute path there;
nothing is recovered afterwards from the condition's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Read", "Reads"]


class Read:
    """One attribute test: the attribute path, where it sits, the operators applied."""

    __slots__ = ("key", "operators", "path", "root")

    def __init__(self, key: str, path: str, operators: frozenset[str]) -> None:
        self.key = key  #: the dotted attribute path (``traits.plan``)
        self.root = key.split(".", 1)[0]  #: its first step: what an index keys on
        self.path = path  #: where it sits in its document, for error messages
        self.operators = operators  #: the operator names in its test (``$gte``...)

    def __repr__(self) -> str:
        return f"Read({self.key!r}, {sorted(self.operators)})"


class Reads:
    """The attribute tests of one condition, in the order the compiler met them.

    Usage::

        reads = Reads()
        compile_condition({"plan": "pro", "views": {"$gte": 2}}, reads=reads)
        reads.roots  # frozenset({"plan", "views"})
    """

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Read] = []

    def note(self, key: str, path: str, test: Any) -> None:
        """Note that ``key`` is tested by ``test`` (a literal or an operator object)."""
        ops = (
            frozenset(k for k in test if isinstance(k, str) and k.startswith("$"))
            if isinstance(test, Mapping)
            else frozenset()
        )
        self.items.append(Read(key, path, ops))

    @property
    def roots(self) -> frozenset[str]:
        """The first step of every attribute path read."""
        return frozenset(r.root for r in self.items)

    def using(self, operators: frozenset[str] | set[str]) -> list[Read]:
        """The tests that apply one of ``operators``."""
        return [r for r in self.items if r.operators & operators]
