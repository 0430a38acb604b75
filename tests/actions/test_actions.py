"""Next-best actions: fired by events, segment changes and abandoned carts, sent as signed
webhooks by the background worker (a real loopback server), idempotent, consent-respecting,
counted."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from servers.sink import Reply, Sink
from standardwebhooks import Webhook

import persona_sdk as ps

SECRET = "whsec_" + base64.b64encode(b"a secret key of 32 bytes, really").decode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _container(url: str, actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "delivery": {"backoff_base": 0.01, "backoff_max": 0.05, "max_retries": 2},
        "destinations": {"crm": {"type": "webhook",
                                 "options": {"url": f"{url}/hook", "secret": SECRET}}},
        "tags": [{"name": "to-crm", "destination": "crm",
                  "trigger": {"event": {"$in": ["Cart Abandoned", "VIP Welcome"]}}}],
        "actions": actions,
        **extra,
    }


CART = {"name": "cart-abandoned", "on": "Product Added", "after": "30m",
        "unless": "Order Completed", "emit": "Cart Abandoned", "purpose": "marketing",
        "properties": {"channel": "email"}}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def persona(sink: Sink, clock: Clock) -> Iterator[ps.Persona]:
    p = ps.Persona(_container(sink.url, [CART]), clock=clock)
    yield p
    p.close()


def _hooks(sink: Sink) -> list[dict[str, Any]]:
    wh = Webhook(SECRET)
    return [wh.verify(r.raw_body, r.headers) for r in sink.requests if r.status == 200]


def test_an_abandoned_cart_fires_one_signed_webhook(
    persona: ps.Persona, sink: Sink, clock: Clock
) -> None:
    """Two adds then 30 minutes without an order: one Cart Abandoned, signed, idempotent by
    the first trigger; an order in time cancels; no consent, no action."""
    yes = {"marketing": True}
    first = persona.track("Product Added", anonymous_id="a", consent=yes,
                          properties={"sku": "1"})
    clock.now += 600
    persona.track("Product Added", anonymous_id="a", consent=yes, properties={"sku": "2"})
    persona.track("Product Added", anonymous_id="b", consent=yes)
    persona.track("Product Added", anonymous_id="c", consent={"marketing": False})
    clock.now += 600
    persona.track("Order Completed", anonymous_id="b", consent=yes)
    clock.now += 1199  # 29:59 after a's second add
    assert persona.run_actions() == 0
    clock.now += 1
    assert persona.run_actions() == 1
    assert sink.wait_for(lambda s: len(s.requests) >= 1, timeout=10)
    persona.flush(5)
    (hook,) = _hooks(sink)
    assert hook["event"] == "Cart Abandoned"
    assert hook["anonymousId"] == "a"
    assert hook["properties"]["channel"] == "email"
    assert hook["properties"]["trigger"] == {"sku": "1"}
    from persona_sdk.actions._actions import derived_id

    assert hook["messageId"] == derived_id("cart-abandoned", first)
    assert sink.requests[0].headers["webhook-id"] == hook["messageId"]
    stats = persona.stats()["actions"]["actions"]["cart-abandoned"]
    assert stats | {} == {"triggered": 4, "scheduled": 2, "cancelled": 1, "fired": 1,
                          "deduplicated": 0, "consent_denied": 1, "dropped": 0, "errors": 0}


def test_a_replayed_trigger_fires_once(sink: Sink, clock: Clock) -> None:
    """The same trigger message ingested twice (a retried beacon) fires the action once."""
    action = {"name": "vip", "on": "Upgraded", "emit": "VIP Welcome"}
    with ps.Persona(_container(sink.url, [action]), clock=clock) as persona:
        msg = {"type": "track", "event": "Upgraded", "anonymousId": "a", "messageId": "m-1"}
        persona.ingest(msg)
        persona.ingest(msg)
        persona.flush(5)
        assert len(_hooks(sink)) == 1
        assert persona.stats()["actions"]["actions"]["vip"]["deduplicated"] == 1


def test_segment_entered_triggers_a_trait_update_and_a_webhook(
    sink: Sink, clock: Clock
) -> None:
    """Entering a segment fires an action that updates traits and emits an event."""
    action = {"name": "vip-welcome", "on": "Segment Entered",
              "when": {"properties.segment_id": "vip"},
              "emit": "VIP Welcome", "traits": {"welcomed": True}}
    container = _container(sink.url, [action],
                           segments={"vip": {"condition": {"tier": "gold"}}})
    container["profiles"] = {"segment_events": True}
    with ps.Persona(container, clock=clock) as persona:
        assert persona.visitor(anonymous_id="a", attributes={"tier": "basic"}).segments == set()
        assert persona.visitor(anonymous_id="a", attributes={"tier": "gold"}).segments == {"vip"}
        persona.flush(5)
        hooks = _hooks(sink)
        assert [h["event"] for h in hooks] == ["VIP Welcome"]
        counts = persona.stats()["actions"]["actions"]["vip-welcome"]
        assert counts["fired"] == 1


def test_a_failing_webhook_is_retried_then_dead_lettered_never_raised(
    sink: Sink, clock: Clock
) -> None:
    """The action's webhook failing is retried by the worker, then dead-lettered; the
    tracking call that triggered it never sees an error."""
    sink.set_default(Reply(status=500))
    action = {"name": "vip", "on": "Upgraded", "emit": "VIP Welcome"}
    with ps.Persona(_container(sink.url, [action]), clock=clock) as persona:
        persona.track("Upgraded", anonymous_id="a")
        assert sink.wait_for(lambda s: len(s.requests) >= 3, timeout=10)
        persona.flush(5)
        crm = persona.stats()["destinations"]["crm"]
        assert crm["dead_lettered"] == 1
        assert crm["retried"] >= 2


def test_bad_actions_are_config_errors_with_paths() -> None:
    """Missing effects, unless without after, a bad delay and duplicate names are refused."""
    with pytest.raises(ps.ConfigError) as info:
        ps.Persona({"actions": [
            {"name": "a", "on": "X"},
            {"name": "a", "on": "X", "emit": "Y", "unless": "Z"},
            {"name": "b", "on": "X", "emit": "Y", "after": "soon"},
        ]})
    errors = info.value.errors
    assert "actions[0]: give emit (an event) and/or traits (a trait update)" in errors
    assert "actions[1].name: duplicate action name 'a'" in errors
    assert "actions[1].unless: needs after (how long to wait for it)" in errors
    assert any(e.startswith("actions[2].after:") for e in errors)


def test_a_content_exposure_triggers_an_action(sink: Sink, clock: Clock) -> None:
    """A placement's ``Promotion Viewed`` reaches an action watching it, as a tracked event
    does (the exposure leaves the caller's thread only when nothing on it watches the
    event)."""
    action = {"name": "seen-promo", "on": "Promotion Viewed", "emit": "VIP Welcome"}
    container = _container(sink.url, [action], content=[{"id": "promo"}],
                           placements={"hero": {"items": ["promo"]}})
    with ps.Persona(container, clock=clock) as persona:
        decision = persona.visitor(anonymous_id="a").decide("hero")
        assert decision.ids() == ["promo"]
        persona.flush(5)
        assert [h["event"] for h in _hooks(sink)] == ["VIP Welcome"]
        assert persona.stats()["actions"]["actions"]["seen-promo"]["fired"] == 1
