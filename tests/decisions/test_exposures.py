"""Exposures: the first time a visitor gets a variation, an ``Experiment Viewed`` event goes
through the tag layer (a real Persona, delivered to a capturing destination), once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from decisions_support import ab_rule

import persona_sdk as ps
from persona_sdk.decisions import HookSet, Visitor
from persona_sdk.testing import CaptureDestination

FEATURES = {"hero": {"defaultValue": "none", "rules": [ab_rule()]}}


@pytest.fixture
def capture() -> CaptureDestination:
    return CaptureDestination()


@pytest.fixture
def persona(capture: CaptureDestination) -> Iterator[ps.Persona]:
    container = {"features": FEATURES, "tags": [{"name": "all", "destination": "capture"}]}
    with ps.Persona(container, destinations={"capture": capture}) as p:
        yield p


def _viewed(capture: CaptureDestination) -> list[dict[str, Any]]:
    return [e for e in capture.events if e.get("event") == "Experiment Viewed"]


def test_first_exposure_is_tracked_with_segment_spec_names(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """Experiment Viewed carries experiment/variation ids and names, ids and consent."""
    visitor = persona.visitor(anonymous_id="a-1", user_id="u-1", consent={"analytics": True})
    result = visitor.feature("hero")
    assert result.variation is not None
    assert persona.flush(5.0)
    (event,) = _viewed(capture)
    assert event["anonymousId"] == "a-1"
    assert event["userId"] == "u-1"
    assert event["context"]["consent"]["categoryPreferences"] == {"analytics": True}
    assert event["properties"] == {
        "experiment_id": "hero-test",
        "experiment_name": "Hero test",
        "variation_id": result.variation.variation_key,
        "variation_name": result.variation.variation_name,
        "hash_attribute": "id",
        "feature_id": "hero",
    }


def test_exposures_are_deduplicated_per_visitor_experiment_variation(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """The same visitor seen again (a new Visitor object) logs no second exposure."""
    for _ in range(3):
        persona.visitor(anonymous_id="a-1").feature("hero")
        persona.visitor(anonymous_id="a-1").experiment("hero-test")
    persona.visitor(anonymous_id="a-2").feature("hero")
    assert persona.flush(5.0)
    assert [e["anonymousId"] for e in _viewed(capture)] == ["a-1", "a-2"]


def test_dedupe_memory_is_bounded() -> None:
    """The dedupe memory keeps max_exposures triples; the oldest are forgotten first."""
    hooks = HookSet(max_exposures=2)
    assert hooks.first_exposure("a")
    assert hooks.first_exposure("b")
    assert not hooks.first_exposure("a")  # "a" is now the most recent
    assert hooks.first_exposure("c")  # forgets "b"
    assert hooks.first_exposure("b")
    assert not hooks.first_exposure("c")
    stats = hooks.stats()
    assert (stats["remembered"], stats["exposures"], stats["deduplicated"]) == (2, 4, 2)


def test_dedupe_memory_forgets_in_bulk_and_keeps_the_recent() -> None:
    """A large memory forgets its least recently seen sixteenth at a time: it never holds
    more than max_exposures, and what was seen last (or seen again) is still remembered."""
    hooks = HookSet(max_exposures=64)
    for i in range(1_000):
        assert hooks.first_exposure(("v", i))
        if i % 10 == 0:
            assert not hooks.first_exposure(("v", 0))  # kept fresh, never forgotten
        assert hooks.stats()["remembered"] <= 64
    assert not hooks.first_exposure(("v", 0))
    assert all(not hooks.first_exposure(("v", i)) for i in range(990, 1_000))
    assert hooks.first_exposure(("v", 1))  # long forgotten: logged again


def test_forced_variations_are_not_exposures(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """A variation forced for QA is not logged as an exposure."""
    visitor = persona.visitor(anonymous_id="qa")
    engine_visitor = Visitor(
        engine=persona._runtime.engine,
        persona=persona,
        anonymous_id="qa",
        forced_variations={"hero-test": 1},
    )
    assert engine_visitor.get("hero", None) == "treatment"
    visitor.track("Page Seen")
    assert persona.flush(5.0)
    assert _viewed(capture) == []


def test_hooks_see_exposures_and_usage_and_failures_never_break() -> None:
    """on_exposure and on_feature_usage run; a failing hook is counted, never raised."""
    seen: list[str] = []

    def on_exposure(visitor: Visitor, result: Any) -> None:
        seen.append(result.experiment_key)
        raise RuntimeError("hook bug")

    def on_usage(visitor: Visitor, result: Any) -> None:
        raise ValueError("another bug")

    with ps.Persona(
        {"features": FEATURES}, on_exposure=on_exposure, on_feature_usage=on_usage
    ) as persona:
        value = persona.visitor(anonymous_id="a-1").get("hero", None)
        assert value in ("control", "treatment")
        assert seen == ["hero-test"]
        assert persona._hooks.stats()["hook_errors"] == 2


def test_a_closed_persona_does_not_break_decisions() -> None:
    """If the exposure cannot be tracked, the decision still comes back (counted)."""
    persona = ps.Persona({"features": FEATURES})
    visitor = persona.visitor(anonymous_id="a-1")
    persona.close()
    assert visitor.feature("hero").variation is not None
    assert persona._hooks.stats()["track_errors"] == 1


def test_visitor_track_is_bound_to_ids_and_consent(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """visitor.track sends with the visitor's ids and consent."""
    visitor = persona.visitor(anonymous_id="a-9", user_id="u-9", consent={"ads": False})
    visitor.track("Product Viewed", properties={"sku": "S-1"})
    assert persona.flush(5.0)
    (event,) = [e for e in capture.events if e.get("event") == "Product Viewed"]
    assert (event["anonymousId"], event["userId"], event["properties"]) == (
        "a-9",
        "u-9",
        {"sku": "S-1"},
    )
    assert event["context"]["consent"]["categoryPreferences"] == {"ads": False}


def _exposure_as_track_builds_it(plan: bool) -> dict[str, Any]:
    # One exposure with consent and GPC, by the deferred path (the caller appends, the
    # delivery thread builds the message) or, with a tracking plan in force, through track().
    capture = CaptureDestination()
    container: dict[str, Any] = {
        "features": FEATURES, "tags": [{"name": "all", "destination": "capture"}],
    }
    if plan:
        container["tracking_plan"] = {"events": {"Experiment Viewed": {}}}
    clock = lambda: 1_700_000_000.0  # noqa: E731
    with ps.Persona(container, destinations={"capture": capture}, clock=clock) as p:
        visitor = p.visitor(anonymous_id="a-1", user_id="u-1", consent={"analytics": True},
                            gpc=True)
        assert visitor.feature("hero").variation is not None
        assert p.flush(5.0)
        (event,) = _viewed(capture)
    event.pop("messageId")
    return event


def test_a_deferred_exposure_is_the_message_track_would_build() -> None:
    """An exposure built on the delivery thread (the caller only appends) is the event
    ``track()`` builds on the caller's (taken when a tracking plan must check it first):
    same ids, properties, consent, ``context.gpc`` and timestamp."""
    deferred = _exposure_as_track_builds_it(plan=False)
    tracked = _exposure_as_track_builds_it(plan=True)
    assert deferred == tracked
    assert deferred["context"]["gpc"] is True
    assert deferred["context"]["consent"] == {"categoryPreferences": {"analytics": True}}
    assert deferred["timestamp"].startswith("2023-11-14T22:13:20")


def test_an_exposure_without_ids_is_counted_not_raised() -> None:
    """A visitor hashed by an attribute but with no id cannot log its exposure (track needs
    an id): the decision stands and the failure is counted."""
    features = {"hero": {"defaultValue": "none", "rules": [ab_rule(hashAttribute="country")]}}
    with ps.Persona({"features": features}) as p:
        result = p.visitor(attributes={"country": "FR"}).feature("hero")
        assert result.variation is not None
        assert p.stats()["decisions"]["track_errors"] == 1


def test_handed_over_exposures_are_counted_and_deduplicated_by_stats_time(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """Exposures handed over as they are (deduplicated on the delivery thread) are all
    counted by the time ``stats()`` returns, repeats included."""
    for _ in range(3):
        for aid in ("a-1", "a-2", "a-3"):
            persona.visitor(anonymous_id=aid).feature("hero")
    decisions = persona.stats()["decisions"]
    assert (decisions["exposures"], decisions["deduplicated"]) == (3, 6)
    assert persona.flush(5.0)
    assert sorted(e["anonymousId"] for e in _viewed(capture)) == ["a-1", "a-2", "a-3"]


def test_exposures_across_a_flags_reload_are_logged_once(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """A visitor built before ``reload_flags`` (of the engine no longer in force) logs its
    exposure by the full path; the dedupe memory is one across both paths."""
    before = persona.visitor(anonymous_id="a-1")
    persona.reload_flags({"features": FEATURES})
    assert persona._exposer.engine is persona._runtime.engine
    assert before.feature("hero").variation is not None  # the old engine: the full path
    persona.visitor(anonymous_id="a-1").feature("hero")  # the new one: handed over, a repeat
    persona.visitor(anonymous_id="a-2").feature("hero")
    assert persona.flush(5.0)
    assert [e["anonymousId"] for e in _viewed(capture)] == ["a-1", "a-2"]
    assert persona.stats()["decisions"]["deduplicated"] == 1


def test_a_tracking_plan_or_a_hook_keeps_exposures_on_the_full_path() -> None:
    """Nothing is handed over while the caller's thread must see the exposure: a tracking
    plan checks it, a hook is called with it."""
    plan = {"tracking_plan": {"events": {"Experiment Viewed": {}}}}
    with ps.Persona({"features": FEATURES, **plan}) as p:
        assert p._exposer.engine is None
    with ps.Persona({"features": FEATURES}, on_exposure=lambda v, r: None) as p:
        assert p._exposer.engine is None
    with ps.Persona({"features": FEATURES}) as p:
        assert p._exposer.engine is p._runtime.engine
    assert p._exposer.engine is None  # closed


IDS: list[tuple[Any, Any]] = [
    ("a-1", None), (None, "u-1"), ("a-1", "u-1"), ("", "u-1"), ("a-1", ""), ("", None),
    (None, ""), ("", ""), (7, None), (None, 7), ("a-1", 7), (7, "u-1"), (0, "u-1"),
    ("a-1", 0), (b"a-1", None), (None, b"u-1"), ("a-1", b"u-1"), (b"a-1", "u-1"),
]


def _hero_for(anonymous_id: Any, user_id: Any, *, generated: bool) -> tuple[Any, ...]:
    # one visitor's hero through the generated feature (its inline hand-over checks), or
    # through the general evaluator (VisitorState._exposed): what was delivered and counted
    # (hashed by country, so that every visitor is in the experiment, whatever its ids)
    capture = CaptureDestination()
    features = {"hero": {"defaultValue": "none", "rules": [ab_rule(hashAttribute="country")]}}
    container = {"features": features, "tags": [{"name": "all", "destination": "capture"}]}
    with ps.Persona(container, destinations={"capture": capture}) as p:
        visitor = p.visitor(anonymous_id=anonymous_id, user_id=user_id,
                            attributes={"country": "FR"})
        assert "hero" in visitor._mode.features  # generated (direct or not, no store)
        if generated:
            result = visitor.feature("hero")
        else:
            result = p._runtime.engine.eval_feature("hero", visitor)
        assert p.flush(5.0)
        stats = p.stats()["decisions"]
    viewed = [(e.get("anonymousId"), e.get("userId")) for e in _viewed(capture)]
    return result.value, viewed, stats["exposures"], stats["track_errors"]


@pytest.mark.parametrize(("anonymous_id", "user_id"), IDS)
def test_generated_features_hand_over_exactly_when_the_general_path_would(
    anonymous_id: Any, user_id: Any
) -> None:
    """The generated feature's inline checks of the ids (ordered for the usual visitor) let
    through what ``VisitorState._exposed`` lets through: the same exposure delivered, or
    the same failure counted, for every kind of id."""
    generated = _hero_for(anonymous_id, user_id, generated=True)
    assert generated[0] != "none"  # in the experiment
    assert generated == _hero_for(anonymous_id, user_id, generated=False)
    if isinstance(anonymous_id, str) and isinstance(user_id, (str, type(None))) and (
        anonymous_id or user_id
    ):
        assert generated[1] == [(anonymous_id, user_id)]  # handed over and delivered


def test_a_generated_feature_wakes_the_delivery_thread_or_routes_when_the_intake_is_full(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """The generated features append to the delivery intake themselves (as
    ``Delivery.submit_item`` does): the delivery thread is woken, so the exposure is
    delivered without a flush; with the intake full, the caller routes it itself."""
    persona.visitor(anonymous_id="a-1").feature("hero")
    assert capture.wait_for(1)  # no flush: the append woke the thread
    delivery = persona._delivery
    limit, delivery._intake_limit = delivery._intake_limit, 0  # as full as can be
    try:
        persona.visitor(anonymous_id="a-2").feature("hero")
        assert len(delivery._intake) == 0  # routed on this thread, not appended
    finally:
        delivery._intake_limit = limit
    assert persona.flush(5.0)
    assert sorted(e["anonymousId"] for e in _viewed(capture)) == ["a-1", "a-2"]


def test_a_reload_never_pairs_one_runtimes_engine_with_the_others_router(
    persona: ps.Persona,
) -> None:
    """A visitor reads the lane's router, then checks its engine; ``update`` unsets the
    engine while it replaces the router, so an exposure is never handed over with the
    engine of one runtime and the exposure event and routes of another."""
    from persona_sdk._facade.exposures import ExposureLane

    seen: list[tuple[str, Any]] = []

    class Recording(ExposureLane):
        __slots__ = ()

        def __setattr__(self, name: str, value: Any) -> None:
            if name in ("engine", "router"):
                seen.append((name, value))
            super().__setattr__(name, value)

    lane = Recording(delivery=persona._delivery, enqueue=lambda *a: None, hooks=HookSet(),
                     clock=lambda: 0.0, expose=lambda *a: None)
    seen.clear()
    lane.update(persona._runtime, fast=True)
    names = [name for name, _ in seen]
    assert names[-2:] == ["router", "engine"]
    assert ("engine", None) in seen[: names.index("router")]  # unset while it changes
    assert seen[-1] == ("engine", persona._runtime.engine)
