"""Placements and strategies: first_match, weighted, score, bandit, holdout and fallback,
exposures and clicks as Segment's Promotion Viewed / Promotion Clicked."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from content_support import Clock, promotion_events

import persona_sdk as ps
import persona_sdk.plugins

ITEMS = [
    {"id": "a", "priority": 1, "weight": 1, "categories": ["shoes"], "payload": {"t": "a"}},
    {"id": "b", "priority": 5, "weight": 3, "categories": ["bags"], "condition": {"country": "FR"}},
    {"id": "c", "priority": 3, "weight": 0, "categories": ["hats", "shoes"], "locale": "de"},
    {"id": "old", "priority": 9, "end": "2020-01-01T00:00:00Z"},
    {"id": "fallback", "payload": {"t": "default"}},
]
Make = Callable[..., Any]


class _Stub:
    """An item-like object that is no catalog item (what a sloppy plugin might yield)."""

    id = "old"


ITEMS_BY_ID = {"old": _Stub()}


def _persona(make: Make, placement: dict[str, Any], **kwargs: Any) -> Any:
    persona, capture = make(
        {"content": ITEMS, "placements": {"p": {"items": ["a", "b", "c", "old"], **placement}}},
        **kwargs,
    )
    return persona, capture


def test_first_match_takes_the_highest_priority_eligible_item(make_persona: Make) -> None:
    """first_match orders by priority; conditions, dates and locale decide eligibility."""
    persona, _ = _persona(make_persona, {"strategy": "first_match", "n": 3})
    fr = persona.visitor(anonymous_id="v1", attributes={"country": "FR", "locale": "de-AT"})
    d = fr.decide("p")
    assert d.ids() == ["b", "c", "a"]  # "old" ended in 2020
    assert d.strategy == "first_match"
    assert d.holdout is False
    assert d.decision_id
    assert d.items[0].reasons == (ps.ContentReason.FIRST_MATCH,)
    other = persona.visitor(anonymous_id="v2", attributes={"locale": "fr"})
    assert other.decide("p", n=2).ids() == ["a"]


def test_decisions_are_made_once_per_visitor(make_persona: Make) -> None:
    """A visitor's decide is memoized: the same Decision, one exposure."""
    persona, capture = _persona(make_persona, {"strategy": "first_match"})
    v = persona.visitor(anonymous_id="v1")
    assert v.decide("p") is v.decide("p")
    persona.flush()
    assert len(promotion_events(capture, "Promotion Viewed")) == 1


def test_weighted_is_sticky_and_follows_weights(make_persona: Make) -> None:
    """weighted draws by weight through the visitor's hash: the same visitor gets the same
    item on every request; across visitors the shares follow the weights (0 never)."""
    persona, _ = _persona(make_persona, {"strategy": "weighted"})
    attrs = {"country": "FR", "locale": "de"}
    first = [persona.visitor(anonymous_id=f"v{i}", attributes=attrs).decide("p").ids()[0]
             for i in range(2000)]
    again = [persona.visitor(anonymous_id=f"v{i}", attributes=attrs).decide("p").ids()[0]
             for i in range(2000)]
    assert first == again
    shares = Counter(first)
    assert "c" not in shares  # weight 0
    assert 0.70 < shares["b"] / 2000 < 0.80  # 3 / (1 + 3)


def test_score_adds_points_from_an_affinity_trait_and_conditions(make_persona: Make) -> None:
    """score rules read any visitor attribute (a computed category affinity here) against an
    item field, and add points when visitor and item conditions hold."""
    persona, _ = _persona(
        make_persona,
        {
            "strategy": "score", "n": 3,
            "scoring": [
                {"attribute": "category_affinity", "field": "categories", "points": 10},
                {"when": {"device": "mobile"}, "item": {"priority": {"$gte": 5}}, "points": 20},
            ],
        },
    )
    affinity = {"shoes": 0.9, "hats": 0.5, "bags": 0.2}
    attrs = {"country": "FR", "locale": "de", "category_affinity": affinity}
    d = persona.visitor(anonymous_id="v1", attributes=attrs).decide("p")
    assert d.ids() == ["c", "a", "b"]  # hats + shoes, shoes, bags
    assert [i.score for i in d.items] == [pytest.approx(14.0), pytest.approx(9.0),
                                         pytest.approx(2.0)]
    mobile = persona.visitor(anonymous_id="v1", attributes={**attrs, "device": "mobile"})
    assert mobile.decide("p").ids()[0] == "b"  # 2 + 20


def test_score_ties_are_broken_by_the_visitor_hash(make_persona: Make) -> None:
    """Equal scores order by the visitor's hash: stable per visitor, spread across them."""
    persona, _ = _persona(make_persona, {"strategy": "score", "scoring": []})
    attrs = {"country": "FR", "locale": "de"}
    firsts = Counter(
        persona.visitor(anonymous_id=f"v{i}", attributes=attrs).decide("p").ids()[0]
        for i in range(300)
    )
    assert set(firsts) == {"a", "b", "c"}
    assert min(firsts.values()) > 60
    v = [persona.visitor(anonymous_id="same", attributes=attrs).decide("p").ids()
         for _ in range(3)]
    assert v[0] == v[1] == v[2]


def test_holdout_is_sticky_and_gets_the_fallback(make_persona: Make) -> None:
    """A holdout share of visitors (sticky by hash) gets the fallback, flagged holdout, and
    its exposure says so."""
    persona, capture = _persona(make_persona, {"holdout": 0.2, "fallback": "fallback"})
    held = [persona.visitor(anonymous_id=f"v{i}").decide("p") for i in range(1000)]
    holdouts = [d for d in held if d.holdout]
    assert 150 < len(holdouts) < 250
    assert all(d.ids() == ["fallback"] and d.reasons == (ps.ContentReason.HOLDOUT,)
               for d in holdouts)
    same = [persona.visitor(anonymous_id=f"v{i}").decide("p").holdout for i in range(1000)]
    assert same == [d.holdout for d in held]
    persona.flush()
    viewed = promotion_events(capture, "Promotion Viewed")
    assert sum(1 for e in viewed if e["properties"]["holdout"]) == len(holdouts)


def test_fallback_when_nothing_is_eligible_and_empty_without_one(make_persona: Make) -> None:
    """Nothing eligible gives the fallback (reason FALLBACK), or no items (EMPTY)."""
    persona, _ = make_persona(
        {"content": ITEMS, "placements": {
            "with": {"items": ["b"], "fallback": "fallback"},
            "without": {"items": ["b"]}}}
    )
    v = persona.visitor(anonymous_id="v1")
    assert v.decide("with").ids() == ["fallback"]
    assert v.decide("with").reasons == (ps.ContentReason.FALLBACK,)
    assert v.decide("without").items == ()
    assert v.decide("without").payload is None
    assert v.decide("without").reasons == (ps.ContentReason.EMPTY,)
    assert v.decide("nope").reasons == (ps.ContentReason.UNKNOWN_PLACEMENT,)


def test_exposures_and_clicks_follow_the_segment_ecommerce_spec(make_persona: Make) -> None:
    """Promotion Viewed / Promotion Clicked carry promotion_id, creative, name, position
    and the decision's id; each is logged once and follows the visitor's consent."""
    persona, capture = make_persona(
        {"content": [{"id": "x", "name": "Summer", "metadata": {"creative": "hero_v2"}}],
         "placements": {"home-hero": {"items": ["x"]}}}
    )
    v = persona.visitor(anonymous_id="a-1", consent={"analytics": True})
    d = v.decide("home-hero")
    assert v.click(d) is not None
    assert v.click(d) is None  # once per decision and item
    persona.flush()
    viewed = promotion_events(capture, "Promotion Viewed")
    clicked = promotion_events(capture, "Promotion Clicked")
    assert len(viewed) == 1
    assert len(clicked) == 1
    props = viewed[0]["properties"]
    assert {k: props[k] for k in ("promotion_id", "creative", "name", "position")} == {
        "promotion_id": "x", "creative": "hero_v2", "name": "Summer", "position": "home-hero"}
    assert props["decision_id"] == d.decision_id == clicked[0]["properties"]["decision_id"]
    assert viewed[0]["anonymousId"] == "a-1"
    assert viewed[0]["context"]["consent"] == {"categoryPreferences": {"analytics": True}}
    again = persona.visitor(anonymous_id="a-1")
    again.decide("home-hero")
    persona.flush()
    assert len(promotion_events(capture, "Promotion Viewed")) == 1  # deduplicated


def test_feature_placements_keep_working(make_persona: Make) -> None:
    """A decisions.placements entry still gives its feature's value (as .value), with the
    feature's result."""
    persona, _ = make_persona(
        {"features": {"banner": {"defaultValue": {"t": "b"}}},
         "decisions": {"placements": {"top": "banner"}}}
    )
    d = persona.visitor(anonymous_id="v").decide("top")
    assert d.value == {"t": "b"}
    assert d.strategy == "feature"
    assert d.feature.key == "banner"


def _simulate(persona: Any, clock: Clock, rates: dict[str, float], visitors: int, *,
              reward: Callable[[Any, Any], None], attrs: dict[str, Any] | None = None,
              seed: int = 7) -> Counter[str]:
    rng = random.Random(seed)
    shown: Counter[str] = Counter()
    for i in range(visitors):
        clock.now += 1.0
        v = persona.visitor(anonymous_id=f"sim-{seed}-{i}", attributes=attrs)
        d = v.decide("hero")
        item = d.ids()[0]
        shown[item] += 1
        if rng.random() < rates[item]:
            reward(v, d)
    return shown


def test_bandit_learns_the_best_creative_from_clicks(make_persona: Make, clock: Clock) -> None:
    """Thompson sampling over clicks sends most traffic to the creative clicked most, and
    its statistics live in the counter store."""
    rates = {"h1": 0.02, "h2": 0.04, "h3": 0.15, "h4": 0.05}
    persona, _ = make_persona(
        {"content": [{"id": k} for k in rates],
         "placements": {"hero": {"strategy": "bandit", "items": list(rates),
                                 "bandit": {"refresh": 0}}}}
    )
    shown = _simulate(persona, clock, rates, 3000, reward=lambda v, d: v.click(d))
    late = _simulate(persona, clock, rates, 500, reward=lambda v, d: v.click(d), seed=8)
    assert late["h3"] / 500 >= 0.7, (shown, late)
    stats = persona.counter_store.get_all("bandit:hero:*")
    assert stats["h3|n"] == shown["h3"] + late["h3"]
    assert stats["h3|s"] > stats.get("h1|s", 0.0)


def test_bandit_learns_from_a_conversion_event_per_segment(
    make_persona: Make, clock: Clock
) -> None:
    """reward = an event name credits the items the visitor was shown; segments keep their
    own statistics (the best item differs by segment)."""
    vip_rates = {"h1": 0.3, "h2": 0.02}
    std_rates = {"h1": 0.02, "h2": 0.3}
    persona, _ = make_persona(
        {"content": [{"id": "h1"}, {"id": "h2"}],
         "segments": {"vip": {"condition": {"tier": "gold"}}},
         "placements": {"hero": {"strategy": "bandit", "items": ["h1", "h2"],
                                 "bandit": {"reward": "Order Completed",
                                            "segments": ["vip"], "refresh": 0}}}}
    )

    def buy(v: Any, d: Any) -> None:
        v.track("Order Completed", properties={"revenue": 10})
        v.track("Order Completed", properties={"revenue": 10})  # credited once

    _simulate(persona, clock, vip_rates, 1500, reward=buy, attrs={"tier": "gold"})
    _simulate(persona, clock, std_rates, 1500, reward=buy, attrs={"tier": "none"}, seed=9)
    vip = persona.counter_store.get_all("bandit:hero:vip")
    std = persona.counter_store.get_all("bandit:hero:*")
    assert vip["h1|n"] > vip["h2|n"]
    assert std["h2|n"] > std["h1|n"]
    assert vip["h1|s"] <= vip["h1|n"]
    assert persona.stats()["content"]["conversions"] == vip["h1|s"] + vip.get("h2|s", 0) + \
        std.get("h1|s", 0) + std["h2|s"]


def test_a_conversion_after_login_credits_the_anonymous_exposure(make_persona: Make) -> None:
    """The visitor saw the hero as anonymous, logged in (``identify`` links the ids), then
    the order is tracked under the user id only (a server-side event): the bandit credits
    the item the visitor saw, once. Another user's order credits nothing."""
    persona, _ = make_persona(
        {"content": [{"id": "h1"}],
         "placements": {"hero": {"strategy": "bandit", "items": ["h1"],
                                 "bandit": {"reward": "Order Completed"}}}}
    )
    seen = persona.visitor(anonymous_id="anon-1").decide("hero")
    assert seen.ids() == ["h1"]
    persona.track("Order Completed", user_id="u-2")  # never linked to anon-1
    assert persona.counter_store.get_all("bandit:hero:*") == {"h1|n": 1.0}
    persona.identify(user_id="u-1", anonymous_id="anon-1")
    persona.track("Order Completed", user_id="u-1")
    persona.track("Order Completed", user_id="u-1")  # the exposure is credited once
    assert persona.counter_store.get_all("bandit:hero:*") == {"h1|n": 1.0, "h1|s": 1.0}
    assert persona.stats()["content"]["conversions"] == 1


def test_duplicate_click_beacons_reward_once(make_persona: Make) -> None:
    """A click tracked twice (a beacon retried through the collector) rewards the bandit
    once."""
    persona, _ = make_persona(
        {"content": [{"id": "h1"}],
         "placements": {"hero": {"strategy": "bandit", "items": ["h1"]}}}
    )
    v = persona.visitor(anonymous_id="v")
    d = v.decide("hero")
    click = {"placement": "hero", "promotion_id": "h1", "decision_id": d.decision_id,
             "segment": "*"}
    for _ in range(2):
        persona.ingest({"type": "track", "event": "Promotion Clicked", "anonymousId": "v",
                        "properties": click})
    assert persona.counter_store.get_all("bandit:hero:*") == {"h1|n": 1.0, "h1|s": 1.0}


def test_async_decide(make_persona: Make) -> None:
    """adecide returns what decide does."""
    import asyncio

    persona, _ = _persona(make_persona, {"strategy": "first_match"})

    async def run() -> Any:
        v = await persona.avisitor(anonymous_id="v1", attributes={"country": "FR"})
        return await v.adecide("p")

    assert asyncio.run(run()).ids() == ["b"]


def test_a_plugin_strategy_ranks_the_eligible_items(make_persona: Make) -> None:
    """A Strategy passed to Persona ranks the eligible items (ineligible or repeated ones it
    yields are ignored); one that raises gives the fallback, counted."""

    class Cheapest:
        def rank(self, items: Any, attributes: Any, visitor_key: str) -> Any:
            yield ITEMS_BY_ID["old"], 0.0  # not eligible: ignored
            for it in sorted(items, key=lambda it: it.metadata.get("price", 0)):
                yield it, -it.metadata.get("price", 0)
                yield it, 0.0  # a repeat: ignored

    class Broken:
        def rank(self, items: Any, attributes: Any, visitor_key: str) -> Any:
            raise RuntimeError("boom")

    assert isinstance(Cheapest(), ps.plugins.Strategy)
    content = [
        {"id": "x", "metadata": {"price": 30}}, {"id": "y", "metadata": {"price": 10}},
        {"id": "z", "metadata": {"price": 20}}, {"id": "old", "end": 1}, {"id": "fb"},
    ]
    persona, _ = make_persona(
        {"content": content, "placements": {
            "cheap": {"strategy": "cheapest", "items": ["x", "y", "z", "old"], "n": 2},
            "broken": {"strategy": "broken", "items": ["x"], "fallback": "fb"}}},
        strategies={"cheapest": Cheapest(), "broken": Broken()},
    )
    v = persona.visitor(anonymous_id="v")
    d = v.decide("cheap")
    assert d.ids() == ["y", "z"]
    assert d.reasons == (ps.ContentReason.STRATEGY,)
    assert d.items[0].score == -10.0
    b = v.decide("broken")
    assert b.ids() == ["fb"]
    assert b.reasons == (ps.ContentReason.STRATEGY_ERROR, ps.ContentReason.FALLBACK)
    assert persona.stats()["content"]["strategy_errors"] == 1
