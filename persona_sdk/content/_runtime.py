"""``ContentRuntime``: a container's catalog, placements and feeds, deciding for visitors.

One runtime per container (rebuilt on reload); the counter store and the exposure dedupe
memory belong to the ``Persona`` and outlive it. ``decide`` reads the current catalog by
reference (feeds swap it whole), so it takes no lock of its own; the counter store's calls
are its only shared state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from .._errors import ConfigError
from .._stats import ContentStats
from ..config import ContextConfig, PlacementConfig, SourceConfig
from ._catalog import ContentItem, build_catalog, parse_items
from ._decision import Decision
from ._decision_flow import DecisionFlow
from ._enrichers import Enrichment, build_enrichers
from ._exposures import CLICK_EVENT, EXPOSURE_EVENT
from ._feeds import FeedPoller, build_source
from ._placements import Placement, compile_placements
from ._store_ops import ADD as _ADD
from ._store_ops import ASYNC as _ASYNC
from ._store_ops import HIT as _HIT
from ._store_ops import INCR as _INCR

__all__ = ["CLICK_EVENT", "EXPOSURE_EVENT", "ContentRuntime"]

log = logging.getLogger("persona_sdk.content")


class ContentRuntime(DecisionFlow):
    """Everything ``visitor.decide`` needs from one container.

    Build with ``ContentRuntime.build`` (raises ``ConfigError`` naming every bad path).
    """

    def __init__(
        self,
        *,
        container_items: Sequence[ContentItem],
        placements: dict[str, Placement],
        sources: Sequence[Any],
        store: Any,
        clock: Callable[[], float],
        hooks: Any,
        operators: Any = None,
        saved_groups: Mapping[str, Any] | None = None,
        enrich: Enrichment | None = None,
        source_configs: Mapping[str, SourceConfig] | None = None,
        aliases: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.placements = placements
        #: each source's configuration, to tell which sources a reload left unchanged
        self.source_configs = dict(source_configs or {})
        #: the ids linked to an id (the profile layer's identity links), to credit a
        #: conversion to the exposure a visitor saw under another of their ids
        self.aliases = aliases
        #: the ``[context]`` enrichers, applied to a decision's attributes
        self.enrich = enrich
        self.store = store
        self.clock = clock
        self.hooks = hooks
        self._container_items = tuple(container_items)
        self.catalog, _ = build_catalog([self._container_items], 0)
        self._swap_lock = threading.Lock()
        self._version = 0
        self._poller = FeedPoller(
            sources, self._on_feed, operators=operators, saved_groups=saved_groups
        ) if sources else None
        self._started = self._poller is None
        #: events whose arrival updates bandit statistics
        self.watched = frozenset(
            {CLICK_EVENT}
            | {p.config.bandit.reward for p in placements.values() if p.strategy == "bandit"}
            - {"click"}
        )
        self._rewards: dict[str, list[Placement]] = {}
        for p in placements.values():
            reward = p.config.bandit.reward
            if p.strategy == "bandit" and reward != "click":
                self._rewards.setdefault(reward, []).append(p)
        self.counts = dict.fromkeys(
            (
                "decisions", "holdouts", "fallbacks", "empty", "capped", "exposures",
                "clicks", "conversions", "store_errors", "track_errors", "unknown_placement",
                "strategy_errors",
            ),
            0,
        )

    @classmethod
    def build(
        cls,
        *,
        content: Sequence[Any],
        placements: Mapping[str, PlacementConfig],
        sources: Mapping[str, SourceConfig],
        store: Any,
        clock: Callable[[], float],
        hooks: Any,
        operators: Any = None,
        saved_groups: Mapping[str, Any] | None = None,
        source_factories: Mapping[str, Any] | None = None,
        strategies: Mapping[str, Any] | None = None,
        context: ContextConfig | None = None,
        enrichers: Mapping[str, Any] | None = None,
        previous: ContentRuntime | None = None,
        aliases: Callable[[str], Iterable[str]] | None = None,
    ) -> ContentRuntime:
        """Check and compile ``[[content]]``, ``[placements.*]`` and
        ``[content_sources.*]``; ``ConfigError`` lists every problem with its path.

        ``previous`` is the runtime this one replaces (a reload): each source configured
        exactly as before starts from its last good items and ``ETag``, so a reload never
        empties the catalog of feed items; a changed or new source is polled at once when
        the previous runtime was polling."""
        items, errors = parse_items(
            content, "content", operators=operators, saved_groups=saved_groups
        )
        compiled, problems = compile_placements(
            placements,
            [it.id for it in items],
            operators=operators,
            saved_groups=saved_groups,
            feeds=bool(sources),
            strategies=strategies,
        )
        errors.extend(problems)
        enrich = _enrichment(context, enrichers, errors)
        built = _sources(sources, source_factories, errors)
        if errors:
            for source in built:
                source.close()
            raise ConfigError(errors)
        runtime = cls(
            container_items=items,
            placements=compiled,
            sources=built,
            store=store,
            clock=clock,
            hooks=hooks,
            operators=operators,
            saved_groups=saved_groups,
            enrich=enrich,
            source_configs=sources,
            aliases=aliases,
        )
        if previous is not None:
            runtime._carry(previous)
        return runtime

    # -- catalog and feeds -------------------------------------------------------------------

    def _on_feed(self, parts: Sequence[Sequence[ContentItem]]) -> list[str]:
        # The poller's thread: a new catalog from the container's items and every source's
        # last good items, swapped whole.
        with self._swap_lock:
            self._version += 1
            catalog, errors = build_catalog([self._container_items, *parts], self._version)
            self.catalog = catalog
        return errors

    def _carry(self, previous: ContentRuntime) -> None:
        # Unchanged sources keep their items and ETag (the next poll is a cheap 304); a
        # changed one starts empty and, in a running process, is polled now, off this thread.
        if self._poller is None or previous._poller is None:
            return
        carried = previous._poller.carried()
        for name, config in self.source_configs.items():
            if name in carried and previous.source_configs.get(name) == config:
                self._poller.adopt(name, *carried[name])
        if previous._started:
            self._start()

    def refresh(self) -> dict[str, str]:
        """Poll every content source now, on this thread: ``{source: outcome}``
        (``updated``, ``not_modified`` or ``failed: <reason>``)."""
        if self._poller is None:
            return {}
        return self._poller.poll_all()

    def _start(self) -> None:
        self._started = True
        if self._poller is not None:
            self._poller.start()

    def close(self) -> None:
        """Stop polling and close the sources."""
        if self._poller is not None:
            self._poller.close()

    # -- deciding ----------------------------------------------------------------------------

    def decide(
        self, visitor: Any, name: str, n: int | None, attrs: Mapping[str, Any]
    ) -> Decision:
        """The placement's items for this visitor (see ``Visitor.decide``), whose
        condition attributes are ``attrs``; the counter store is called synchronously."""
        # the flow makes each store call itself and puts its decision in ``out``: it ends
        # without yielding and returns None
        out: list[Decision] = []
        flow = self._flow(visitor, name, n, attrs, out)
        if next(flow, None) is not None or not out:  # pragma: no cover - not reached
            flow.close()
            raise RuntimeError("a sync content decision yielded a store operation")
        return out[0]

    async def adecide(
        self, visitor: Any, name: str, n: int | None, attrs: Mapping[str, Any]
    ) -> Decision:
        """``decide`` awaiting the counter store's asyncio methods (``awindow_hit``,
        ``aincr``, ``aget_all``: ``persona_sdk.plugins.AsyncCounterStore``) where it has
        them; a method it lacks is called synchronously, as ``decide`` does."""
        flow = self._flow(visitor, name, n, attrs, None)
        store = self.store
        try:
            op = next(flow)
            while True:
                kind = op[0]
                try:
                    # a store that queues increments does no I/O for them (``add``); an ADD
                    # without it is an increment
                    call = (
                        None if kind is _ADD and getattr(store, "add", None) is not None
                        else getattr(store, _ASYNC[_INCR if kind is _ADD else kind], None)
                    )
                    result: Any
                    if call is None:  # no asyncio form: made as ``decide`` makes it
                        result = self._call(op)
                    elif kind is _HIT:
                        result = await call(op[1], now=op[2], window=op[3], limit=op[4])
                    else:
                        result = await call(*op[1:])
                except Exception as exc:
                    op = flow.throw(exc)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            decision: Decision = stop.value  # with no ``out``, the flow returns it
            return decision
        finally:
            flow.close()  # cancelled while awaiting: the flow releases what it holds

    # -- reporting ---------------------------------------------------------------------------

    def stats(self) -> ContentStats:
        """Decision counters, the catalog's size and version, and each feed's state."""
        # counts is keyed by name (bumped as counts[key]): a cast, pinned by a test
        out = cast("ContentStats", dict(self.counts))
        if self.enrich is not None:
            out["enricher_errors"] = self.enrich.errors
        out["catalog"] = {"items": len(self.catalog), "version": self.catalog.version}
        if self._poller is not None:
            out["sources"] = self._poller.stats()
        return out

    def bandit_stats(self, name: str) -> dict[str, dict[str, tuple[float, float]]]:
        """``{segment: {item: (exposures, rewards)}}`` of a bandit placement, as last read."""
        placement = self.placements.get(name)
        if placement is None:
            return {}
        return {seg: arms.stats() for seg, arms in placement.arms.items()}


def _enrichment(
    context: ContextConfig | None, enrichers: Mapping[str, Any] | None, errors: list[str]
) -> Enrichment | None:
    """The ``[context]`` enrichers, or None; problems go to ``errors``."""
    if context is None:
        return None
    try:
        return build_enrichers(context.enrichers, context.options, enrichers)
    except ConfigError as exc:
        errors.extend(exc.errors)
        return None


def _sources(
    sources: Mapping[str, SourceConfig],
    source_factories: Mapping[str, Any] | None,
    errors: list[str],
) -> list[Any]:
    """The content sources that could be built; problems go to ``errors``."""
    built: list[Any] = []
    for name, cfg in sources.items():
        try:
            built.append(build_source(name, cfg, source_factories))
        except ConfigError as exc:
            errors.extend(f"content_sources.{name}.{e}" for e in exc.errors)
    return built
