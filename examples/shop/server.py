"""Running the shop on uvicorn: in the foreground (the demo) or in a thread (simulator, tests).

The listening socket is bound before the ``Persona`` is built, so the local sink's URL (on
the same port) is known up front, and clients can connect as soon as ``start`` returns:
connections wait in the socket's backlog until uvicorn accepts them.
"""

from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn
from attrs import define

from persona_sdk import Persona

from .app import Exposures, build_persona, create_app
from .sink import Sink

__all__ = ["RunningShop", "bind", "start"]

DEFAULT_VAR = Path(__file__).resolve().parent / "var"


def bind(host: str, port: int, *, fallback: bool = True) -> socket.socket:
    """A listening socket on ``host:port``; a free port instead when that one is taken."""
    for candidate in (port, 0) if fallback and port else (port,):
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
        # when the socket says it is TCP, and without it every response waits ~40 ms for a
        # delayed ACK (uvicorn writes headers and body separately)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and candidate:
                continue
            raise
        sock.listen(2048)
        return sock
    raise OSError(errno.EADDRINUSE, f"no free port on {host}")


@define
class RunningShop:
    """A shop served by uvicorn from a background thread."""

    url: str
    persona: Persona
    sink: Sink
    exposures: Exposures
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        """Shut uvicorn down (the app's lifespan flushes and closes the ``Persona``)."""
        self.server.should_exit = True
        self.thread.join(timeout)


def prepare(
    *, host: str = "127.0.0.1", port: int = 0, var_dir: Path = DEFAULT_VAR, **persona_kwargs: Any
) -> tuple[socket.socket, str, Persona, Sink, Exposures, Any]:
    """Bind, build the ``Persona`` and the app; return them with the shop's URL."""
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown}:{bound_port}"
    sink = Sink()
    exposures = Exposures()
    try:
        persona = build_persona(
            var_dir=var_dir, sink_url=f"{url}/_sink", exposures=exposures, **persona_kwargs
        )
    except BaseException:
        sock.close()
        raise
    app = create_app(persona, sink=sink, exposures=exposures, var_dir=var_dir)
    return sock, url, persona, sink, exposures, app


def _server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    return uvicorn.Server(config)


def start(
    *, host: str = "127.0.0.1", port: int = 0, var_dir: Path = DEFAULT_VAR, **persona_kwargs: Any
) -> RunningShop:
    """Serve the shop from a daemon thread and return at once (the socket already listens)."""
    sock, url, persona, sink, exposures, app = prepare(
        host=host, port=port, var_dir=var_dir, **persona_kwargs
    )
    server = _server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="shop-uvicorn", daemon=True
    )
    thread.start()
    return RunningShop(url, persona, sink, exposures, app, server, thread)


def serve(*, host: str, port: int, var_dir: Path, **persona_kwargs: Any) -> None:
    """Serve the shop in the foreground until Ctrl-C."""
    sock, url, _persona, _sink, _exposures, app = prepare(
        host=host, port=port, var_dir=var_dir, **persona_kwargs
    )
    print(f"Persona Outdoor, the persona-sdk demo shop, is running at {url}/", flush=True)
    print(f"  dashboard: {url}/dashboard   events: {var_dir}/   stop: Ctrl-C", flush=True)
    _server(app).run(sockets=[sock])
