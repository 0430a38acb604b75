"""``LogOnce``: every counted error is logged, without logging per call.

The first error of each kind is logged with what happened (and its traceback, when there is
one); later ones of that kind are only counted, and reported as one summary line at most every
``every`` seconds (when the next one comes) or at ``report()`` (close). Error paths call it;
hot paths never log per call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["LogOnce"]

#: Distinct kinds remembered; beyond that, new kinds share one entry (bounded memory even if
#: kinds were built from unbounded input).
_MAX_KINDS = 1024


class _Kind:
    __slots__ = ("logged_at", "message", "unreported")

    def __init__(self, message: str, now: float) -> None:
        self.message = message
        self.logged_at = now
        self.unreported = 0


class LogOnce:
    """Rate-limited logging of counted errors, one entry per kind.

    Usage::

        errors = LogOnce(logging.getLogger("persona_sdk.delivery"))
        try:
            ...
        except Exception as exc:
            errors("render_error:warehouse", "destination 'warehouse': render failed", exc)
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.every = every
        self.clock = clock
        self._kinds: dict[str, _Kind] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        kind: str,
        message: str,
        exc: BaseException | None = None,
        *,
        level: int = logging.ERROR,
    ) -> None:
        """Note one error of ``kind``: log it if it is the first of its kind (with the
        traceback of ``exc``), or if a summary of that kind is due; else only count it."""
        now = self.clock()
        with self._lock:
            entry = self._kinds.get(kind)
            if entry is None and len(self._kinds) >= _MAX_KINDS:
                kind = "other"
                entry = self._kinds.get(kind)
            if entry is None:
                self._kinds[kind] = _Kind(message, now)
                summary = None
            else:
                entry.unreported += 1
                entry.message = message
                if now - entry.logged_at < self.every:
                    return
                summary = self._summary(entry, now)
        if summary is None:
            exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
            self.logger.log(level, "persona-sdk: %s", message, exc_info=exc_info)
        else:
            self.logger.log(level, "persona-sdk: %s", summary)

    def _summary(self, entry: _Kind, now: float) -> str:
        # caller holds the lock
        n, entry.unreported, entry.logged_at = entry.unreported, 0, now
        return f"{entry.message} ({n} more of this kind since it was last logged)"

    def report(self) -> None:
        """Log the counts not reported yet (at close), one line per kind."""
        now = self.clock()
        with self._lock:
            lines = [self._summary(e, now) for e in self._kinds.values() if e.unreported]
        for line in lines:
            self.logger.error("persona-sdk: %s", line)

    def last(self, kind: str) -> str:
        """The last message noted for ``kind`` (``""`` when none)."""
        entry = self._kinds.get(kind)
        return entry.message if entry is not None else ""
