"""Real ``redis-server`` processes on free loopback ports, for the tests of this plugin.

``RedisServer(tmp_dir).start()`` runs one server (``url``; ``kill()`` sends SIGKILL,
``start()`` again brings it back on the same port); ``RedisCluster(tmp_dir).start()`` runs 3
cluster nodes sharing the 16,384 slots (``url`` names the first node).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
)
SLOTS = 16384


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("redis did not come up")
        time.sleep(0.02)


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisServer:
    """One ``redis-server`` without persistence on 127.0.0.1."""

    def __init__(self, workdir: Path, port: int | None = None, *extra: str) -> None:
        assert REDIS_SERVER is not None
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                "--protected-mode", "no", *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1.0)
        _wait(client.ping)
        client.close()
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def flush(self) -> None:
        client = redis.Redis(port=self.port, socket_timeout=5.0)
        client.flushall()
        client.close()


def _info(client: redis.Redis) -> dict[str, str]:
    raw = client.execute_command("CLUSTER INFO")
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


class RedisClusterNodes:
    """Three cluster-enabled servers with the slots split between them."""

    def __init__(self, workdir: Path) -> None:
        self.nodes = [
            RedisServer(
                workdir / f"node{i}", free_cluster_port(), "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
            )
            for i in range(3)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisClusterNodes:
        try:
            return self._start()
        except BaseException:
            self.kill()
            raise

    def _start(self) -> RedisClusterNodes:
        for n in self.nodes:
            n.start()
        clients = [redis.Redis(port=n.port, socket_timeout=5.0) for n in self.nodes]
        step = SLOTS // 3
        for i, c in enumerate(clients):
            end = SLOTS - 1 if i == 2 else (i + 1) * step - 1
            c.execute_command("CLUSTER ADDSLOTSRANGE", i * step, end)
        for c in clients[1:]:
            c.execute_command("CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
        for c in clients:
            _wait(lambda c=c: _info(c).get("cluster_state") == "ok", 20)
            _wait(lambda c=c: int(_info(c).get("cluster_known_nodes", 0)) == 3, 20)
        for c in clients:
            c.close()
        return self

    def kill(self) -> None:
        for n in self.nodes:
            n.kill()

    def flush(self) -> None:
        for n in self.nodes:
            n.flush()
