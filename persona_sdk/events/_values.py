"""What a call may pass as an event's values: finite numbers, and timestamps Segment takes.

JSON has no NaN or ±Infinity (an encoder writes ``null``, a Segment endpoint refuses them),
and ``timestamp`` is epoch seconds, a ``datetime`` or an ISO 8601 string. Both are checked on
the caller's thread, so the call raises instead of returning an id for an event that every
destination would then refuse.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import msgspec

from .._errors import EventValidationError

__all__ = ["EPOCH_RANGE", "check_finite", "has_nonfinite", "out_of_range", "to_epoch"]

_NOT_JSON = "NaN and ±Infinity are not valid JSON numbers"

#: The epoch seconds an event's time may take: what renders as an ISO 8601 time with a
#: four-digit year, 0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.998Z (the last
#: millisecond left out: rounded to the microsecond, its end would be year 10000).
EPOCH_RANGE = (
    datetime(1, 1, 1, tzinfo=timezone.utc).timestamp(),
    datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc).timestamp(),
)


def out_of_range(field: str, ts: float) -> EventValidationError:
    """The error for a time outside ``EPOCH_RANGE``: refused where the event enters, not
    accepted and then lost when it is rendered for a destination."""
    return EventValidationError(
        field,
        f"{repr(ts)[:40]} is outside years 1 to 9999 (an ISO 8601 time has a four-digit year)",
    )


def has_nonfinite(values: dict[str, Any]) -> bool:
    """Whether a NaN or an infinity sits anywhere in ``values`` (nested dicts and lists too).

    The hot path's check: one type test per value. ``v - v`` is ``0.0`` for every finite
    float and NaN for NaN and both infinities.
    """
    return _any_nonfinite(values.values())


def _any_nonfinite(values: Iterable[Any]) -> bool:
    # one walk serves dict values and list/tuple items alike
    for v in values:
        t = v.__class__
        if t is float:
            if v - v != 0.0:
                return True
        elif t is dict:
            if v and _any_nonfinite(v.values()):
                return True
        elif (t is list or t is tuple) and v and _any_nonfinite(v):
            return True
    return False


def _where(value: Any, path: str) -> str | None:
    # the slow walk, only once a bad value is known to be there: its path, for the error
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _where(v, f"{path}.{k}")
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _where(v, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def check_finite(values: dict[str, Any] | None, field: str) -> None:
    """Raise ``EventValidationError`` naming the path (``properties.cart[2].price``) of the
    first NaN or infinity in ``values``."""
    if values and has_nonfinite(values):
        raise EventValidationError(_where(values, field) or field, _NOT_JSON)


def to_epoch(value: Any, field: str = "timestamp") -> float:
    """A call's ``timestamp`` as epoch seconds.

    Takes epoch seconds (``int`` or ``float``), a ``datetime`` (a naive one is read as UTC,
    never as local time) or an ISO 8601 / RFC 3339 string (``"2026-12-04T10:00:00Z"``; without
    an offset, UTC), within years 1 to 9999 (``EPOCH_RANGE``). Anything else raises
    ``EventValidationError``.
    """
    cls = value.__class__
    ts: float
    if cls is float or cls is int:
        if value - value != 0:
            raise EventValidationError(field, _NOT_JSON)
        ts = value  # compared before float(): a huge int would overflow it
    elif isinstance(value, datetime):
        ts = _epoch(value)
    elif isinstance(value, str):
        try:
            ts = _epoch(msgspec.convert(value, datetime))
        except msgspec.ValidationError:
            raise EventValidationError(
                field, f"{value[:64]!r} is not an ISO 8601 timestamp"
            ) from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return to_epoch(float(value), field)  # int and float subclasses (numpy scalars)
    else:
        raise EventValidationError(
            field,
            f"expected a datetime, an ISO 8601 string or epoch seconds, got {cls.__name__}",
        )
    if not EPOCH_RANGE[0] <= ts < EPOCH_RANGE[1]:
        raise out_of_range(field, ts)
    return float(ts)


def _epoch(dt: datetime) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
