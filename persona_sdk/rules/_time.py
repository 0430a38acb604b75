"""Relative-time operators: a timestamp attribute compared with "now" from an injected clock.

``{"last_seen": {"$olderThan": "30d"}}``, ``{"last_order": {"$withinLast": 86400}}``,
``{"signed_up": {"$anniversaryOf": true}}``. A timestamp is epoch seconds (a number; numbers
above 10^11 are read as milliseconds), an ISO-8601 string or a ``datetime``; anything else
makes the test fail. Durations are seconds, or a string of a number and a unit: ``s``,
``m``, ``h``, ``d``, ``w`` (``"90m"``, ``"30d"``).

These operators give a result that changes with time alone; segments using them are re-checked
when the visitor is next seen and by the periodic sweep (``docs/segments.md``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable
from typing import Any

from persona_sdk._errors import ConfigError
from persona_sdk.rules._registry import OperatorRegistry, default_registry

__all__ = ["TIME_OPERATORS", "TimeOperator", "parse_duration", "time_registry", "to_epoch"]

#: The relative-time operator names.
TIME_OPERATORS: frozenset[str] = frozenset({"$olderThan", "$withinLast", "$anniversaryOf"})

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*\Z")
_MS_ABOVE = 1e11  # epoch seconds reach 1e11 in the year 5138; larger numbers are milliseconds


def parse_duration(value: Any, path: str) -> float:
    """Seconds from a number or ``"30d"``-style string; ``ConfigError`` naming ``path``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ConfigError(
        f"{path}: expected a duration (seconds, or a number and a unit s/m/h/d/w such as "
        f"'30d'), got {value!r}"
    )


def to_epoch(value: Any) -> float | None:
    """Epoch seconds from a timestamp attribute, or None when it is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        if not math.isfinite(v):
            return None
        return v / 1000.0 if abs(v) >= _MS_ABOVE else v
    if isinstance(value, dt.datetime):
        d = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return d.timestamp()
    if isinstance(value, str) and 8 <= len(value) <= 40:
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            d = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if d.tzinfo is None:
            d = d.replace(tzinfo=dt.timezone.utc)
        return d.timestamp()
    return None


def _anniversary(ts: float, now: float, window: float) -> bool:
    # True when a later anniversary (same month and day, UTC) of ts falls in [today, today +
    # window]; Feb 29 is celebrated on Feb 28 in other years.
    born = dt.datetime.fromtimestamp(ts, dt.timezone.utc).date()
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    last = dt.datetime.fromtimestamp(now + window, dt.timezone.utc).date()
    for year in range(today.year, last.year + 1):
        day = born.day
        if born.month == 2 and day == 29 and not _leap(year):
            day = 28
        date = dt.date(year, born.month, day)
        if year > born.year and today <= date <= last:
            return True
    return False


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class TimeOperator:
    """One relative-time operator bound to a clock (an ``Operator`` plugin).

    Usage::

        registry = time_registry(clock=lambda: 1_700_000_000.0)
        lapsed = compile_condition({"last_seen": {"$olderThan": "30d"}}, operators=registry)
    """

    __slots__ = ("clock", "name")

    def __init__(self, name: str, clock: Callable[[], float]) -> None:
        if name not in TIME_OPERATORS:
            raise ValueError(f"not a time operator: {name}")
        self.name = name
        self.clock = clock

    def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
        """A predicate over a timestamp attribute value."""
        clock = self.clock
        if self.name == "$anniversaryOf":
            window = 0.0 if operand is True else parse_duration(operand, path)

            def anniversary(value: Any) -> bool:
                ts = to_epoch(value)
                return ts is not None and _anniversary(ts, clock(), window)

            return anniversary
        span = parse_duration(operand, path)
        if self.name == "$olderThan":

            def older_than(value: Any) -> bool:
                ts = to_epoch(value)
                return ts is not None and clock() - ts > span

            return older_than

        def within_last(value: Any) -> bool:
            ts = to_epoch(value)
            return ts is not None and 0.0 <= clock() - ts <= span

        return within_last

    def __repr__(self) -> str:
        return f"TimeOperator({self.name!r})"


def time_registry(
    clock: Callable[[], float] = time.time, base: OperatorRegistry | None = None
) -> OperatorRegistry:
    """A registry with ``base``'s operators (default: the installed plugins) and the
    relative-time operators reading ``clock``."""
    registry = OperatorRegistry()
    source = base if base is not None else default_registry()
    for name in source:
        op = source.get(name)
        if op is not None and name not in TIME_OPERATORS:
            registry.register(op)
    for name in sorted(TIME_OPERATORS):
        registry.register(TimeOperator(name, clock))
    return registry
