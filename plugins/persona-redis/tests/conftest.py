"""Fixtures: real Redis servers started from the installed ``redis-server`` on free ports.

- ``redis_server``: one server for the session (flushed before each test using it);
- ``redis_cluster``: a 3-node Redis Cluster for the session;
- ``redis_backend``: parametrizes a test over ``memory``, ``redis`` and ``cluster``: the
  ``RedisOptions`` (None for memory) the stores under test are built with;
- ``own_redis``: a fresh server per test that the test may kill and restart.

Tests skip with a clear reason only when ``redis-server`` is not installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from persona_redis import RedisOptions
from redis_servers import REDIS_SERVER, RedisClusterNodes, RedisServer

# the repository's loopback test servers (tests/servers), for the sink-based proofs
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server)"
)


@pytest.fixture
def sink() -> Iterator[Any]:
    """A recording loopback HTTP sink (the repository's ``tests/servers/sink.py``)."""
    from servers.sink import Sink

    s = Sink()
    yield s
    s.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for the session."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """A 3-node Redis Cluster for the session."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    cluster = RedisClusterNodes(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh server this test may ``kill()`` and ``start()`` again."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture(params=["memory", "redis", "cluster"])
def redis_backend(request: pytest.FixtureRequest) -> RedisOptions | None:
    """The backend a conformance test runs against (None: the core's in-memory stores)."""
    if request.param == "memory":
        return None
    fixture = "redis_server" if request.param == "redis" else "redis_cluster"
    server = request.getfixturevalue(fixture)
    server.flush()
    return RedisOptions(server.url, cluster=request.param == "cluster", timeout=2.0)
