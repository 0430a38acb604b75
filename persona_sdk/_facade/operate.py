"""The facade's operating API: audiences, ``reload``, ``stats``, ``flush``, ``close``,
``forget``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigError
from .._stats import PersonaStats, ProfilesStats, empty_destination_stats
from ..config import Container, load_container
from .core import Core
from .runtime import naming_source

__all__ = ["OperateApi"]


class OperateApi(Core):
    """``Persona``'s methods for reading its state and running it down."""

    # -- audiences ------------------------------------------------------------------------

    def sweep_segments(self) -> int:
        """Re-check every held visitor's time-dependent segments now (the periodic sweep,
        ``profiles.segment_sweep_interval``, does it on its own), and the visitors of a
        profile store that lists its keys (``ListableProfileStore``); returns how many
        memberships changed. Changes go out as ``Segment Entered``/``Segment Exited``.
        Call it off the request path: a store walk reads every profile it holds."""
        self._check_open()
        return self._profiles.sweep_segments()

    def segment_members(self, segment: str, *, limit: int = 1000) -> list[str]:
        """Canonical ids of the visitors held in this process who are in ``segment`` (with
        a listable store, those its sweeps read from the store too)."""
        return self._profiles.members_of(segment, limit=limit)

    def attribution_report(self, trait: str | None = None) -> dict[str, Any]:
        """Conversions and their credit per model (first, last, linear, position) and
        channel, summed over the visitors held in this process (``docs/segments.md``).
        Raises ``KeyError`` when the container has no ``attribution`` computed trait."""
        return self._profiles.attribution_report(trait)

    # -- lifecycle ------------------------------------------------------------------------

    def reload(
        self,
        container: Container | Mapping[str, Any] | str | os.PathLike[str],
        *,
        allow_no_destinations: bool = False,
    ) -> None:
        """Swap to a new container atomically; on any error the running one stays.

        A container without destinations, replacing one that has some, is refused (it would
        stop all tracking) unless ``allow_no_destinations`` is true; to change only flags,
        use ``reload_flags``.

        Raises ``ConfigError`` listing every problem of the refused container.
        """
        with self._lock, naming_source(container):
            self._check_open()
            loaded = load_container(container, env=self._env)
            if (
                not allow_no_destinations
                and self._runtime.container.destinations
                and not loaded.destinations
            ):
                raise ConfigError(
                    "destinations: the new container has none and would stop all tracking; "
                    "pass allow_no_destinations=True, or use reload_flags() for flags only"
                )
            new = self._builder.build(loaded, self._runtime)
            old, self._runtime = self._runtime, new
            self._follow_runtime()
        old.close()

    @property
    def container(self) -> Container:
        """The container in force."""
        return self._runtime.container

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the container in force has that a strict container would refuse, one
        ``path: message`` line each: unknown fields and weights that do not fit, in features,
        rules and experiments that a GrowthBook import (``from_growthbook``, or
        ``decisions.strict_conditions = false``) lets through, as GrowthBook's SDKs do.
        Empty for a strict container, which refuses them instead.

        .. versionadded:: 0.1
        """
        return self._runtime.engine.warnings

    def stats(self) -> PersonaStats:
        """Counters per destination (tracked, delivered, queued, spooled, dropped by reason,
        rejected, retried, dead-lettered, in flight, filtered, and the ``last_error``), events
        whose routing raised (``routing.errors``: a trigger plugin failed), and for profiles
        (``segment_errors``: segment conditions that raised) and decisions (hook and
        exposure-track errors, with their ``last_error``). Each counted error is also logged,
        the first of each kind with its traceback, then a count at most once a minute."""
        destinations = self._delivery.stats()
        for name, filtered in self._runtime.router.filtered().items():
            counts = destinations.setdefault(name, empty_destination_stats())
            counts["filtered"] = filtered
        profiles: ProfilesStats = {
            **self._profiles.stats(), "segment_errors": self._runtime.segments.failures
        }
        out: PersonaStats = {
            "destinations": destinations,
            "routing": {"errors": self._delivery.route_errors},
            "profiles": profiles,
            "decisions": self._hooks.stats(),
        }
        stores = {}
        for store in self._stores():
            report = getattr(store, "stats", None)
            if callable(report):
                try:
                    stores[type(store).__name__] = report()
                except Exception:
                    continue
        if stores:
            out["stores"] = stores
        rt = self._runtime
        if rt.plan.active:
            out["tracking_plan"] = rt.plan.stats()
        if self._feed is not None:
            out["flags"] = self._feed.stats()
        if rt.content is not None:
            out["content"] = rt.content.stats()
        if rt.actions is not None:
            out["actions"] = rt.actions.stats()
        return out

    def run_actions(self) -> int:
        """Fire the scheduled actions that are due now (a daemon thread otherwise does it
        within a second); returns how many fired."""
        actions = self._runtime.actions
        return actions.run_due() if actions is not None else 0

    def refresh_content(self) -> dict[str, str]:
        """Poll every content source now, on this thread (the poller thread otherwise does
        it every ``interval``): ``{source: "updated" | "not_modified" | "failed: ..."}``.
        A failed source keeps its last good items."""
        content = self._runtime.content
        return content.refresh() if content is not None else {}

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued and write pending computed traits to the shared profile
        store (so other processes see them on their next request); return whether
        everything was done in ``timeout``."""
        deadline = time.monotonic() + timeout
        profiles = self._profiles.flush(timeout)
        return self._delivery.flush(max(0.0, deadline - time.monotonic())) and profiles

    async def aflush(self, timeout: float = 5.0) -> bool:
        """The asyncio form of ``flush``."""
        deadline = time.monotonic() + timeout
        profiles = await asyncio.to_thread(self._profiles.flush, timeout)
        return await self._delivery.aflush(max(0.0, deadline - time.monotonic())) and profiles

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop background work and release resources. Idempotent."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            self._follow_runtime()
        if self._feed is not None:
            self._feed.stop()
        ok = self._delivery.close(timeout)
        self._profiles.close()
        self._runtime.close()
        return ok

    async def aclose(self, timeout: float = 5.0) -> bool:
        """The asyncio form of ``close``."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            self._follow_runtime()
        if self._feed is not None:
            self._feed.stop()
        ok = await self._delivery.aclose(timeout)
        self._profiles.close()
        self._runtime.close()
        return ok

    def forget(self, *, user_id: str | None = None, anonymous_id: str | None = None) -> int:
        """Erase a visitor: caches, alias map, spooled events, and upstream where the profile
        source supports it. Returns how many queued or spooled events were purged."""
        ids = self._profiles.forget(user_id=user_id, anonymous_id=anonymous_id)
        for store in self._stores():
            erase = getattr(store, "forget", None)
            if callable(erase) and ids:
                try:
                    erase(ids)
                except Exception:
                    pass  # a shared store down: its own stats() count the failure
        return self._delivery.forget(ids)

    def _stores(self) -> list[Any]:
        # the stores given in code that a person's state may be kept in (distinct objects)
        found: list[Any] = []
        for store in (self._profile_store, self._sticky_store, self._hooks.dedup_store,
                      self.counter_store):
            if store is not None and all(store is not f for f in found):
                found.append(store)
        return found
