"""The worker contract (``persona worker --from <scheme>://``)."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Worker", "WorkerFactory"]


class Worker(Protocol):
    """Consumes an event stream and hands each event to a ``Persona`` (``ingest``), which
    delivers it through its destinations; acknowledges only what was delivered."""

    def run(self) -> int:
        """Consume until ``stop()``; the process exit code."""
        ...

    def stop(self) -> None:
        """Ask ``run`` to return (called from a signal handler)."""
        ...


class WorkerFactory(Protocol):
    """Builds a worker for ``persona worker --from URL`` (entry point group
    ``persona_sdk.workers``, named by the URL's scheme). Raise ``ConfigError`` for a bad URL."""

    def __call__(self, *, url: str, persona: Any) -> Worker: ...
