"""Segments: named conditions over traits, computed traits and request attributes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._log import errors as _log_errors

if TYPE_CHECKING:
    from ..config import Container
    from ..rules import OperatorRegistry

__all__ = ["Segments"]

_NONE: frozenset[str] = frozenset()


class Segments:
    """The container's segments, compiled once.

    Usage::

        segments = Segments.build(container)
        segments.evaluate({"plan": "pro", "views_7d": 4, "country": "FR"})
        # frozenset({"engaged-pros"})

    Conditions use the same language as features and tags (``persona_sdk.rules``); a
    condition that raises while evaluating counts as not matching.
    """

    __slots__ = ("_compiled", "descriptions", "errors")

    def __init__(
        self,
        compiled: tuple[tuple[str, Callable[[Mapping[str, Any]], bool]], ...],
        descriptions: Mapping[str, str] | None = None,
    ) -> None:
        self._compiled = compiled
        #: evaluations whose condition raised (counted as not a member)
        self.errors = 0
        self.descriptions: Mapping[str, str] = dict(descriptions or {})

    @classmethod
    def build(cls, container: Container, operators: OperatorRegistry | None = None) -> Segments:
        """Compile ``container.segments``; ``ConfigError`` lists every bad condition with its
        path (``segments.vip.condition.plan: unknown operator "$foo"``)."""
        from ..rules import compile_condition

        compiled = []
        errors: list[str] = []
        for name, seg in container.segments.items():
            try:
                fn = compile_condition(
                    seg.condition,
                    path=f"segments.{name}.condition",
                    saved_groups=container.saved_groups,
                    operators=operators,
                )
            except ConfigError as exc:
                errors.extend(exc.errors)
                continue
            compiled.append((name, fn))
        if errors:
            raise ConfigError(errors)
        descriptions = {name: seg.description for name, seg in container.segments.items()}
        return cls(tuple(compiled), descriptions)

    @property
    def names(self) -> tuple[str, ...]:
        """Every segment's name, in container order."""
        return tuple(name for name, _ in self._compiled)

    def evaluate(self, attributes: Mapping[str, Any]) -> frozenset[str]:
        """The names of the segments whose condition ``attributes`` meet."""
        if not self._compiled:
            return _NONE
        members = []
        for name, condition in self._compiled:
            try:
                if condition(attributes):
                    members.append(name)
            except Exception as exc:
                # a hostile or odd attribute value must not break the request: counted, and
                # logged once per segment
                self.errors += 1
                _log_errors(f"segment:{name}",
                            f"segment {name!r}: its condition raised ({type(exc).__name__}: "
                            f"{exc}); counted as not a member", exc)
                continue
        return frozenset(members) if members else _NONE

    def __len__(self) -> int:
        return len(self._compiled)
