"""``ContentRuntime``: a container's catalog, placements and feeds, deciding for visitors.

One runtime per container (rebuilt on reload); the counter store and the exposure dedupe
memory belong to the ``Persona`` and outlive it. ``decide`` reads the current catalog by
reference (feeds swap it whole), so it takes no lock of its own; the counter store's calls
are its only shared state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, cast

from .._errors import ConfigError
from .._stats import ContentStats
from ..config import ContextConfig, PlacementConfig, SourceConfig
from ..events import new_message_id
from ._catalog import Catalog, ContentItem, build_catalog, parse_items
from ._decision import ContentReason, Decision, DecisionItem
from ._enrichers import Enrichment, build_enrichers
from ._feeds import FeedPoller, build_source
from ._placements import Placement, compile_placements
from ._strategies import ordered, unit_hash, weighted_draws

__all__ = ["CLICK_EVENT", "EXPOSURE_EVENT", "ContentRuntime"]

log = logging.getLogger("persona_sdk.content")

#: Segment's e-commerce spec names
EXPOSURE_EVENT = "Promotion Viewed"
CLICK_EVENT = "Promotion Clicked"
# the counter store operations a decision yields, and their methods
_HIT, _INCR, _ADD, _GET_ALL = "window_hit", "incr", "add", "get_all"
_SYNC = {_HIT: "window_hit", _INCR: "incr", _GET_ALL: "get_all"}  # _ADD: ContentRuntime._add
_ASYNC = {_HIT: "awindow_hit", _INCR: "aincr", _GET_ALL: "aget_all"}
_STRATEGY_REASON = {
    "first_match": ContentReason.FIRST_MATCH,
    "weighted": ContentReason.WEIGHTED,
    "score": ContentReason.SCORE,
    "bandit": ContentReason.BANDIT,
}


def _live(item: ContentItem, now: float, locale: str | None) -> bool:
    # dates and locale, for the items that have any
    if not item.start <= now < item.end:
        return False
    return item.locale is None or (locale is not None and locale.startswith(item.locale))


class ContentRuntime:
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
        enrich = None
        if context is not None:
            try:
                enrich = build_enrichers(context.enrichers, context.options, enrichers)
            except ConfigError as exc:
                errors.extend(exc.errors)
        built: list[Any] = []
        for name, cfg in sources.items():
            try:
                built.append(build_source(name, cfg, source_factories))
            except ConfigError as exc:
                errors.extend(f"content_sources.{name}.{e}" for e in exc.errors)
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
        flow = self._flow(visitor, name, n, attrs)
        store = self.store
        try:
            op = next(flow)
            while True:
                try:
                    if op[0] is _HIT:
                        result: Any = store.window_hit(
                            op[1], now=op[2], window=op[3], limit=op[4]
                        )
                    elif op[0] is _INCR:
                        result = store.incr(op[1], op[2])
                    elif op[0] is _ADD:
                        self._add(op[1], op[2])
                        result = None
                    else:
                        result = store.get_all(op[1])
                except Exception as exc:  # handed to the flow, which counts it
                    op = flow.throw(exc)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            decision: Decision = stop.value
            return decision

    async def adecide(
        self, visitor: Any, name: str, n: int | None, attrs: Mapping[str, Any]
    ) -> Decision:
        """``decide`` awaiting the counter store's asyncio methods (``awindow_hit``,
        ``aincr``, ``aget_all``: ``persona_sdk.plugins.AsyncCounterStore``) where it has
        them; a method it lacks is called synchronously, as ``decide`` does."""
        flow = self._flow(visitor, name, n, attrs)
        store = self.store
        try:
            op = next(flow)
            while True:
                kind = op[0]
                try:
                    if kind is _ADD and getattr(store, "add", None) is not None:
                        # a store that queues increments does no I/O for them
                        self._add(op[1], op[2])
                        result: Any = None
                    else:
                        if kind is _ADD:
                            kind = _INCR
                        call = getattr(store, _ASYNC[kind], None)
                        if kind is _HIT:
                            args: tuple[Any, ...] = (op[1],)
                            kwargs: dict[str, Any] = {
                                "now": op[2], "window": op[3], "limit": op[4]
                            }
                        else:
                            args, kwargs = op[1:], {}
                        if call is not None:
                            result = await call(*args, **kwargs)
                        else:
                            result = getattr(store, _SYNC[kind])(*args, **kwargs)
                except Exception as exc:
                    op = flow.throw(exc)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            decision: Decision = stop.value
            return decision
        finally:
            flow.close()  # cancelled while awaiting: the flow releases what it holds

    def _flow(
        self, visitor: Any, name: str, n: int | None, attrs: Mapping[str, Any]
    ) -> Generator[tuple[Any, ...], Any, Decision]:
        # The decision, sans I/O: each counter store call is yielded as an operation
        # (``_HIT``, ``_INCR``, ``_GET_ALL`` and its arguments) and its result (or its
        # exception) sent back, so ``decide`` and ``adecide`` share every line of it.
        # long: the per-decide hot path in one generator: a helper generator adds a frame per call
        counts = self.counts
        counts["decisions"] += 1
        if not self._started:
            self._start()
        placement = self.placements.get(name)
        decision_id = new_message_id()
        if placement is None:
            counts["unknown_placement"] += 1
            return Decision(
                name, (), "", decision_id, reasons=(ContentReason.UNKNOWN_PLACEMENT,)
            )
        want = placement.n if n is None else max(1, n)
        vkey = visitor.id or ""
        catalog = self.catalog
        reasons: list[ContentReason] = []
        strategy = placement.strategy
        now = self.clock()
        if self.enrich is not None:
            attrs = self.enrich(attrs, now)
        # the exposure's country and bandit segment, the holdout's too: the analytics
        # compare treated and held visitors per country and segment
        country = attrs.get("country")
        where: tuple[str | None, str | None] = (
            country if isinstance(country, str) else None, None
        )
        segment = None
        if strategy == "bandit":
            segment = "*"
            if placement.segments:
                member = visitor.segments
                segment = next((s for s in placement.segments if s in member), "*")
            where = (where[0], segment)
        if placement.holdout and unit_hash(f"holdout:{name}:{vkey}") < placement.holdout:
            counts["holdouts"] += 1
            return (yield from self._fallback(
                visitor, placement, catalog, decision_id, [ContentReason.HOLDOUT], True, where
            ))
        uid = visitor.user_id or visitor.anonymous_id
        if placement.placement_caps and uid is not None:
            for limit, window in placement.placement_caps:
                try:
                    hit = yield (_HIT, f"cap:placement:{name}:{uid}", now, window, limit)
                except Exception:  # fail closed: a cap is never exceeded for a store failure
                    self._store_failed(reasons)
                    hit = False
                if not hit:
                    counts["capped"] += 1
                    if ContentReason.CAPPED not in reasons:
                        reasons.append(ContentReason.CAPPED)
                    return (yield from self._fallback(
                        visitor, placement, catalog, decision_id, reasons, False, where
                    ))
        items, statics = placement.candidates(catalog)
        if not items:
            return (yield from self._fallback(
                visitor, placement, catalog, decision_id, reasons, False, where
            ))
        locale = attrs.get("locale")
        if not isinstance(locale, str):
            locale = None
        # first_match and bandit order every candidate without reading the visitor, so
        # eligibility (dates, locale, the audience condition) is checked lazily, best first:
        # most decisions evaluate one condition. weighted and score need the eligible set.
        checked = strategy not in ("first_match", "bandit")
        ranked: Any
        if checked:
            eligible = [
                it
                for it in items
                if (it.plain or _live(it, now, locale)) and (it.always or it.condition(attrs))
            ]
            if not eligible:
                return (yield from self._fallback(
                    visitor, placement, catalog, decision_id, reasons, False, where
                ))
            if strategy == "weighted":
                ranked = weighted_draws(eligible, name, vkey)
            elif placement.custom is not None:
                ranked = self._custom(placement, eligible, attrs, vkey)
                if ranked is None:
                    reasons.append(ContentReason.STRATEGY_ERROR)
                    return (yield from self._fallback(
                        visitor, placement, catalog, decision_id, reasons, False, where
                    ))
            else:
                assert placement.scorer is not None
                scores = placement.scorer.scores(eligible, statics, attrs)
                ranked = ordered(eligible, scores, vkey)
        elif strategy == "first_match":
            ranked = ((it, None) for it in items)
        else:
            assert segment is not None
            arms = placement.arms_for(segment)
            # one caller refreshes the draws when due, the others go on with the last ones
            if arms.due(now, items) and arms.lock.acquire(blocking=False):
                try:
                    arms.refreshing(now)
                    try:
                        raw = yield (_GET_ALL, arms.key)
                    except Exception:
                        self._store_failed(reasons)
                    else:
                        arms.refresh(raw, items)
                finally:
                    arms.lock.release()
            ranked = ordered(items, arms.draws(items), vkey)
        item_caps = placement.item_caps if uid is not None else ()
        chosen: list[tuple[ContentItem, float | None]] = []
        for item, score in ranked:
            if not checked and not (
                (item.plain or _live(item, now, locale))
                and (item.always or item.condition(attrs))
            ):
                continue
            if item_caps:
                allowed = True
                for per, limit, window in item_caps:
                    if per == "item":
                        key = f"cap:item:{item.id}:{uid}"
                    elif item.campaign is not None:
                        key = f"cap:campaign:{item.campaign}:{uid}"
                    else:
                        continue
                    try:
                        allowed = bool((yield (_HIT, key, now, window, limit)))
                    except Exception:  # fail closed
                        self._store_failed(reasons)
                        allowed = False
                    if not allowed:
                        counts["capped"] += 1
                        if ContentReason.CAPPED not in reasons:
                            reasons.append(ContentReason.CAPPED)
                        break
                if not allowed:
                    continue
            chosen.append((item, score))
            if len(chosen) >= want:
                break
        if not chosen:
            return (yield from self._fallback(
                visitor, placement, catalog, decision_id, reasons, False, where
            ))
        why = _STRATEGY_REASON.get(strategy, ContentReason.STRATEGY)
        decision = Decision(
            name,
            tuple(
                DecisionItem(it.id, it.payload, pos, (why, *reasons), score, it.name)
                for pos, (it, score) in enumerate(chosen)
            ),
            strategy,
            decision_id,
            False,
            (why, *reasons),
            segment,
        )
        yield from self._expose(visitor, placement, decision, [it for it, _ in chosen], where[0])
        return decision

    def _custom(
        self, placement: Placement, eligible: list[ContentItem], attrs: Mapping[str, Any],
        vkey: str,
    ) -> list[tuple[ContentItem, float | None]] | None:
        # a plugin's ranking, checked: only eligible items, each once; None when it failed
        allowed = {id(it): it for it in eligible}
        try:
            out: list[tuple[ContentItem, float | None]] = []
            for item, score in placement.custom.rank(eligible, attrs, vkey):
                if allowed.pop(id(item), None) is not None:
                    out.append((item, None if score is None else float(score)))
        except Exception:
            self.counts["strategy_errors"] += 1
            return None
        return out

    def _store_failed(self, reasons: list[ContentReason]) -> None:
        self.counts["store_errors"] += 1
        if ContentReason.STORE_UNAVAILABLE not in reasons:
            reasons.append(ContentReason.STORE_UNAVAILABLE)

    def _fallback(  # noqa: PLR0917 - private, called with the decision's state
        self,
        visitor: Any,
        placement: Placement,
        catalog: Catalog,
        decision_id: str,
        reasons: list[ContentReason],
        holdout: bool,
        where: tuple[str | None, str | None],
    ) -> Generator[tuple[Any, ...], Any, Decision]:
        item = catalog.get(placement.fallback) if placement.fallback else None
        if item is None:
            self.counts["empty"] += 1
            return Decision(
                placement.name, (), placement.strategy, decision_id, holdout,
                (*reasons, ContentReason.EMPTY), where[1],
            )
        if not holdout:
            self.counts["fallbacks"] += 1
            reasons = [*reasons, ContentReason.FALLBACK]
        decision = Decision(
            placement.name,
            (DecisionItem(item.id, item.payload, 0, tuple(reasons), None, item.name),),
            placement.strategy,
            decision_id,
            holdout,
            tuple(reasons),
            where[1],
        )
        yield from self._expose(visitor, placement, decision, [item], where[0])
        return decision

    # -- exposures, clicks, rewards ----------------------------------------------------------

    def _props(
        self, decision: Decision, item: ContentItem, position: int, country: str | None = None
    ) -> dict[str, Any]:
        props = {
            "promotion_id": item.id,
            "creative": item.metadata.get("creative", item.type or item.id),
            "name": item.name,
            "position": decision.placement,
            "index": position,
            "placement": decision.placement,
            "strategy": decision.strategy,
            "decision_id": decision.decision_id,
            "holdout": decision.holdout,
            "segment": decision.segment,
        }
        if item.campaign:
            props["campaign"] = item.campaign
        if country:
            props["country"] = country
        return props

    def _expose(
        self,
        visitor: Any,
        placement: Placement,
        decision: Decision,
        items: list[ContentItem],
        country: str | None,
    ) -> Generator[tuple[Any, ...], Any, None]:
        # Each (visitor, placement, item) is logged once (the dedupe memory experiments
        # use); a bandit counts the exposure as a trial, and a conversion-rewarded bandit
        # remembers what the visitor saw, to credit it when the conversion comes.
        hooks = self.hooks
        uid, aid = visitor.user_id, visitor.anonymous_id
        bandit = placement.strategy == "bandit" and not decision.holdout and decision.segment
        for pos, item in enumerate(items):
            if not hooks.first_exposure(("content", uid, aid, placement.name, item.id)):
                continue
            self.counts["exposures"] += 1
            try:
                visitor.track(
                    EXPOSURE_EVENT, properties=self._props(decision, item, pos, country)
                )
            except Exception:
                self.counts["track_errors"] += 1
            if bandit and item.id != placement.fallback:
                try:
                    yield (_ADD, f"bandit:{placement.name}:{decision.segment}", f"{item.id}|n")
                    if placement.config.bandit.reward != "click" and (uid or aid):
                        yield (
                            _INCR,
                            f"seen:{placement.name}:{uid or aid}",
                            f"{item.id}|{decision.segment}",
                        )
                except Exception:
                    self.counts["store_errors"] += 1

    def click(self, visitor: Any, decision: Decision, item_id: str | None) -> str | None:
        """Log ``Promotion Clicked`` for an item of ``decision`` (the first by default),
        once per decision and item; returns its message id (None for a repeat)."""
        item = next(
            (i for i in decision.items if item_id is None or i.id == item_id), None
        )
        if item is None:
            raise ValueError(f"item {item_id!r} is not in decision {decision.decision_id}")
        if not self.hooks.first_exposure(("click", decision.decision_id, item.id)):
            return None
        found = self.catalog.get(item.id)
        props = (
            self._props(decision, found, item.position)
            if found is not None
            else {"promotion_id": item.id, "placement": decision.placement,
                  "decision_id": decision.decision_id, "segment": decision.segment}
        )
        return visitor.track(CLICK_EVENT, properties=props)  # type: ignore[no-any-return]

    def observe(self, event: str, properties: Mapping[str, Any], user_id: str | None,
                anonymous_id: str | None) -> None:
        """Update bandit statistics from a watched event (on the thread that tracked it)."""
        try:
            if event == CLICK_EVENT:
                self._clicked(properties)
            for placement in self._rewards.get(event, ()):
                self._converted(placement, user_id, anonymous_id)
        except Exception:
            self.counts["store_errors"] += 1

    def _clicked(self, props: Mapping[str, Any]) -> None:
        name, item_id = props.get("placement"), props.get("promotion_id")
        placement = self.placements.get(name) if isinstance(name, str) else None
        if placement is None or not isinstance(item_id, str):
            return
        self.counts["clicks"] += 1
        if placement.strategy != "bandit" or placement.config.bandit.reward != "click":
            return
        if props.get("holdout") or item_id == placement.fallback:
            return
        segment = props.get("segment") or "*"
        if not isinstance(segment, str) or (segment != "*" and segment not in placement.segments):
            segment = "*"
        decision_id = props.get("decision_id")
        if decision_id is not None and not self.hooks.first_exposure(
            ("reward", decision_id, item_id)
        ):
            return  # a duplicate click (a beacon retried, a double tap) rewards once
        self._add(f"bandit:{placement.name}:{segment}", f"{item_id}|s")

    def _ids(self, user_id: str | None, anonymous_id: str | None) -> list[str]:
        # the conversion's ids and every id linked to them: an exposure seen as anonymous
        # is credited by a conversion tracked under the user id after a login
        ids = dict.fromkeys(i for i in (user_id, anonymous_id) if i)
        if self.aliases is not None:
            for i in list(ids):
                ids.update(dict.fromkeys(sorted(self.aliases(i))))
        return list(ids)

    def _converted(
        self, placement: Placement, user_id: str | None, anonymous_id: str | None
    ) -> None:
        for ident in self._ids(user_id, anonymous_id):
            key = f"seen:{placement.name}:{ident}"
            seen = self.store.get_all(key)
            if not seen:
                continue
            self.store.delete(key)  # each exposure is credited with one conversion at most
            self.counts["conversions"] += 1
            for field in seen:
                item_id, _, segment = field.rpartition("|")
                self._add(f"bandit:{placement.name}:{segment}", f"{item_id}|s")

    def _add(self, key: str, field: str) -> None:
        # bandit statistics are only read back in bulk (``get_all``): a store offering
        # ``add`` may batch these increments with its next round trip
        add = getattr(self.store, "add", None)
        if add is not None:
            add(key, field, 1.0)
        else:
            self.store.incr(key, field)

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


