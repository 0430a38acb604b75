"""``jsonl``: events appended to a local JSON-lines file, rotated by size and age.

The embedded default: no service needed. Each batch is one ``write`` of already-encoded
lines to a file opened in append mode, on the delivery thread. When the file would pass
``max_bytes``, or is older than ``max_age`` seconds when a batch arrives, it is renamed to
``<stem>-<UTC time><suffix>`` and a fresh file is started; readers can process every rotated
file and tail the current one::

    [destinations.lake]
    type = "jsonl"
    options = { path = "var/events.jsonl", max_bytes = 67108864, max_age = 3600 }

``{pid}`` in ``path`` is replaced by the process id, so forked workers (gunicorn) each write
their own file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from attrs import frozen

from ..plugins import BatchConfig, ConfigError, PiiConfig, SendResult
from ..plugins.kit import (
    PolicyTransform,
    PrivacyOptions,
    load_options,
    option_errors,
    privacy_policy,
)

__all__ = ["JsonlDestination", "JsonlOptions"]


@frozen(kw_only=True)
class JsonlOptions(PrivacyOptions):
    """Options of the ``jsonl`` destination (``max_bytes = 0`` / ``max_age`` unset: never
    rotate on that criterion; ``fsync``: force each batch to disk before reporting it
    delivered)."""

    path: str = "persona-events.jsonl"
    max_bytes: int = 64 * 1024 * 1024
    max_age: float | None = None
    fsync: bool = False
    max_events: int = 1000


class JsonlDestination(PolicyTransform):
    """Appends events to a JSON-lines file with size and time rotation.

    .. versionadded:: 0.1.0
    """

    handles_pii = True

    def __init__(
        self,
        *,
        name: str = "jsonl",
        options: Mapping[str, Any] | None = None,
        pii: PiiConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        opts = load_options(JsonlOptions, options)
        errors = option_errors(opts)
        if not opts.path:
            errors.append("path: must not be empty")
        if opts.max_bytes < 0:
            errors.append("max_bytes: must be 0 (never) or positive")
        if opts.max_age is not None and opts.max_age <= 0:
            errors.append("max_age: must be positive (or left out)")
        if errors:
            raise ConfigError(errors)
        self.name = name
        self.batch = BatchConfig(max_events=opts.max_events, max_bytes=4_000_000, gzip=False)
        self.options = opts
        self.policy = privacy_policy(opts, pii)
        self.clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._size = 0
        self._opened_at = 0.0
        self._path = Path(opts.path)

    @property
    def path(self) -> Path:
        """The file being written (``{pid}`` resolved for this process)."""
        return Path(self.options.path.replace("{pid}", str(os.getpid())))

    def _open(self) -> int:
        path = self.path
        # the events are personal data: owner-only directory (when we create it) and file
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fd, self._pid, self._path = fd, os.getpid(), path
        self._size = os.fstat(fd).st_size
        self._opened_at = self.clock()
        return fd

    def _rotated_name(self) -> Path:
        stamp = datetime.fromtimestamp(self.clock(), tz=timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        p = self._path
        candidate = p.with_name(f"{p.stem}-{stamp}{p.suffix}")
        n = 1
        while candidate.exists():
            candidate = p.with_name(f"{p.stem}-{stamp}-{n}{p.suffix}")
            n += 1
        return candidate

    def _rotate(self) -> int:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._path.exists() and self._path.stat().st_size > 0:
            os.replace(self._path, self._rotated_name())
        return self._open()

    def _due(self, incoming: int) -> bool:
        if self._size == 0:
            return False
        opts = self.options
        if opts.max_bytes and self._size + incoming > opts.max_bytes:
            return True
        return opts.max_age is not None and self.clock() - self._opened_at >= opts.max_age

    def write(self, items: Sequence[bytes]) -> None:
        """Append ``items`` as lines (one ``write`` call), rotating first when due."""
        data = b"\n".join(items) + b"\n"
        with self._lock:
            fd = self._fd
            if fd is not None and self._pid != os.getpid():
                # a forked child drops the parent's descriptor and opens its own file
                os.close(fd)
                fd = None
            if fd is None:
                fd = self._open()
            if self._due(len(data)):
                fd = self._rotate()
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            self._size += len(data)
            if self.options.fsync:
                os.fsync(fd)

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Append one batch; a failed write (disk full, permissions) is retried."""
        if not items:
            return SendResult.ok()
        try:
            self.write(items)
        except OSError as exc:
            return SendResult.retry(f"cannot write {self.path}: {exc.strerror or exc}")
        return SendResult.ok()

    def close(self) -> None:
        """Close the file. Idempotent; a later batch reopens it."""
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def __repr__(self) -> str:
        return f"JsonlDestination(name={self.name!r}, path={self.options.path!r})"
