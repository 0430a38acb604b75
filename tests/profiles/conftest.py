"""Fixtures for the profile tests.

- ``cdp``: a fresh fake CDP on loopback (``tests/servers/cdp.py``) with profile ``u-1``.
- ``clock``: an injectable clock (``clock.advance(seconds)``); nothing here sleeps.
- ``driver``: parametrized ``sync``/``async``: ``driver.resolve(resolver, **ids)`` calls
  ``resolve`` on this thread, or ``aresolve`` on an event loop in another thread;
  ``driver.start_many(resolver, n, **ids)`` starts n concurrent lookups (threads or tasks).
- ``make_resolver``: builds resolvers from container dicts and closes them at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from profile_helpers import Driver, FakeClock
from servers.cdp import CdpServer

from persona_sdk.config import Container
from persona_sdk.events import Message
from persona_sdk.profiles import ProfileResolver


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """Lookups from threads (``sync``) or from asyncio tasks (``async``)."""
    d = Driver(request.param)
    yield d
    d.close()


@pytest.fixture
def cdp() -> Iterator[CdpServer]:
    """A fake CDP with ``u-1`` (plan pro, ltv 120, email) in segment ``vip``."""
    with CdpServer() as server:
        server.add("u-1", {"plan": "pro", "ltv": 120, "email": "ann@example.com"}, ["vip"])
        yield server


@pytest.fixture
def clock() -> FakeClock:
    """An injectable clock."""
    return FakeClock()


@pytest.fixture
def make_resolver(clock: FakeClock) -> Iterator[Callable[..., ProfileResolver]]:
    """``make_resolver(container_dict, source=None, store=None, emit=None)``; closed after."""
    made: list[ProfileResolver] = []

    def make(
        doc: dict[str, Any] | None = None,
        *,
        source: Any = None,
        store: Any = None,
        emit: Callable[[Message], Any] | None = None,
    ) -> ProfileResolver:
        container = Container.from_dict(doc or {})
        r = ProfileResolver(container, source=source, store=store, emit=emit, clock=clock)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
