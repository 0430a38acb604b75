"""Computed-trait kinds for lifecycle and timing: RFM, lifecycle stage, affinity, best hour.

Each kind is a small mergeable summary like the basic kinds in ``_computed`` (a visitor's
anonymous history joins their user profile; other processes' states merge in from the L2
store), with a JSON-friendly wire form:

- ``rfm``: first and last event time, count and monetary sum → ``{"recency_days",
  "frequency", "monetary"}`` at read time;
- ``lifecycle``: first and last activity and the last return after a lapse → ``new``,
  ``active``, ``at_risk``, ``lapsed`` or ``reactivated`` at read time (it changes with time
  alone; transitions go out as ``Lifecycle Stage Changed`` events);
- ``affinity``: a score per property value (a category, a brand), each event adding its
  weight and every score halving each ``half_life`` → ``{value: score}``, highest first,
  at most ``limit`` values;
- ``best_hour``: a count per hour of the day in the visitor's own timezone
  (``context.timezone``, else UTC) → the hour with the most activity.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..events import Message

if TYPE_CHECKING:
    from ..config import ComputedTraitConfig

__all__ = ["KINDS", "LIFECYCLE_STAGES", "Kind"]

DAY = 86_400.0
#: the lifecycle stages, in the order a visitor usually meets them
LIFECYCLE_STAGES = ("new", "active", "at_risk", "lapsed", "reactivated")


class Kind:
    """How one kind of computed trait updates, reads, merges and travels."""

    def __init__(self, cfg: ComputedTraitConfig, path: tuple[str, ...]) -> None:
        self.cfg = cfg
        self.path = path

    def update(self, state: Any, msg: Message) -> Any:
        """The state after ``msg``."""
        raise NotImplementedError

    def read(self, state: Any, now: float) -> Any:
        """The trait's value at ``now``."""
        raise NotImplementedError

    def merge(self, a: Any, b: Any) -> Any:
        """A new state summarizing both (neither None)."""
        raise NotImplementedError

    def copy(self, state: Any) -> Any:
        """A copy safe to change."""
        return list(state) if isinstance(state, list) else dict(state)

    def to_wire(self, state: Any) -> Any:
        """A JSON-friendly form of the state."""
        return state

    def from_wire(self, wire: Any) -> Any:
        """The state back from ``to_wire``; raises TypeError/ValueError when it does not fit."""
        raise NotImplementedError


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


class Rfm(Kind):
    """Recency, frequency, monetary value of the matching events (``[first, last, n, sum]``)."""

    def update(self, state: Any, msg: Message) -> Any:
        ts = msg.timestamp
        amount = _number(_dig(msg.properties, self.path or ("revenue",))) or 0.0
        if state is None:
            return [ts, ts, 1, amount]
        state[0] = min(state[0], ts)
        state[1] = max(state[1], ts)
        state[2] += 1
        state[3] += amount
        return state

    def read(self, state: Any, now: float) -> Any:
        return {
            "recency_days": round(max(0.0, now - state[1]) / DAY, 2),
            "frequency": state[2],
            "monetary": round(state[3], 2),
        }

    def merge(self, a: Any, b: Any) -> Any:
        return [min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2], a[3] + b[3]]

    def from_wire(self, wire: Any) -> Any:
        first, last, n, total = wire
        return [float(first), float(last), int(n), float(total)]


class Lifecycle(Kind):
    """The lifecycle stage from ``[first, last, returned_at]`` activity times."""

    def update(self, state: Any, msg: Message) -> Any:
        ts = msg.timestamp
        if state is None:
            return [ts, ts, None]
        if ts - state[1] >= self.cfg.lapsed_after:
            state[2] = ts  # back after a lapse
        state[0] = min(state[0], ts)
        state[1] = max(state[1], ts)
        return state

    def read(self, state: Any, now: float) -> Any:
        cfg = self.cfg
        first, last, returned = state
        idle = now - last
        if idle >= cfg.lapsed_after:
            return "lapsed"
        if idle >= cfg.active_for:
            return "at_risk"
        if returned is not None and now - returned < cfg.active_for:
            return "reactivated"
        if now - first < cfg.new_for:
            return "new"
        return "active"

    def merge(self, a: Any, b: Any) -> Any:
        return [min(a[0], b[0]), max(a[1], b[1]), _max(a[2], b[2])]

    def from_wire(self, wire: Any) -> Any:
        first, last, returned = wire
        return [float(first), float(last), None if returned is None else float(returned)]


class Affinity(Kind):
    """A decaying score per property value: ``{value: [score, at]}``."""

    def _decay(self, score: float, since: float) -> float:
        half = self.cfg.half_life
        return score if not half or since <= 0 else score * 0.5 ** (since / half)

    def update(self, state: Any, msg: Message) -> Any:
        weights = self.cfg.weights
        if weights:
            weight = weights.get(msg.event or msg.type)
            if weight is None:
                return state
        else:
            weight = 1.0
        values = _values(msg.properties or {}, self.path)
        if not values:
            return state
        scores: dict[Any, list[float]] = {} if state is None else state
        ts = msg.timestamp
        for value in values:
            found = scores.get(value)
            if found is None:
                scores[value] = [float(weight), ts]
            else:
                at = max(found[1], ts)
                found[0] = self._decay(found[0], at - found[1]) + weight * (
                    1.0 if ts >= found[1] else self._decay(1.0, found[1] - ts)
                )
                found[1] = at
        if len(scores) > self.cfg.limit:
            now = max(v[1] for v in scores.values())
            keep = sorted(scores, key=lambda k: -self._decay(scores[k][0], now - scores[k][1]))
            for k in keep[self.cfg.limit :]:
                del scores[k]
        return scores

    def read(self, state: Any, now: float) -> Any:
        decayed = {k: round(self._decay(s, now - at), 4) for k, (s, at) in state.items()}
        return dict(sorted(decayed.items(), key=lambda kv: (-kv[1], str(kv[0]))))

    def merge(self, a: Any, b: Any) -> Any:
        out = {k: list(v) for k, v in a.items()}
        for k, (s, at) in b.items():
            mine = out.get(k)
            if mine is None:
                out[k] = [s, at]
            else:
                latest = max(mine[1], at)
                out[k] = [
                    self._decay(mine[0], latest - mine[1]) + self._decay(s, latest - at),
                    latest,
                ]
        return out

    def copy(self, state: Any) -> Any:
        return {k: list(v) for k, v in state.items()}

    def to_wire(self, state: Any) -> Any:
        return [[k, s, at] for k, (s, at) in state.items()]

    def from_wire(self, wire: Any) -> Any:
        return {k: [float(s), float(at)] for k, s, at in wire[: self.cfg.limit]}


class BestHour(Kind):
    """Activity counts per local hour of the day (24 integers)."""

    def update(self, state: Any, msg: Message) -> Any:
        counts: list[int] = [0] * 24 if state is None else state
        counts[_local_hour(msg)] += 1
        return counts

    def read(self, state: Any, now: float) -> Any:
        best = max(range(24), key=lambda h: (state[h], -h))
        return best if state[best] else None

    def merge(self, a: Any, b: Any) -> Any:
        return [x + y for x, y in zip(a, b, strict=True)]

    def from_wire(self, wire: Any) -> Any:
        if len(wire) != 24:
            raise ValueError("24 hours expected")
        return [int(x) for x in wire]


def _dig(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _values(props: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    # the property of the event, else of each of its products (Segment's e-commerce spec)
    direct = _dig(props, path)
    if isinstance(direct, (str, int)) and not isinstance(direct, bool):
        return [direct]
    products = props.get("products")
    out: list[Any] = []
    if isinstance(products, list):
        for item in products[:50]:
            v = _dig(item, path)
            if isinstance(v, (str, int)) and not isinstance(v, bool) and v not in out:
                out.append(v)
    return out


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return dt.timezone.utc


def _local_hour(msg: Message) -> int:
    tz_name = msg.context.get("timezone") if msg.context else None
    tz = _zone(tz_name) if isinstance(tz_name, str) and 0 < len(tz_name) < 64 else dt.timezone.utc
    try:
        return dt.datetime.fromtimestamp(msg.timestamp, tz).hour
    except (OverflowError, OSError, ValueError):
        return 0


#: kind name → implementation class
KINDS: dict[str, type[Kind]] = {
    "rfm": Rfm,
    "lifecycle": Lifecycle,
    "affinity": Affinity,
    "best_hour": BestHour,
}
