"""Shared fixtures: loopback HTTP sinks (see ``tests/servers/sink.py`` for their API).

- ``sink``: a fresh recording ``Sink`` per test (``sink.url``, ``sink.requests``,
  ``sink.events()``, ``sink.wait_for(...)``, ``sink.reply_with(Reply(status=503))``, ...).
- ``sink_factory``: call it for more sinks in one test; all are closed at teardown.
- ``Reply`` is importable as ``from servers.sink import Reply``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from servers.sink import Reply, Request, Sink

__all__ = ["Reply", "Request", "Sink"]


@pytest.fixture
def sink_factory() -> Iterator[Callable[[], Sink]]:
    """Make loopback sinks on free ports; each is closed (hung requests released) at teardown."""
    made: list[Sink] = []

    def make() -> Sink:
        s = Sink()
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def sink(sink_factory: Callable[[], Sink]) -> Sink:
    """A fresh recording HTTP sink on 127.0.0.1 (answers 200 ``{"success":true}`` by default)."""
    return sink_factory()
