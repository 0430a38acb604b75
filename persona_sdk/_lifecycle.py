"""The process lifecycle: the one registry of fork and exit hooks.

Components register callbacks for four moments: ``before`` a fork (quiesce: park threads, hold
locks), ``after_in_parent`` (resume), ``after_in_child`` (a forked child has no threads but
the caller's, and locks another thread held stay held: replace them, start over) and
``at_exit`` (drain). A bound method is held through a weak reference, so registering never
keeps its object alive; a plain function is held strongly. Callbacks run by ``order`` (lower
first), then in registration order; ``before`` runs in the reverse order, so what registered
last (and may depend on what came earlier) is quiesced first. A callback that raises is
logged once per callback and moment and never stops the others: a fork or an exit must not
fail because one component could not prepare for it.

The process's registry is installed with ``os.register_at_fork`` on its first registration
and with ``atexit`` on its first exit hook, once per process (a forked child inherits both).
Tests build their own ``Registry`` and call ``run``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["EARLY", "MOMENTS", "PROCESS", "Hook", "Registry", "inherit", "register"]

log = logging.getLogger("persona_sdk")

#: The ``order`` of hooks others rely on (fresh message ids in a child come first).
EARLY = -100

#: When callbacks run.
MOMENTS = ("before", "after_in_parent", "after_in_child", "at_exit")

_Ref = Callable[[], "Callable[[], Any] | None"]

#: What a forked child inherited from its parent's threads (loops, clients, threads): never
#: used nor closed here, only kept referenced so that no finalizer runs on them.
_inherited: list[Any] = []


def _ref(fn: Callable[[], Any] | None) -> _Ref | None:
    if fn is None:
        return None
    if hasattr(fn, "__self__") and hasattr(fn, "__func__"):
        return weakref.WeakMethod(fn)
    return lambda: fn


class Hook:
    """One registration; ``cancel()`` removes it (idempotent)."""

    __slots__ = ("_refs", "_registry", "name", "order", "seq")

    def __init__(self, registry: Registry, name: str, order: int, seq: int,
                 refs: dict[str, _Ref | None]) -> None:
        self._registry = registry
        self.name = name
        self.order = order
        self.seq = seq
        self._refs = refs

    def callback(self, moment: str) -> Callable[[], Any] | None:
        """The live callback for ``moment``; ``None`` when none or its object is gone."""
        ref = self._refs.get(moment)
        return None if ref is None else ref()

    @property
    def dead(self) -> bool:
        """Every callback's object is gone (or it was cancelled)."""
        return all(ref is None or ref() is None for ref in self._refs.values())

    def cancel(self) -> None:
        """Stop calling this hook's callbacks."""
        self._refs = {}
        self._registry.remove(self)


class Registry:
    """Hooks by moment; ``install`` ties ``run`` to the process's fork and exit."""

    def __init__(self, *, install: bool = False) -> None:
        self._lock = threading.Lock()
        self._hooks: list[Hook] = []
        self._seq = 0
        self._failed: set[tuple[str, str]] = set()
        self._installed = False
        self._exit_installed = False
        #: the process's registry: its first registration installs the fork and exit handlers
        self.install = install

    def register(
        self,
        name: str,
        *,
        before: Callable[[], Any] | None = None,
        after_in_parent: Callable[[], Any] | None = None,
        after_in_child: Callable[[], Any] | None = None,
        at_exit: Callable[[], Any] | None = None,
        order: int = 0,
    ) -> Hook:
        """Call these at a fork and at exit; ``name`` says whose they are in the log."""
        refs = {
            "before": _ref(before),
            "after_in_parent": _ref(after_in_parent),
            "after_in_child": _ref(after_in_child),
            "at_exit": _ref(at_exit),
        }
        with self._lock:
            if self.install:
                self._install(at_exit is not None)
            self._seq += 1
            hook = Hook(self, name, order, self._seq, refs)
            # drop the hooks of objects that are gone: a process that builds many stays small
            self._hooks[:] = [h for h in self._hooks if not h.dead]
            self._hooks.append(hook)
        return hook

    def remove(self, hook: Hook) -> None:
        """Forget ``hook``."""
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def __len__(self) -> int:
        return sum(not h.dead for h in list(self._hooks))

    def run(self, moment: str) -> None:
        """Run every live callback for ``moment``; failures are logged (once), never raised."""
        if moment not in MOMENTS:
            raise ValueError(f"moment: one of {', '.join(MOMENTS)}, got {moment!r}")
        if moment == "after_in_child":
            # another thread may have held it at the fork; that thread is not here
            self._lock = threading.Lock()
        # sorted() copies first: a registration meanwhile does not disturb the loop
        hooks = sorted(self._hooks, key=lambda h: (h.order, h.seq), reverse=moment == "before")
        for hook in hooks:
            fn = hook.callback(moment)
            if fn is None:
                continue
            try:
                fn()
            except Exception:
                key = (hook.name, moment)
                if key not in self._failed:  # once: a hook failing at every fork must not flood
                    self._failed.add(key)
                    log.exception("persona-sdk: the %s hook of %s failed", moment, hook.name)

    def _install(self, at_exit: bool) -> None:
        if not self._installed:
            self._installed = True
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(
                    before=lambda: self.run("before"),
                    after_in_parent=lambda: self.run("after_in_parent"),
                    after_in_child=lambda: self.run("after_in_child"),
                )
        if at_exit and not self._exit_installed:
            # with the first exit hook, not before: atexit runs the last registered first, so
            # the drain comes before what the application registered earlier
            self._exit_installed = True
            atexit.register(self.run, "at_exit")


#: The process's registry.
PROCESS = Registry(install=True)
register = PROCESS.register


def inherit(obj: Any) -> None:
    """In a forked child: keep what a parent's thread owned referenced, never finalized
    (closing the parent's sockets or loop from here would break the parent's)."""
    _inherited.append(obj)
