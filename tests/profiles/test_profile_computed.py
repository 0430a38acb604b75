"""Real-time computed traits: declared in the container, updated by ``observe``, seen by the
very next lookup, merged over remote traits by policy, shared through the L2 store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from profile_helpers import Driver, FakeClock

from persona_sdk import ConfigError
from persona_sdk.config import Container
from persona_sdk.events import Message, new_message_id
from persona_sdk.profiles import FileSource, InMemoryProfileStore, ProfileResolver
from persona_sdk.profiles._computed import BUCKETS

Make = Callable[..., ProfileResolver]
HOUR = 3600.0

TRAITS = {
    "views_1h": {"kind": "count", "event": "Product Viewed", "window": HOUR},
    "orders": {"kind": "count", "event": "Order Completed"},
    "revenue": {"kind": "sum", "event": "Order Completed", "property": "revenue"},
    "min_order": {"kind": "min", "event": "Order Completed", "property": "revenue"},
    "max_order": {"kind": "max", "event": "Order Completed", "property": "revenue"},
    "first_category": {"kind": "first", "event": "Product Viewed", "property": "category"},
    "last_category": {"kind": "last", "event": "Product Viewed", "property": "category"},
    "first_seen": {"kind": "first_seen"},
    "last_seen": {"kind": "last_seen"},
    "categories": {
        "kind": "distinct",
        "event": "Product Viewed",
        "property": "category",
        "limit": 2,
    },
    "pages": {"kind": "count", "type": "page"},
    "sku_nested": {"kind": "last", "event": "Product Viewed", "property": "item.sku"},
}


def event(clock: FakeClock, name: str | None = None, type_: str = "track", **props: Any) -> Message:
    return Message(
        type=type_,
        message_id=new_message_id(),
        anonymous_id="a-1",
        event=name,
        properties=props,
        timestamp=clock(),
    )


def test_every_kind(make_resolver: Make, driver: Driver, clock: FakeClock) -> None:
    """Counts, sums, min/max, first/last, first/last seen and distinct values."""
    r = make_resolver({"computed_traits": TRAITS})
    t0 = clock()
    r.observe(event(clock, "Product Viewed", category="shoes", item={"sku": "S1"}))
    clock.advance(10)
    r.observe(event(clock, "Order Completed", revenue=30))
    r.observe(event(clock, "Order Completed", revenue=12.5))
    r.observe(event(clock, "Order Completed", revenue="n/a"))
    clock.advance(10)
    r.observe(event(clock, "Product Viewed", category="hats", item={"sku": "H2"}))
    r.observe(event(clock, "Product Viewed", category="bags"))
    r.observe(event(clock, name=None, type_="page"))
    computed = driver.resolve(r, anonymous_id="a-1").computed
    assert computed == {
        "views_1h": 3,
        "orders": 3,
        "revenue": 42.5,
        "min_order": 12.5,
        "max_order": 30,
        "first_category": "shoes",
        "last_category": "bags",
        "first_seen": t0,
        "last_seen": t0 + 20,
        "categories": ["shoes", "hats"],
        "pages": 1,
        "sku_nested": "H2",
    }


def test_count_window_slides_with_the_clock(
    make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """A windowed count forgets events older than the window (to one bucket's width)."""
    r = make_resolver({"computed_traits": {"views_1h": TRAITS["views_1h"]}})
    r.observe(event(clock, "Product Viewed"))
    clock.advance(HOUR / 2)
    r.observe(event(clock, "Product Viewed"))
    assert driver.resolve(r, anonymous_id="a-1").computed == {"views_1h": 2}
    clock.advance(HOUR / 2 + 2 * HOUR / BUCKETS)
    assert driver.resolve(r, anonymous_id="a-1").computed == {"views_1h": 1}
    clock.advance(HOUR)
    assert driver.resolve(r, anonymous_id="a-1").computed == {"views_1h": 0}


def test_window_memory_is_bounded(clock: FakeClock) -> None:
    """However many events arrive, a windowed trait keeps at most BUCKETS + 1 buckets."""
    from persona_sdk.profiles._computed import ComputedTraits, VisitorState

    traits = ComputedTraits.compile(
        Container.from_dict({"computed_traits": {"v": TRAITS["views_1h"]}}).computed_traits
    )
    state = VisitorState()
    for _ in range(5000):
        clock.advance(7)
        m = event(clock, "Product Viewed")
        state.observe(traits.matching(m), m)
    assert len(state.computed["v"]) <= BUCKETS + 1


def test_merge_policy(make_resolver: Make, driver: Driver, clock: FakeClock) -> None:
    """``computed_wins`` lets the in-process value override a remote trait of the same name;
    ``remote_wins`` keeps the remote one."""
    source = FileSource.from_records({"a-1": {"orders": 99, "plan": "pro"}})
    for policy, expected in (("computed_wins", 1), ("remote_wins", 99)):
        r = make_resolver(
            {"profiles": {"merge": policy}, "computed_traits": {"orders": TRAITS["orders"]}},
            source=source,
        )
        r.observe(event(clock, "Order Completed", revenue=1))
        profile = driver.resolve(r, anonymous_id="a-1")
        assert profile.targeting_traits["orders"] == expected
        assert profile.traits["orders"] == 99
        assert profile.computed["orders"] == 1


def test_visible_to_the_very_next_lookup(
    make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """A cached profile still shows a trait updated a moment ago (no TTL to wait out)."""
    r = make_resolver(
        {"computed_traits": {"orders": TRAITS["orders"]}},
        source=FileSource.from_records({"a-1": {"plan": "pro"}}),
    )
    assert "orders" not in driver.resolve(r, anonymous_id="a-1").targeting_traits
    for n in (1, 2, 3):
        r.observe(event(clock, "Order Completed"))
        profile = driver.resolve(r, anonymous_id="a-1")
        assert profile.targeting_traits == {"plan": "pro", "orders": n}


def test_shared_across_processes_through_the_store(
    make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """With an L2 store, each process' contribution is written there and summed by others."""
    store = InMemoryProfileStore(clock=clock)
    doc = {
        "computed_traits": {"orders": TRAITS["orders"], "revenue": TRAITS["revenue"]},
        "profiles": {"computed_flush_interval": 3600},
    }
    source = FileSource.from_records({})
    a = make_resolver(doc, store=store, source=source)
    b = make_resolver(doc, store=store, source=source)
    a.observe(event(clock, "Order Completed", revenue=10))
    a.observe(event(clock, "Order Completed", revenue=5))
    b.observe(event(clock, "Order Completed", revenue=1))
    assert a.flush(5)
    assert b.flush(5)
    seen_by_b = driver.resolve(b, anonymous_id="a-1")
    assert seen_by_b.computed == {"orders": 3, "revenue": 16}
    assert a.drain(5)
    assert b.drain(5)


def test_personal_traits_need_consent(make_resolver: Make, driver: Driver) -> None:
    """Personal traits are kept out of targeting unless personalization is granted."""
    r = make_resolver(
        {"profiles": {"personal_traits": ["email", "age"], "personalization_purpose": "perso"}},
        source=FileSource.from_records({"u-1": {"email": "a@b.c", "age": 40, "plan": "pro"}}),
    )
    for consent in (None, {}, {"perso": False}, {"personalization": True}):
        profile = driver.resolve(r, user_id="u-1", consent=consent)
        assert profile.targeting_traits == {"plan": "pro"}
        assert profile.traits["email"] == "a@b.c"
        assert profile.reasons[-1].value == "personal_traits_withheld"
    granted = driver.resolve(r, user_id="u-1", consent={"perso": True})
    assert granted.targeting_traits == {"email": "a@b.c", "age": 40, "plan": "pro"}
    assert granted.reasons == ()


@pytest.mark.parametrize(
    ("trait", "message"),
    [
        ({"kind": "sum"}, "computed_traits.t: property: required for kind 'sum'"),
        ({"kind": "max", "property": "x", "window": 60}, "computed_traits.t: window: only"),
        ({"kind": "average"}, "computed_traits.t.kind: 'average' is not a valid"),
        ({"kind": "count", "type": "identify"}, "computed_traits.t: type: expected"),
    ],
)
def test_bad_computed_traits_name_their_path(trait: dict[str, Any], message: str) -> None:
    """A bad computed trait is refused at load with its path."""
    with pytest.raises(ConfigError) as err:
        Container.from_dict({"computed_traits": {"t": trait}})
    assert any(line.startswith(message) for line in err.value.errors), err.value.errors
