"""Process-wide hooks: fork safety, the at-exit drain, and importing the HTTP stack early.

Nothing here runs at import: the hooks are registered (with ``persona_sdk._lifecycle``, the
one registry of fork and exit hooks) when the first delivery thread starts.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from .. import _lifecycle

if TYPE_CHECKING:
    from ._delivery import Delivery

__all__ = ["LIVE", "import_network_stack", "inherit", "install_process_hooks"]

#: Every live ``Delivery`` (weakly): what the fork and exit hooks act on.
LIVE: weakref.WeakSet[Delivery] = weakref.WeakSet()
_HOOKS = False
_STACK = False
#: In a forked child: keep what the parent's delivery thread owned (loop, client, thread)
#: referenced, never used nor finalized.
inherit = _lifecycle.inherit


def import_network_stack() -> None:
    # httpx imports httpcore (and with it anyio, trio, h11, sniffio) lazily, when the first
    # client is built or the first connection opens. Done on the delivery thread, that import
    # can be under way when the application forks (gunicorn --preload), leaving the child with
    # half-initialized modules. So it happens here, on the thread that configures us.
    global _STACK
    if _STACK:
        return
    import importlib

    for name in ("httpcore", "httpcore._backends.auto", "httpcore._backends.anyio",
                 "anyio._backends._asyncio", "h11", "sniffio"):
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - depends on httpx's own optional bits
            pass
    _STACK = True


def install_process_hooks() -> None:
    # Once per process, when the first delivery thread starts (never at import). A forked
    # child inherits the registration, so it is never made twice. One hook for every
    # delivery: all delivery threads are parked before any spool is held.
    global _HOOKS
    if _HOOKS:
        return
    _HOOKS = True
    _lifecycle.register("delivery", before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child, at_exit=_drain_at_exit)


def _before_fork() -> None:
    # The delivery thread first (it may be waiting for a spool lock), then every spool writer
    # (caller threads write the spool themselves in sync mode).
    live = list(LIVE)
    for delivery in live:
        worker = delivery._worker
        if worker is not None:
            worker.park()
    for delivery in live:
        spool = delivery._spool
        if spool is not None:
            spool.hold_for_fork()


def _after_fork_in_parent() -> None:
    for delivery in list(LIVE):
        spool = delivery._spool
        if spool is not None:
            spool.release_after_fork()
        worker = delivery._worker
        if worker is not None:
            worker.unpark()


def _after_fork_in_child() -> None:
    for delivery in list(LIVE):
        delivery._after_fork()


def _drain_at_exit() -> None:
    for delivery in list(LIVE):
        if delivery._worker is not None and not delivery._closed:
            delivery.close(delivery._settings.shutdown_timeout)

