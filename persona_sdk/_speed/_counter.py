"""``Counter``: hot paths bump it without a lock; ``stats()`` reads it exactly (see the
package docstring)."""

from __future__ import annotations

import itertools
import threading

__all__ = ["Counter"]


class Counter:
    """Counts events from any thread; ``bump()`` takes no lock.

    ``bump`` is ``itertools.count.__next__``, one C call that the GIL makes atomic, so
    concurrent bumps are never lost (``n += 1`` on an attribute can lose them). Reading is
    done the same way instead of by introspecting the iterator (``__reduce__`` is deprecated
    since Python 3.12 and the ``repr`` format is not an API): ``value`` takes the next number
    too and subtracts the numbers that earlier reads took. Reads are rare (``stats()``), so
    they serialize on a lock among themselves; bumps never wait for it.
    """

    __slots__ = ("_count", "_lock", "_reads", "bump")

    def __init__(self) -> None:
        self._count = itertools.count()
        self._reads = 0
        self._lock = threading.Lock()
        #: add one (the fast path: a bound C method, no Python frame)
        self.bump = self._count.__next__

    @property
    def value(self) -> int:
        """How many times ``bump()`` has been called."""
        with self._lock:
            taken = next(self._count)  # == bumps + earlier reads
            value = taken - self._reads
            self._reads += 1
        return value
