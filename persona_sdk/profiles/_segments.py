"""Segments: named conditions over traits, computed traits and request attributes.

Each segment remembers the attributes its condition reads (noted by the condition compiler),
and the segments are indexed by them: an event that changed ``views_7d`` re-evaluates only the
segments reading ``views_7d`` (``affected``). Segments whose result can change with time alone
(a relative-time operator, or a trait that decays or slides with time) are listed in
``timed``, re-checked when the visitor is next seen and by the sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._log import errors as _log_errors

if TYPE_CHECKING:
    from ..config import Container
    from ..rules import OperatorRegistry

__all__ = ["Segments"]


_NONE: frozenset[str] = frozenset()
#: computed-trait kinds whose value is a timestamp (relative-time operators may read them)
_TIMESTAMP_KINDS = frozenset({"first_seen", "last_seen", "first", "last", "min", "max"})
#: computed-trait kinds whose value moves with time alone (segments reading them are timed)
_MOVING_KINDS = frozenset({"lifecycle", "rfm", "affinity"})


class Segments:
    """The container's segments, compiled once and indexed by what they read.

    Usage::

        segments = Segments.build(container)
        segments.evaluate({"plan": "pro", "views_7d": 4, "country": "FR"})
        # frozenset({"engaged-pros"})

    Conditions use the same language as features and tags (``persona_sdk.rules``), plus the
    relative-time operators ``$olderThan``, ``$withinLast`` and ``$anniversaryOf``. A
    condition that raises while evaluating counts as not matching; it is counted
    (``failures``) and logged once per segment.
    """

    __slots__ = (
        "_by_root",
        "_compiled",
        "_unindexed",
        "descriptions",
        "failures",
        "reads",
        "timed",
    )

    def __init__(
        self,
        compiled: tuple[tuple[str, Callable[[Mapping[str, Any]], bool]], ...],
        descriptions: Mapping[str, str] | None = None,
        *,
        reads: Iterable[frozenset[str] | None] | None = None,
        timed: Collection[str] = (),
    ) -> None:
        self._compiled = compiled
        self.descriptions: Mapping[str, str] = dict(descriptions or {})
        #: per segment, the first step of every attribute path it reads (None: unknown)
        self.reads: tuple[frozenset[str] | None, ...] = (
            tuple(reads) if reads is not None else (None,) * len(compiled)
        )
        by_root: dict[str, list[int]] = {}
        unindexed: list[int] = []
        for i, roots in enumerate(self.reads):
            if roots is None:
                unindexed.append(i)
            else:
                for root in roots:
                    by_root.setdefault(root, []).append(i)
        self._by_root = {k: tuple(v) for k, v in by_root.items()}
        self._unindexed = tuple(unindexed)
        #: the positions of the segments that can change with time alone
        self.timed: tuple[int, ...] = tuple(
            i for i, (name, _) in enumerate(compiled) if name in timed
        )
        #: evaluations whose condition raised (counted as not a member)
        self.failures = 0

    @classmethod
    def build(
        cls,
        container: Container,
        operators: OperatorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> Segments:
        """Compile ``container.segments``; ``ConfigError`` lists every bad condition with its
        path (``segments.vip.condition.plan: unknown operator "$foo"``), and every
        relative-time test of an attribute that is not a known timestamp trait."""
        from ..rules import TIME_OPERATORS, Reads, compile_condition, time_registry

        registry = time_registry(clock, operators) if container.segments else operators
        computed = container.computed_traits
        timestamps = {n for n, c in computed.items() if c.kind.value in _TIMESTAMP_KINDS}
        timestamps.update(container.profiles.time_traits)
        moving = {
            n for n, c in computed.items() if c.window is not None or c.kind.value in _MOVING_KINDS
        }
        compiled = []
        reads: list[frozenset[str] | None] = []
        timed: set[str] = set()
        errors: list[str] = []
        for name, seg in container.segments.items():
            noted = Reads()
            try:
                fn = compile_condition(
                    seg.condition,
                    path=f"segments.{name}.condition",
                    saved_groups=container.saved_groups,
                    operators=registry,
                    reads=noted,
                )
            except ConfigError as exc:
                errors.extend(exc.errors)
                continue
            for read in noted.using(TIME_OPERATORS):
                if read.key not in timestamps:
                    ops = ", ".join(sorted(read.operators & TIME_OPERATORS))
                    errors.append(
                        f"{read.path}: unknown trait {read.key!r} for {ops} (name a computed "
                        "trait holding a timestamp, or list it in profiles.time_traits)"
                    )
            roots = noted.roots
            if noted.using(TIME_OPERATORS) or roots & moving:
                timed.add(name)
            compiled.append((name, fn))
            # a condition without attribute tests (``{}``, or only plugin logic) reads nothing
            # an event can change: it is evaluated on first sight and never again
            reads.append(roots)
        if errors:
            raise ConfigError(errors)
        descriptions = {name: seg.description for name, seg in container.segments.items()}
        return cls(tuple(compiled), descriptions, reads=reads, timed=timed)

    @property
    def names(self) -> tuple[str, ...]:
        """Every segment's name, in container order."""
        return tuple(name for name, _ in self._compiled)

    def evaluate(self, attributes: Mapping[str, Any]) -> frozenset[str]:
        """The names of the segments whose condition ``attributes`` meet."""
        if not self._compiled:
            return _NONE
        test = self._test
        members = [name for name, cond in self._compiled if test(name, cond, attributes)]
        return frozenset(members) if members else _NONE

    def of_visitor(
        self,
        attributes: Mapping[str, Any],
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> frozenset[str]:
        """``evaluate``: a bare ``Segments`` keeps no membership per visitor (the ids are
        for ``ProfileResolver.visitor_segments``, which does)."""
        return self.evaluate(attributes)

    def affected(self, keys: Iterable[str]) -> set[int]:
        """The positions of the segments that read one of ``keys`` (attribute names, or
        dotted paths: their first step counts), plus those whose reads are unknown."""
        out = set(self._unindexed)
        by_root = self._by_root
        for key in keys:
            found = by_root.get(key)
            if found is None and "." in key:
                found = by_root.get(key.split(".", 1)[0])
            if found:
                out.update(found)
        return out

    def recheck(
        self,
        attributes: Mapping[str, Any],
        members: set[str],
        positions: Iterable[int],
        entered: list[str],
        exited: list[str],
    ) -> None:
        """Evaluate the segments at ``positions`` again on ``attributes``: ``members`` is
        updated in place, the names that joined or left appended to ``entered``/``exited``."""
        compiled = self._compiled
        for i in positions:
            name, condition = compiled[i]
            try:
                hit = condition(attributes)
            except Exception as exc:
                hit = self._failed(name, exc)
            if hit:
                if name not in members:
                    members.add(name)
                    entered.append(name)
            elif name in members:
                members.discard(name)
                exited.append(name)

    def _test(
        self, name: str, condition: Callable[[Mapping[str, Any]], bool], attrs: Mapping[str, Any]
    ) -> bool:
        try:
            return bool(condition(attrs))
        except Exception as exc:
            return self._failed(name, exc)

    def _failed(self, name: str, exc: Exception) -> bool:
        # a hostile or odd attribute value must not break the request: counted, logged once
        # per segment, not a member
        self.failures += 1
        _log_errors(f"segment:{name}",
                    f"segment {name!r}: its condition raised ({type(exc).__name__}: {exc}); "
                    "counted as not a member", exc)
        return False

    def __len__(self) -> int:
        return len(self._compiled)
