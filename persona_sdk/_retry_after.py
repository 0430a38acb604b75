"""``Retry-After``: the one parser that delivery and the profile sources share, and the one
check of a delay a plugin hands over (``SendResult.retry_after``, ``FetchResult.retry_after``)."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_AFTER_CAP", "bounded_delay", "parse_retry_after"]

#: The longest wait a server's ``Retry-After`` can ask for (seconds). A larger (or
#: ``inf``) value is a server mistake or hostile: obeying it would stop delivery or remote
#: profiles for the life of the process.
RETRY_AFTER_CAP = 300.0


def parse_retry_after(
    value: str | None, now: float | None = None, *, cap: float = RETRY_AFTER_CAP
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds (``"7"``, ``"1.5"``) or
    an HTTP date (``Wed, 21 Oct 2015 07:28:00 GMT``, relative to ``now``, by default the
    wall clock).

    Returns a finite number in ``[0, cap]``, or ``None`` when the header is absent or not
    readable: negative, ``nan`` and ``inf`` are refused, not honoured.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = max(0.0, when - (time.time() if now is None else now))
    return bounded_delay(seconds, cap)


def bounded_delay(seconds: float | None, cap: float = RETRY_AFTER_CAP) -> float | None:
    """``seconds`` when it is a usable delay, at most ``cap``; ``None`` for ``None``,
    ``nan``, infinities and negative numbers (a plugin may hand over any float)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return float(min(seconds, cap))
