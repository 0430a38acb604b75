"""Lifecycle and timing computed traits: RFM, lifecycle stage with transition events,
category affinity with time decay, best hour in the visitor's timezone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from profile_helpers import START, FakeClock

from persona_sdk import ConfigError, Persona
from persona_sdk.config import ComputedTraitConfig, Container
from persona_sdk.events import Message, new_message_id
from persona_sdk.profiles._computed import ComputedTraits
from persona_sdk.testing import CaptureDestination

DAY = 86_400.0

TRAITS: dict[str, Any] = {
    "rfm": {"kind": "rfm", "event": "Order Completed", "property": "revenue"},
    "stage": {"kind": "lifecycle", "new_for": 7 * DAY, "active_for": 30 * DAY,
              "lapsed_after": 90 * DAY},
    "category_affinity": {
        "kind": "affinity", "property": "category", "half_life": 10 * DAY,
        "weights": {"Product Viewed": 1, "Order Completed": 5},
    },
    "best_hour": {"kind": "best_hour"},
}  # fmt: skip


@pytest.fixture
def capture() -> CaptureDestination:
    return CaptureDestination()


@pytest.fixture
def persona(capture: CaptureDestination, clock: FakeClock) -> Iterator[Persona]:
    p = Persona(
        {
            "tags": [{"name": "all", "destination": "capture"}],
            "computed_traits": TRAITS,
            "segments": {"at-risk": {"condition": {"stage": "at_risk"}}},
            "profiles": {"segment_sweep_interval": 0, "segment_recheck": 0},
        },
        destinations={"capture": capture},
        clock=clock,
    )
    yield p
    p.close()


def computed(p: Persona, anonymous_id: str) -> dict[str, Any]:
    return dict(p.visitor(anonymous_id=anonymous_id).profile.computed)


def test_rfm_reads_recency_frequency_and_monetary(persona: Persona, clock: FakeClock) -> None:
    """Two orders: frequency 2, monetary their sum, recency in days since the last one."""
    persona.track("Order Completed", anonymous_id="a", properties={"revenue": 30.0})
    clock.advance(2 * DAY)
    persona.track("Order Completed", anonymous_id="a", properties={"revenue": 12.5})
    clock.advance(DAY / 2)
    assert computed(persona, "a")["rfm"] == {
        "recency_days": 0.5, "frequency": 2, "monetary": 42.5,
    }  # fmt: skip


def test_lifecycle_stages_move_with_time_and_transitions_are_events(
    persona: Persona, capture: CaptureDestination, clock: FakeClock
) -> None:
    """new → active → at_risk → lapsed → reactivated, each change a Lifecycle Stage Changed
    event (the time-only ones found by the sweep), and the at-risk segment follows."""
    persona.page(anonymous_id="a")
    clock.advance(8 * DAY)
    persona.page(anonymous_id="a")  # active: past the new window, recently seen
    clock.advance(31 * DAY)
    persona.sweep_segments()  # at_risk
    clock.advance(60 * DAY)
    persona.sweep_segments()  # lapsed
    persona.page(anonymous_id="a")  # back after a lapse
    assert persona.flush(5)
    moves = [
        (e["properties"]["from"], e["properties"]["to"])
        for e in capture.events
        if e.get("event") == "Lifecycle Stage Changed"
    ]
    assert moves == [
        (None, "new"),
        ("new", "active"),
        ("active", "at_risk"),
        ("at_risk", "lapsed"),
        ("lapsed", "reactivated"),
    ]
    segment = [
        (e["event"], e["properties"]["segment_id"])
        for e in capture.events
        if e.get("event", "").startswith("Segment ")
    ]
    assert segment == [("Segment Entered", "at-risk"), ("Segment Exited", "at-risk")]
    assert computed(persona, "a")["stage"] == "reactivated"


def test_category_affinity_weights_products_and_decays(
    persona: Persona, clock: FakeClock
) -> None:
    """Views weigh 1 and orders 5 (each product's category counts); scores halve every
    half-life, so an old passion fades behind a recent one."""
    for _ in range(4):
        persona.track("Product Viewed", anonymous_id="a", properties={"category": "shoes"})
    clock.advance(20 * DAY)  # two half-lives: shoes 4 → 1
    persona.track(
        "Order Completed",
        anonymous_id="a",
        properties={"products": [{"category": "bags"}, {"category": "hats"}]},
    )
    persona.track("Cart Viewed", anonymous_id="a", properties={"category": "shoes"})  # 0 weight
    affinity = computed(persona, "a")["category_affinity"]
    assert affinity == {"bags": 5.0, "hats": 5.0, "shoes": 1.0}
    assert list(affinity) == ["bags", "hats", "shoes"]  # highest first


def test_best_hour_is_the_mode_in_the_visitors_timezone(persona: Persona) -> None:
    """START is 22:13 UTC, 23:13 in Paris (November): three events there and one at 05:13
    make 23 the best hour; without a timezone the hour is UTC."""
    for offset in (0, 60, 120):
        persona.track(
            "Product Viewed", anonymous_id="a", timestamp=START + offset,
            context={"timezone": "Europe/Paris"},
        )  # fmt: skip
    persona.track("Product Viewed", anonymous_id="a", timestamp=START + 6 * 3600,
                  context={"timezone": "Europe/Paris"})  # fmt: skip
    persona.track("Product Viewed", anonymous_id="b", timestamp=START,
                  context={"timezone": "Not/AZone"})  # fmt: skip
    assert computed(persona, "a")["best_hour"] == 23
    assert computed(persona, "b")["best_hour"] == 22


def test_states_merge_and_survive_the_wire() -> None:
    """Every new kind's state merges (anonymous history joining a user, peers through L2)
    and comes back from its JSON-friendly form unchanged."""
    traits = ComputedTraits.compile(
        {k: ComputedTraitConfig(**cfg) for k, cfg in TRAITS.items()}
    )

    def msg(event: str, ts: float, **props: Any) -> Message:
        return Message(type="track", message_id=new_message_id(), anonymous_id="a",
                       event=event, properties=props, timestamp=ts)  # fmt: skip

    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for state, m in (
        (a, msg("Order Completed", START, revenue=10.0, category="x")),
        (b, msg("Order Completed", START + DAY, revenue=5.0, category="y")),
        (b, msg("Product Viewed", START + DAY, category="x")),
    ):
        for spec in traits.matching(m):
            state[spec.name] = spec.update(state.get(spec.name), m)
    now = START + 2 * DAY
    for spec in traits.specs:
        merged = spec.merge(a[spec.name], b[spec.name])
        back = spec.from_wire(spec.to_wire(merged))
        assert spec.read(back, now) == spec.read(merged, now)
    rfm = traits.by_name["rfm"]
    assert rfm.read(rfm.merge(a["rfm"], b["rfm"]), now)["frequency"] == 2
    aff = traits.by_name["category_affinity"]
    assert set(aff.read(aff.merge(a["category_affinity"], b["category_affinity"]), now)) == {
        "x", "y",
    }  # fmt: skip


def test_bad_new_kind_options_are_config_errors() -> None:
    """An affinity without a property and lifecycle thresholds out of order are refused
    with their paths."""
    with pytest.raises(ConfigError) as err:
        Container.from_dict(
            {
                "computed_traits": {
                    "aff": {"kind": "affinity"},
                    "stage": {"kind": "lifecycle", "active_for": 10, "lapsed_after": 5},
                }
            }
        )
    text = "\n".join(err.value.errors)
    assert "computed_traits.aff" in text
    assert "property: required" in text
    assert "computed_traits.stage" in text
    assert "lapsed_after" in text
