"""Custom condition operators: the ``Operator`` protocol and the registry that holds them.

Operators come from plugins through the ``persona_sdk.operators`` entry point group, or are
registered by hand with :meth:`OperatorRegistry.register`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

from .._errors import PluginError
from ._loader import iter_entry_points

__all__ = ["BUILTIN_OPERATORS", "ENTRY_POINT_GROUP", "Operator", "OperatorRegistry"]


ENTRY_POINT_GROUP = "persona_sdk.operators"

#: Operator names the compiler implements itself; a plugin may not take one of them.
BUILTIN_OPERATORS: frozenset[str] = frozenset(
    {
        "$eq", "$ne", "$lt", "$lte", "$gt", "$gte",
        "$in", "$nin", "$ini", "$nini", "$all", "$alli",
        "$elemMatch", "$size", "$exists", "$type", "$not",
        "$regex", "$regexi", "$notRegex", "$notRegexi",
        "$inGroup", "$notInGroup",
        "$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte",
        "$and", "$or", "$nor",
    }
)  # fmt: skip


@runtime_checkable
class Operator(Protocol):
    """A custom condition operator, such as ``{"ts": {"$isWeekend": true}}``.

    ``name`` starts with ``$``. ``compile`` runs once per use in a condition, at load time:
    it receives the operand (the JSON value next to the operator name) and the path of the
    condition for error messages, and returns a predicate over the attribute value. A missing
    attribute reaches the predicate as ``None``, as in GrowthBook. A bad operand raises
    :class:`persona_sdk.ConfigError` naming ``path``. The predicate must return a ``bool``
    and should not raise.

    .. versionadded:: 0.1.0
    """

    name: str

    def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
        """Turn ``operand`` into a predicate over one attribute value."""
        ...


class OperatorRegistry:
    """The custom operators a condition compiler may use, by name.

    Example::

        registry = OperatorRegistry()
        registry.register(IsWeekend())
        compile_condition({"ts": {"$isWeekend": True}}, operators=registry)

    .. versionadded:: 0.1.0
    """

    def __init__(self) -> None:
        self._ops: dict[str, Operator] = {}
        self._lock = threading.Lock()

    def register(self, op: Operator, *, source: str | None = None) -> None:
        """Add ``op``; raise :class:`persona_sdk.PluginError` if it is malformed or clashes.

        ``source`` names where the operator came from (an entry point) in error messages.
        """
        label = source or repr(op)
        name = getattr(op, "name", None)
        if not isinstance(name, str) or len(name) < 2 or not name.startswith("$"):
            raise PluginError(
                f"operator plugin {label}: name must be a string starting with '$', got {name!r}"
            )
        if not callable(getattr(op, "compile", None)):
            raise PluginError(
                f"operator plugin {label} ({name}): has no compile(operand, path) method"
            )
        if name in BUILTIN_OPERATORS:
            raise PluginError(f"operator plugin {label}: {name} is a built-in operator")
        with self._lock:
            existing = self._ops.get(name)
            if existing is not None and existing is not op:
                raise PluginError(
                    f"operator plugin {label}: {name} is already registered by {existing!r}"
                )
            self._ops[name] = op

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register every operator advertised in the entry point ``group``.

        An entry point may name an operator object or a class to instantiate without
        arguments. Every plugin that loads is registered; the failures are then raised
        together as one :class:`persona_sdk.PluginError` naming each plugin and the group.
        """
        problems: list[str] = []
        for ep in iter_entry_points(group):
            where = f"{ep.name} = {ep.value} (entry point group {group!r})"
            try:
                obj = ep.load()
                op = obj() if isinstance(obj, type) else obj
            except Exception as exc:  # a broken plugin must not hide which one it is
                problems.append(f"{where}: failed to load: {type(exc).__name__}: {exc}")
                continue
            try:
                self.register(op, source=where)
            except PluginError as exc:
                problems.append(str(exc))
        if problems:
            raise PluginError("\n".join(problems))

    def get(self, name: str) -> Operator | None:
        """The operator registered as ``name``, or ``None``."""
        return self._ops.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._ops))

    def __len__(self) -> int:
        return len(self._ops)
