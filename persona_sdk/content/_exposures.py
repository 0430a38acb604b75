"""``ExposureLog``: what a content runtime logs and learns after deciding: exposures,
clicks and the bandit rewards they and conversions bring.

A part of ``ContentRuntime`` (its base class), kept apart from the decision itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._catalog import Catalog, ContentItem
from ._decision import Decision
from ._placements import Placement
from ._store_ops import ADD as _ADD
from ._store_ops import INCR as _INCR

__all__ = ["CLICK_EVENT", "EXPOSURE_EVENT", "ExposureLog"]

#: Segment's e-commerce spec names
EXPOSURE_EVENT = "Promotion Viewed"
CLICK_EVENT = "Promotion Clicked"


class ExposureLog:
    """Exposures, clicks and rewards of a ``ContentRuntime`` (which sets the state below)."""

    placements: dict[str, Placement]
    catalog: Catalog
    store: Any
    hooks: Any
    counts: dict[str, int]
    aliases: Callable[[str], Iterable[str]] | None
    _rewards: dict[str, list[Placement]]

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

    def _log(
        self,
        visitor: Any,
        placement: Placement,
        decision: Decision,
        items: list[ContentItem],
        country: str | None,
    ) -> list[tuple[tuple[Any, ...], ...]]:
        """Log the exposures of ``decision``; returns the store operations left for the
        decision's driver, one group per exposure (``[]`` when none are)."""
        # Each (visitor, placement, item) is logged once (the dedupe memory experiments
        # use); a bandit counts the exposure as a trial, and a conversion-rewarded bandit
        # remembers what the visitor saw, to credit it when the conversion comes.
        hooks = self.hooks
        uid, aid = visitor.user_id, visitor.anonymous_id
        bandit = placement.strategy == "bandit" and not decision.holdout and decision.segment
        # the visitor's persona's own exposure path (``persona_sdk.decisions`` ``Exposer``,
        # its ``expose``: deduplicated here, the event built off this thread); without one,
        # ``visitor.track``
        lane = getattr(visitor, "_expose", None)
        expose = None if lane is None else lane.expose
        add = getattr(self.store, "add", None)
        later: list[tuple[tuple[Any, ...], ...]] = []
        counts = self.counts
        for pos, item in enumerate(items):
            if not hooks.first_exposure(("content", uid, aid, placement.name, item.id)):
                continue
            counts["exposures"] += 1
            props = self._props(decision, item, pos, country)
            try:
                # a creative other than a string (a number from a feed) is checked by track
                if expose is not None and props["creative"].__class__ is str:
                    expose(EXPOSURE_EVENT, aid, uid, props, visitor.consent, visitor.gpc)
                else:
                    visitor.track(EXPOSURE_EVENT, properties=props)
            except Exception:
                counts["track_errors"] += 1
            if bandit and item.id != placement.fallback:
                trial = (_ADD, f"bandit:{placement.name}:{decision.segment}", f"{item.id}|n")
                if placement.config.bandit.reward != "click" and (uid or aid):
                    seen = (
                        _INCR, f"seen:{placement.name}:{uid or aid}",
                        f"{item.id}|{decision.segment}",
                    )
                    later.append((trial, seen))
                elif add is not None:
                    # what both drivers do with a store that queues increments: no I/O
                    try:
                        add(trial[1], trial[2], 1.0)
                    except Exception:
                        counts["store_errors"] += 1
                else:
                    later.append((trial,))
        return later

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
