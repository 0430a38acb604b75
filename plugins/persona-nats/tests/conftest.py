"""Fixtures: a real ``nats-server -js`` started from the installed binary on a free port
(``nats_server``; ``kill()`` and ``start()`` again on the same port and store directory), and
the repository's loopback HTTP sink (``sink``). Tests skip with a clear reason only when
``nats-server`` is not installed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nats_servers import NATS_SERVER, NatsServer

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh JetStream-enabled ``nats-server`` for this test."""
    if NATS_SERVER is None:
        pytest.skip("nats-server is not installed (https://github.com/nats-io/nats-server)")
    server = NatsServer(tmp_path / "js").start()
    yield server
    server.kill()


@pytest.fixture
def sink() -> Iterator[Any]:
    """A recording loopback HTTP sink (the repository's ``tests/servers/sink.py``)."""
    from servers.sink import Sink

    s = Sink()
    yield s
    s.close()
