"""``DecisionFlow``: a content decision as a sans-I/O generator, shared by
``ContentRuntime.decide`` and ``adecide`` (which drive its counter store calls).

A part of ``ContentRuntime`` (its base class), kept apart from building and feeds.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any

from ..events import new_message_id
from ._catalog import Catalog, ContentItem
from ._decision import ContentReason, Decision, DecisionItem
from ._enrichers import Enrichment
from ._exposures import ExposureLog
from ._placements import Placement
from ._store_ops import ADD as _ADD
from ._store_ops import GET_ALL as _GET_ALL
from ._store_ops import HIT as _HIT
from ._store_ops import INCR as _INCR
from ._strategies import ordered, unit_hash, weighted_draws

__all__ = ["DecisionFlow"]

def _live(item: ContentItem, now: float, attrs: Mapping[str, Any]) -> bool:
    # dates and locale, for the items that have any
    if not item.start <= now < item.end:
        return False
    if item.locale is None:
        return True
    locale = attrs.get("locale")
    return isinstance(locale, str) and locale.startswith(item.locale)


def _exit(out: list[Decision] | None, decision: Decision) -> Decision | None:
    # how the flow returns a decision (see ``DecisionFlow._flow``)
    if out is None:
        return decision
    out.append(decision)
    return None


class DecisionFlow(ExposureLog):
    """The decision of a ``ContentRuntime`` (which sets the state below)."""

    clock: Callable[[], float]
    enrich: Enrichment | None
    _started: bool

    def _start(self) -> None:
        raise NotImplementedError  # ContentRuntime's: starts the feed poller

    def _flow(
        self,
        visitor: Any,
        name: str,
        n: int | None,
        attrs: Mapping[str, Any],
        out: list[Decision] | None,
    ) -> Generator[tuple[Any, ...], Any, Decision | None]:
        # The decision, sans I/O: each counter store call is yielded as an operation
        # (``_HIT``, ``_INCR``, ``_GET_ALL`` and its arguments) and its result (or its
        # exception) sent back, so ``decide`` and ``adecide`` share every line of it.
        # ``out`` given (``decide``): each call is made here instead, as ``decide`` would make
        # it (``_call``), so the sync path never leaves this frame, and the decision is put in
        # ``out`` (the flow returns None: a generator returning None ends without raising
        # StopIteration for ``next(flow, None)``).
        # long: the per-decide hot path in one generator: a helper generator adds a frame per call
        sync = out is not None
        counts = self.counts
        counts["decisions"] += 1
        if not self._started:
            self._start()
        placement = self.placements.get(name)
        decision_id = new_message_id()
        if placement is None:
            counts["unknown_placement"] += 1
            return _exit(out, Decision(
                name, (), "", decision_id, reasons=(ContentReason.UNKNOWN_PLACEMENT,)
            ))
        want = placement.n if n is None else max(1, n)
        store = self.store
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
        # the visitor's hash key (``visitor.id``: its profile's canonical id) is read only
        # where a hash is taken: a visitor's profile may be built on first read
        holdout = placement.holdout
        if holdout and unit_hash(f"holdout:{name}:{visitor.id or ''}") < holdout:
            counts["holdouts"] += 1
            return _exit(out, (yield from self._fallback(
                visitor, placement, catalog, decision_id, [ContentReason.HOLDOUT], True, where,
                sync,
            )))
        uid = visitor.user_id or visitor.anonymous_id
        if placement.placement_caps and uid is not None:
            for limit, window in placement.placement_caps:
                key = f"cap:placement:{name}:{uid}"
                try:
                    hit = (
                        store.window_hit(key, now=now, window=window, limit=limit)
                        if sync else (yield (_HIT, key, now, window, limit))
                    )
                except Exception:  # fail closed: a cap is never exceeded for a store failure
                    self._store_failed(reasons)
                    hit = False
                if not hit:
                    counts["capped"] += 1
                    if ContentReason.CAPPED not in reasons:
                        reasons.append(ContentReason.CAPPED)
                    return _exit(out, (yield from self._fallback(
                        visitor, placement, catalog, decision_id, reasons, False, where, sync
                    )))
        items, statics = placement.candidates(catalog)
        if not items:
            return _exit(out, (yield from self._fallback(
                visitor, placement, catalog, decision_id, reasons, False, where, sync
            )))
        # first_match and bandit order every candidate without reading the visitor, so
        # eligibility (dates, locale, the audience condition) is checked lazily, best first:
        # most decisions evaluate one condition. weighted and score need the eligible set.
        checked = placement.checked
        ranked: Any
        if checked:
            eligible = [
                it
                for it in items
                if (it.plain or _live(it, now, attrs)) and (it.always or it.condition(attrs))
            ]
            if not eligible:
                return _exit(out, (yield from self._fallback(
                    visitor, placement, catalog, decision_id, reasons, False, where, sync
                )))
            vkey = visitor.id or ""
            if strategy == "weighted":
                ranked = weighted_draws(eligible, name, vkey)
            elif placement.custom is not None:
                ranked = self._custom(placement, eligible, attrs, vkey)
                if ranked is None:
                    reasons.append(ContentReason.STRATEGY_ERROR)
                    return _exit(out, (yield from self._fallback(
                        visitor, placement, catalog, decision_id, reasons, False, where, sync
                    )))
            else:
                assert placement.scorer is not None
                scores = placement.scorer.scores(eligible, statics, attrs)
                ranked = ordered(eligible, scores, vkey)
        elif strategy == "first_match":
            ranked = placement.unscored(items)
        else:
            assert segment is not None
            arms = placement.arms_for(segment)
            # one caller refreshes the draws when due, the others go on with the last ones
            if arms.due(now, items) and arms.lock.acquire(blocking=False):
                try:
                    arms.refreshing(now)
                    try:
                        raw = store.get_all(arms.key) if sync else (yield (_GET_ALL, arms.key))
                    except Exception:
                        self._store_failed(reasons)
                    else:
                        arms.refresh(raw, items)
                finally:
                    arms.lock.release()
            # a column sorted once per refresh; with ties, the visitor's hash breaks them
            ranked = arms.ranked(items) or ordered(items, arms.draws(items), visitor.id or "")
        item_caps = placement.item_caps if uid is not None else ()
        chosen: list[tuple[ContentItem, float | None]] = []
        for item, score in ranked:
            if not checked and not (
                (item.plain or _live(item, now, attrs))
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
                        allowed = bool(
                            store.window_hit(key, now=now, window=window, limit=limit)
                            if sync else (yield (_HIT, key, now, window, limit))
                        )
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
            return _exit(out, (yield from self._fallback(
                visitor, placement, catalog, decision_id, reasons, False, where, sync
            )))
        why = placement.why if not reasons else (placement.why[0], *reasons)
        if len(chosen) == 1:  # the usual n = 1
            it, score = chosen[0]
            shown: tuple[DecisionItem, ...] = (
                DecisionItem(it.id, it.payload, 0, why, score, it.name),
            )
        else:
            shown = tuple([
                DecisionItem(it.id, it.payload, pos, why, score, it.name)
                for pos, (it, score) in enumerate(chosen)
            ])
        decision = Decision(
            name,
            shown,
            strategy,
            decision_id,
            False,
            why,
            segment,
        )
        later = self._log(visitor, placement, decision, [it for it, _ in chosen], where[0])
        if later:
            yield from self._later(later, sync)
        return _exit(out, decision)

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
        sync: bool,
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
        later = self._log(visitor, placement, decision, [item], where[0])
        if later:
            yield from self._later(later, sync)
        return decision

    def _later(
        self, later: list[tuple[tuple[Any, ...], ...]], sync: bool
    ) -> Generator[tuple[Any, ...], Any, None]:
        # the bandit's store operations of each exposure (``_log``); a failure skips the
        # rest of that exposure's
        for ops in later:
            try:
                for op in ops:
                    if sync:
                        self._call(op)
                    else:
                        yield op
            except Exception:
                self.counts["store_errors"] += 1

    def _call(self, op: tuple[Any, ...]) -> Any:
        """Make the counter store call ``op`` synchronously (``decide``'s way)."""
        kind, store = op[0], self.store
        if kind is _HIT:
            return store.window_hit(op[1], now=op[2], window=op[3], limit=op[4])
        if kind is _INCR:
            return store.incr(op[1], op[2])
        if kind is _ADD:
            self._add(op[1], op[2])
            return None
        return store.get_all(op[1])
