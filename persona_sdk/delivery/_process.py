"""Process-wide hooks: fork safety, the at-exit drain, and importing the HTTP stack early.

Nothing here runs at import: the hooks are registered (with ``persona_sdk._lifecycle``, the
one registry of fork and exit hooks) when the first delivery thread starts.
"""

from __future__ import annotations

import weakref
from typing import Protocol

from .. import _lifecycle

__all__ = ["LIVE", "ProcessAware", "import_network_stack", "inherit", "install_process_hooks"]


class ProcessAware(Protocol):
    """What the fork and exit hooks call (``Delivery`` implements it)."""

    def before_fork(self) -> None: ...
    def hold_spool_for_fork(self) -> None: ...
    def after_fork_in_parent(self) -> None: ...
    def after_fork_in_child(self) -> None: ...
    def close_at_exit(self) -> None: ...


#: Every live ``Delivery`` (weakly): what the fork and exit hooks act on.
LIVE: weakref.WeakSet[ProcessAware] = weakref.WeakSet()
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
        delivery.before_fork()
    for delivery in live:
        delivery.hold_spool_for_fork()


def _after_fork_in_parent() -> None:
    for delivery in list(LIVE):
        delivery.after_fork_in_parent()


def _after_fork_in_child() -> None:
    for delivery in list(LIVE):
        delivery.after_fork_in_child()


def _drain_at_exit() -> None:
    for delivery in list(LIVE):
        delivery.close_at_exit()

