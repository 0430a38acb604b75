"""``ContentRuntime``: a container's catalog, placements and feeds, deciding for visitors.

One runtime per container (rebuilt on reload); the counter store and the exposure dedupe
memory belong to the ``Persona`` and outlive it. ``decide`` reads the current catalog by
reference (feeds swap it whole), so it takes no lock of its own; the counter store's calls
are its only shared state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from .._errors import ConfigError
from .._stats import ContentStats
from ..events import new_message_id
from ._catalog import Catalog, ContentItem, build_catalog, parse_items
from ._config import ContextConfig, PlacementConfig, SourceConfig
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
    ) -> None:
        self.placements = placements
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
    ) -> ContentRuntime:
        """Check and compile ``[[content]]``, ``[placements.*]`` and
        ``[content_sources.*]``; ``ConfigError`` lists every problem with its path."""
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
        return cls(
            container_items=items,
            placements=compiled,
            sources=built,
            store=store,
            clock=clock,
            hooks=hooks,
            operators=operators,
            saved_groups=saved_groups,
            enrich=enrich,
        )

    # -- catalog and feeds -------------------------------------------------------------------

    def _on_feed(self, parts: Sequence[Sequence[ContentItem]]) -> list[str]:
        # The poller's thread: a new catalog from the container's items and every source's
        # last good items, swapped whole.
        with self._swap_lock:
            self._version += 1
            catalog, errors = build_catalog([self._container_items, *parts], self._version)
            self.catalog = catalog
        return errors

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
        condition attributes are ``attrs``."""
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
        if placement.holdout and unit_hash(f"holdout:{name}:{vkey}") < placement.holdout:
            counts["holdouts"] += 1
            return self._fallback(
                visitor, placement, catalog, decision_id, [ContentReason.HOLDOUT], True
            )
        now = self.clock()
        if self.enrich is not None:
            attrs = self.enrich(attrs, now)
        store = self.store
        uid = visitor.user_id or visitor.anonymous_id
        if placement.placement_caps and uid is not None:
            for limit, window in placement.placement_caps:
                if not self._hit(f"cap:placement:{name}:{uid}", now, window, limit, reasons):
                    counts["capped"] += 1
                    if ContentReason.CAPPED not in reasons:
                        reasons.append(ContentReason.CAPPED)
                    return self._fallback(
                        visitor, placement, catalog, decision_id, reasons, False
                    )
        items, statics = placement.candidates(catalog)
        if not items:
            return self._fallback(visitor, placement, catalog, decision_id, reasons, False)
        locale = attrs.get("locale")
        if not isinstance(locale, str):
            locale = None
        segment = None
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
                return self._fallback(visitor, placement, catalog, decision_id, reasons, False)
            if strategy == "weighted":
                ranked = weighted_draws(eligible, name, vkey)
            elif placement.custom is not None:
                ranked = self._custom(placement, eligible, attrs, vkey)
                if ranked is None:
                    reasons.append(ContentReason.STRATEGY_ERROR)
                    return self._fallback(
                        visitor, placement, catalog, decision_id, reasons, False
                    )
            else:
                assert placement.scorer is not None
                scores = placement.scorer.scores(eligible, statics, attrs)
                ranked = ordered(eligible, scores, vkey)
        elif strategy == "first_match":
            ranked = ((it, None) for it in items)
        else:
            segment = "*"
            if placement.segments:
                member = visitor.segments
                segment = next((s for s in placement.segments if s in member), "*")
            arms = placement.arms_for(segment)
            try:
                arms.pools_for(now, store, items)
            except Exception:
                self._store_failed(reasons)
            ranked = ordered(items, arms.draws(items), vkey)
        item_caps = placement.item_caps if uid is not None else ()
        chosen: list[tuple[ContentItem, float | None]] = []
        for item, score in ranked:
            if not checked and not (
                (item.plain or _live(item, now, locale))
                and (item.always or item.condition(attrs))
            ):
                continue
            if item_caps and not self._item_allowed(item, uid, now, item_caps, reasons):
                continue
            chosen.append((item, score))
            if len(chosen) >= want:
                break
        if not chosen:
            return self._fallback(visitor, placement, catalog, decision_id, reasons, False)
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
        self._expose(visitor, placement, decision, [it for it, _ in chosen])
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

    def _hit(
        self, key: str, now: float, window: float, limit: int, reasons: list[ContentReason]
    ) -> bool:
        try:
            return bool(self.store.window_hit(key, now=now, window=window, limit=limit))
        except Exception:  # fail closed: a cap is never exceeded because the store failed
            self._store_failed(reasons)
            return False

    def _item_allowed(
        self,
        item: ContentItem,
        uid: str,
        now: float,
        caps: Sequence[tuple[str, int, float]],
        reasons: list[ContentReason],
    ) -> bool:
        for per, limit, window in caps:
            if per == "item":
                key = f"cap:item:{item.id}:{uid}"
            elif item.campaign is not None:
                key = f"cap:campaign:{item.campaign}:{uid}"
            else:
                continue
            if not self._hit(key, now, window, limit, reasons):
                self.counts["capped"] += 1
                if ContentReason.CAPPED not in reasons:
                    reasons.append(ContentReason.CAPPED)
                return False
        return True

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
    ) -> Decision:
        item = catalog.get(placement.fallback) if placement.fallback else None
        if item is None:
            self.counts["empty"] += 1
            return Decision(
                placement.name, (), placement.strategy, decision_id, holdout,
                (*reasons, ContentReason.EMPTY),
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
        )
        self._expose(visitor, placement, decision, [item])
        return decision

    # -- exposures, clicks, rewards ----------------------------------------------------------

    def _props(self, decision: Decision, item: ContentItem, position: int) -> dict[str, Any]:
        return {
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
            **({"campaign": item.campaign} if item.campaign else {}),
        }

    def _expose(
        self, visitor: Any, placement: Placement, decision: Decision, items: list[ContentItem]
    ) -> None:
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
                visitor.track(EXPOSURE_EVENT, properties=self._props(decision, item, pos))
            except Exception:
                self.counts["track_errors"] += 1
            if bandit and item.id != placement.fallback:
                try:
                    self._add(f"bandit:{placement.name}:{decision.segment}", f"{item.id}|n")
                    if placement.config.bandit.reward != "click" and (uid or aid):
                        self.store.incr(
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

    def _converted(
        self, placement: Placement, user_id: str | None, anonymous_id: str | None
    ) -> None:
        for ident in dict.fromkeys(i for i in (user_id, anonymous_id) if i):
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


