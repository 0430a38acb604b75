"""``HookSet``: exposure and feature-usage hooks, plus the bounded exposure dedupe memory.

One ``HookSet`` lives as long as its ``Persona`` (across container reloads). A failing hook
never reaches the caller: the error is counted and evaluation carries on.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Hashable
from itertools import islice
from typing import TYPE_CHECKING, Any

from .._logonce import LogOnce
from .._stats import HookStats

if TYPE_CHECKING:
    from ..plugins import DedupStore
    from ._results import ExperimentResult, FeatureResult
    from ._visitor import Visitor

__all__ = ["ExposureHook", "FeatureUsageHook", "HookSet"]

log = logging.getLogger("persona_sdk.decisions")

#: ``on_exposure(visitor, result)``: a visitor was exposed to a variation (once).
ExposureHook = Callable[["Visitor", "ExperimentResult[Any]"], object]
#: ``on_feature_usage(visitor, result)``: a visitor's feature was evaluated (once per visitor).
FeatureUsageHook = Callable[["Visitor", "FeatureResult[Any]"], object]


class HookSet:
    """Hooks called on exposures and feature usage, and the exposure dedupe memory.

    ``max_exposures`` bounds the memory of (visitor, experiment, variation) triples already
    logged: the least recently seen are forgotten first (a sixteenth of the memory at a
    time), so memory stays bounded however many visitors come, and a forgotten triple at
    worst logs one more exposure.

    ``dedup_store`` (a ``DedupStore``, e.g. persona-redis') extends the memory across
    processes: an exposure new to this process is logged only when the store also says it is
    new (``exposure:{<user or anonymous id>}:<experiment>:<variation>`` for ``dedup_ttl``
    seconds). A store that fails counts a ``dedup_errors`` and the exposure is logged (at
    worst once more), never lost.

    Usage::

        hooks = HookSet(on_exposure=lambda visitor, result: print(result.variation_key))
    """

    def __init__(
        self,
        on_exposure: ExposureHook | None = None,
        on_feature_usage: FeatureUsageHook | None = None,
        *,
        max_exposures: int = 100_000,
        dedup_store: DedupStore | None = None,
        dedup_ttl: float = 30 * 86_400.0,
    ) -> None:
        if max_exposures < 1:
            raise ValueError("max_exposures must be at least 1")
        self.on_exposure = on_exposure
        self.on_feature_usage = on_feature_usage
        self.max_exposures = max_exposures
        self.dedup_store = dedup_store
        self.dedup_ttl = dedup_ttl
        self._dedup_errors = 0
        # A plain dict in recency order (cheaper per new key than an OrderedDict): a repeat
        # moves to the end, the front is the least recently seen.
        self._seen: dict[Hashable, None] = {}
        self._exposures = 0
        self._deduplicated = 0
        self._hook_errors = 0
        self._track_errors = 0
        self._last_error = ""
        #: hook and exposure-track failures, logged once per kind (then a periodic count)
        self.errors = LogOnce(log)

    def _failed(self, kind: str, what: str) -> None:
        # called from an except block: the exception being handled is the one to report
        exc = sys.exc_info()[1]
        self._last_error = f"{what}: {type(exc).__name__}: {exc}" if exc is not None else what
        self.errors(kind, self._last_error, exc)

    def first_exposure(self, key: Hashable) -> bool:
        """Record an exposure; False when ``key`` was already recorded (a duplicate)."""
        # No lock: each OrderedDict operation is atomic; a race at worst logs a duplicate.
        seen = self._seen
        if key in seen:
            try:
                del seen[key]
            except KeyError:  # evicted meanwhile by another thread
                pass
            seen[key] = None
            self._deduplicated += 1
            return False
        seen[key] = None
        self._exposures += 1
        if len(seen) > self.max_exposures:
            self.forget_oldest()
        return True

    def first_shared(self, person: str, experiment: str, variation: int) -> bool:
        """Whether the shared ``dedup_store`` has not seen this exposure yet (True without a
        store, or when the store fails: counted, and logged rather than lost)."""
        store = self.dedup_store
        if store is None:
            return True
        key = f"exposure:{{{person}}}:{experiment}:{variation}"
        try:
            new = bool(store.add(key, ttl=self.dedup_ttl))
        except Exception:
            self._dedup_errors += 1
            return True
        if not new:
            self._deduplicated += 1
        return new

    def forget_oldest(self) -> None:
        """Drop the least recently seen sixteenth of the memory (it is over
        ``max_exposures``). In bulk, because finding a dict's oldest keys walks past the
        ones deleted since it was last resized."""
        seen = self._seen
        for key in list(islice(seen, max(1, self.max_exposures // 16))):
            seen.pop(key, None)

    def exposure(self, visitor: Visitor, result: ExperimentResult[Any]) -> None:
        """Call ``on_exposure`` (errors are counted, never raised)."""
        hook = self.on_exposure
        if hook is not None:
            try:
                hook(visitor, result)
            except Exception:
                self._hook_errors += 1
                self._failed("on_exposure", "the on_exposure hook raised")

    def feature_usage(self, visitor: Visitor, result: FeatureResult[Any]) -> None:
        """Call ``on_feature_usage`` (errors are counted, never raised)."""
        hook = self.on_feature_usage
        if hook is not None:
            try:
                hook(visitor, result)
            except Exception:
                self._hook_errors += 1
                self._failed("on_feature_usage", "the on_feature_usage hook raised")

    def track_failed(self) -> None:
        """Count an exposure event that could not be recorded (closed client, bad ids);
        called from the ``except`` block that caught why."""
        self._track_errors += 1
        self._failed("exposure_track", "an exposure event could not be tracked")

    def stats(self) -> HookStats:
        """``exposures`` logged, ``deduplicated`` exposures skipped, ``remembered``
        triples, ``hook_errors``, ``track_errors``, ``dedup_errors`` (a shared dedup store
        failed) and the ``last_error`` of a hook or track."""
        return {
            "exposures": self._exposures,
            "deduplicated": self._deduplicated,
            "remembered": len(self._seen),
            "hook_errors": self._hook_errors,
            "track_errors": self._track_errors,
            "dedup_errors": self._dedup_errors,
            "last_error": self._last_error,
        }
