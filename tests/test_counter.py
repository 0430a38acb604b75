"""The lock-free counter behind per-tag misses and profile cache hits counts exactly."""

from __future__ import annotations

import threading
import warnings

from persona_sdk._speed import Counter


def test_value_counts_bumps_and_reading_does_not_change_it() -> None:
    """`value` is the number of `bump()` calls, however often it is read in between."""
    c = Counter()
    assert c.value == 0
    assert c.value == 0
    for expected in range(1, 6):
        c.bump()
        assert c.value == expected
        assert c.value == expected


def test_reading_uses_no_deprecated_introspection() -> None:
    """Reading the counter raises no DeprecationWarning on any supported Python (3.12
    deprecated `itertools.count.__reduce__`, which the old reader used)."""
    c = Counter()
    c.bump()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert c.value == 1


def test_concurrent_bumps_and_reads_lose_nothing() -> None:
    """Bumps from 4 threads while 2 others keep reading add up exactly."""
    c = Counter()
    per_thread = 20_000
    stop = threading.Event()
    seen: list[int] = []

    def bump() -> None:
        for _ in range(per_thread):
            c.bump()

    def read() -> None:
        last = 0
        while not stop.is_set():
            v = c.value
            assert v >= last  # never goes backwards
            last = v
        seen.append(last)

    readers = [threading.Thread(target=read) for _ in range(2)]
    bumpers = [threading.Thread(target=bump) for _ in range(4)]
    for t in readers + bumpers:
        t.start()
    for t in bumpers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert c.value == 4 * per_thread
    assert all(v <= 4 * per_thread for v in seen)
