"""Real-time computed traits: updated from the visitor's own events, read by the next decision.

Each declared trait keeps a small state per visitor. Windowed counts and sums keep
``BUCKETS`` time buckets, so memory stays bounded whatever the event rate (the window's left
edge is exact to one bucket, ``window / BUCKETS``); distinct values keep at most ``limit``
values. States merge (a visitor's anonymous history joining their user profile, or other
processes' contributions read from the L2 store), so every kind is a small mergeable summary:
counts and sums add, min/max/first/last/seen keep their extreme, distinct values unite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..config import ComputedKind, ComputedTraitConfig
from ..events import Message
from ._attribution import Attribution
from ._computed_kinds import KINDS, Kind

__all__ = ["BUCKETS", "ComputedTraits", "TraitSpec", "VisitorState"]

BUCKETS = 60
MAX_LOCAL_TRAITS = 256

_ADDITIVE = (ComputedKind.COUNT, ComputedKind.SUM)
_KINDS: dict[str, type[Kind]] = {**KINDS, "attribution": Attribution}
_MESSAGE_TYPES = ("track", "page", "screen")


class TraitSpec:
    """One compiled ``computed_traits`` entry."""

    __slots__ = ("event", "impl", "kind", "limit", "name", "path", "type", "width", "window")

    def __init__(self, name: str, cfg: ComputedTraitConfig) -> None:
        self.name = name
        self.kind = cfg.kind
        self.event = cfg.event
        self.type = cfg.type
        self.path: tuple[str, ...] = tuple(cfg.property.split(".")) if cfg.property else ()
        self.window = cfg.window
        self.width = cfg.window / BUCKETS if cfg.window else 0.0
        self.limit = cfg.limit
        made = _KINDS.get(cfg.kind.value)
        #: the lifecycle/timing kinds (``_computed_kinds``); None for the basic ones
        self.impl: Kind | None = made(cfg, self.path) if made is not None else None

    def value_of(self, msg: Message) -> Any:
        """The property this trait reads, or None."""
        node: Any = msg.properties
        for key in self.path:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    # -- state: update, read, merge, wire ------------------------------------------------

    def update(self, state: Any, msg: Message) -> Any:
        """The state after ``msg`` (a new object or ``state`` changed in place)."""
        if self.impl is not None:
            return self.impl.update(state, msg)
        kind = self.kind
        ts = msg.timestamp
        if kind is ComputedKind.FIRST_SEEN:
            return ts if state is None or ts < state else state
        if kind is ComputedKind.LAST_SEEN:
            return ts if state is None or ts > state else state
        if kind is ComputedKind.COUNT:
            amount: Any = 1
        else:
            amount = self.value_of(msg)
            if amount is None:
                return state
        if kind in _ADDITIVE:
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                return state
            if not self.width:
                return amount if state is None else state + amount
            buckets: dict[int, Any] = {} if state is None else state
            idx = math.floor(ts / self.width)
            buckets[idx] = buckets.get(idx, 0) + amount
            if len(buckets) > BUCKETS + 1:
                for old in sorted(buckets)[: len(buckets) - BUCKETS - 1]:
                    del buckets[old]
            return buckets
        if kind is ComputedKind.DISTINCT:
            if not isinstance(amount, (str, int, float, bool)):
                return state
            values: dict[Any, None] = {} if state is None else state
            if amount not in values and len(values) < self.limit:
                values[amount] = None
            return values
        if kind in (ComputedKind.MIN, ComputedKind.MAX):
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                return state
            if state is None:
                return amount
            return min(state, amount) if kind is ComputedKind.MIN else max(state, amount)
        # FIRST / LAST: (timestamp, value)
        if state is None:
            return (ts, amount)
        if kind is ComputedKind.FIRST:
            return (ts, amount) if ts < state[0] else state
        return (ts, amount) if ts >= state[0] else state

    def read(self, state: Any, now: float) -> Any:
        """The trait's value at ``now``."""
        if self.impl is not None:
            return self.impl.read(state, now)
        kind = self.kind
        if kind in _ADDITIVE and self.width:
            cutoff = math.floor((now - self.window) / self.width)  # type: ignore[operator]
            return sum(v for idx, v in state.items() if idx > cutoff)
        if kind is ComputedKind.DISTINCT:
            return list(state)
        if kind in (ComputedKind.FIRST, ComputedKind.LAST):
            return state[1]
        return state

    def merge(self, a: Any, b: Any) -> Any:
        """A new state summarizing both (neither is changed)."""
        if a is None:
            return self.copy(b)
        if b is None:
            return self.copy(a)
        if self.impl is not None:
            return self.impl.merge(a, b)
        kind = self.kind
        if kind in _ADDITIVE:
            if not self.width:
                return a + b
            out = dict(a)
            for idx, v in b.items():
                out[idx] = out.get(idx, 0) + v
            return out
        if kind is ComputedKind.DISTINCT:
            values = dict(a)
            for v in b:
                if len(values) >= self.limit:
                    break
                values.setdefault(v, None)
            return values
        if kind in (ComputedKind.MIN, ComputedKind.FIRST_SEEN):
            return min(a, b)
        if kind in (ComputedKind.MAX, ComputedKind.LAST_SEEN):
            return max(a, b)
        if kind is ComputedKind.FIRST:
            return a if a[0] <= b[0] else b
        return a if a[0] >= b[0] else b

    def copy(self, state: Any) -> Any:
        """A copy safe to change."""
        if self.impl is not None:
            return self.impl.copy(state)
        return dict(state) if isinstance(state, dict) else state

    def to_wire(self, state: Any) -> Any:
        """A JSON-friendly form of the state."""
        if self.impl is not None:
            return self.impl.to_wire(state)
        if self.kind in _ADDITIVE and self.width:
            return [[idx, v] for idx, v in state.items()]
        if self.kind is ComputedKind.DISTINCT:
            return list(state)
        if isinstance(state, tuple):
            return list(state)
        return state

    def from_wire(self, wire: Any) -> Any:
        """The state back from ``to_wire`` (None when it does not fit this trait any more)."""
        try:
            if self.impl is not None:
                return self.impl.from_wire(wire)
            if self.kind in _ADDITIVE and self.width:
                return {int(idx): v for idx, v in wire}
            if self.kind is ComputedKind.DISTINCT:
                return dict.fromkeys(wire[: self.limit])
            if self.kind in (ComputedKind.FIRST, ComputedKind.LAST):
                return (float(wire[0]), wire[1])
            if isinstance(wire, (int, float)) and not isinstance(wire, bool):
                return wire
        except (TypeError, ValueError, IndexError):
            pass
        return None


class ComputedTraits:
    """The container's computed traits, indexed by the events that feed them."""

    def __init__(self, specs: tuple[TraitSpec, ...]) -> None:
        self.specs = specs
        self.by_name = {s.name: s for s in specs}
        by_event: dict[str, list[TraitSpec]] = {}
        by_type: dict[str, list[TraitSpec]] = {t: [] for t in _MESSAGE_TYPES}
        for s in specs:
            if s.event is not None:
                if s.type in (None, "track"):
                    by_event.setdefault(s.event, []).append(s)
            else:
                for t in _MESSAGE_TYPES:
                    if s.type in (None, t):
                        by_type[t].append(s)
        self._by_event = {k: tuple(v) for k, v in by_event.items()}
        self._by_type = {k: tuple(v) for k, v in by_type.items()}
        #: the message types some trait may learn from (the others need no look at all)
        self.fed_by: frozenset[str] = frozenset(
            [t for t, v in by_type.items() if v] + (["track"] if by_event else [])
        )

    @classmethod
    def compile(cls, traits: Mapping[str, ComputedTraitConfig]) -> ComputedTraits:
        """Compile the container's ``computed_traits``."""
        return cls(tuple(TraitSpec(name, cfg) for name, cfg in traits.items()))

    def matching(self, msg: Message) -> tuple[TraitSpec, ...]:
        """The traits ``msg`` updates (usually empty, cheaply)."""
        generic = self._by_type.get(msg.type)
        if generic is None:
            return ()
        if msg.type == "track" and msg.event is not None:
            named = self._by_event.get(msg.event)
            if named:
                return named + generic if generic else named
        return generic


class VisitorState:
    """What this process knows of one visitor from its own events."""

    __slots__ = ("computed", "peers", "traits")

    def __init__(self) -> None:
        self.traits: dict[str, Any] = {}  # from identify calls
        self.computed: dict[str, Any] = {}  # trait name -> state
        self.peers: dict[str, dict[str, Any]] | None = None  # other processes' states (L2)

    def observe(self, specs: tuple[TraitSpec, ...], msg: Message) -> None:
        """Update the states ``msg`` feeds."""
        computed = self.computed
        for spec in specs:
            computed[spec.name] = spec.update(computed.get(spec.name), msg)

    def add_traits(self, traits: Mapping[str, Any]) -> None:
        """Overlay identify traits (bounded)."""
        for k, v in traits.items():
            if k in self.traits or len(self.traits) < MAX_LOCAL_TRAITS:
                self.traits[k] = v

    def values(self, computed: ComputedTraits, now: float) -> dict[str, Any]:
        """The computed traits' values at ``now`` (own events plus peers')."""
        out: dict[str, Any] = {}
        peers = self.peers
        for spec in computed.specs:
            state = self.computed.get(spec.name)
            if peers:
                for other in peers.values():
                    if spec.name in other:
                        state = spec.merge(state, other[spec.name])
            if state is not None:
                out[spec.name] = spec.read(state, now)
        return out

    def absorb(self, other: VisitorState, computed: ComputedTraits) -> None:
        """Fold another visitor's state into this one (an anonymous id joining a user)."""
        for k, v in other.traits.items():
            self.traits.setdefault(k, v)
        for name, state in other.computed.items():
            spec = computed.by_name.get(name)
            if spec is not None:
                self.computed[name] = spec.merge(self.computed.get(name), state)

    def to_wire(self, computed: ComputedTraits) -> dict[str, Any]:
        """This process' own states, JSON-friendly, for the L2 store."""
        out = {}
        for name, state in self.computed.items():
            spec = computed.by_name.get(name)
            if spec is not None and state is not None:
                out[name] = spec.to_wire(state)
        return out

    def set_peers(self, wire: Mapping[str, Any], computed: ComputedTraits, own: str) -> None:
        """Replace other processes' states with what the L2 store holds (``own`` is this
        process' slot, skipped: its live state is newer)."""
        peers: dict[str, dict[str, Any]] = {}
        for slot, states in wire.items():
            if slot == own or not isinstance(states, dict):
                continue
            decoded = {}
            for name, w in states.items():
                spec = computed.by_name.get(name)
                if spec is not None:
                    state = spec.from_wire(w)
                    if state is not None:
                        decoded[name] = state
            if decoded:
                peers[slot] = decoded
        self.peers = peers or None
