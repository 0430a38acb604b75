"""Attribution: touchpoints per profile from campaigns, click ids and referrers; credit for a
conversion by first-touch, last-touch, linear and position-based models, as a trait and as a
report."""

from __future__ import annotations

from typing import Any

import pytest
from profile_helpers import FakeClock

from persona_sdk import ConfigError, Persona
from persona_sdk.config import Container
from persona_sdk.profiles._attribution import attribution_credit

SHOP = "https://shop.example/"


def visit(p: Persona, who: str, url: str, referrer: str | None = None, **ctx: Any) -> None:
    page: dict[str, Any] = {"url": url}
    if referrer:
        page["referrer"] = referrer
    p.page(anonymous_id=who, context={"page": page, **ctx})


@pytest.fixture
def persona(clock: FakeClock) -> Persona:
    return Persona(
        {"computed_traits": {"attribution": {"kind": "attribution",
                                             "conversion": "Order Completed"}}},
        clock=clock,
    )  # fmt: skip


def test_credit_models() -> None:
    """Four models over a path of four channels (a repeated channel adds up)."""
    path = ["a", "b", "c", "a"]
    assert attribution_credit(path, 100, "first") == {"a": 100}
    assert attribution_credit(path, 100, "last") == {"a": 100}
    assert attribution_credit(path, 100, "linear") == {"a": 50, "b": 25, "c": 25}
    assert attribution_credit(path, 100, "position") == pytest.approx({"a": 80, "b": 10, "c": 10})
    assert attribution_credit(["a", "b"], 10, "position") == {"a": 5, "b": 5}
    assert attribution_credit([], 10, "linear") == {"direct": 10}
    with pytest.raises(ValueError, match="model"):
        attribution_credit(path, 1, "best")


def test_touchpoints_become_a_trait_with_credit(persona: Persona, clock: FakeClock) -> None:
    """UTM parameters, a click id and an outside referrer are touchpoints (direct visits and
    internal referrers are not, repeats collapse); a conversion credits its value."""
    with persona:
        visit(persona, "a", SHOP + "?utm_source=newsletter&utm_medium=email&utm_campaign=spring")
        clock.advance(60)
        visit(persona, "a", SHOP)  # direct: nothing
        visit(persona, "a", SHOP + "p/1", referrer=SHOP)  # internal
        visit(persona, "a", SHOP + "?gclid=abc")
        visit(persona, "a", SHOP + "?gclid=def")  # the same channel again
        visit(persona, "a", SHOP, referrer="https://www.blog.example/post")
        persona.track("Order Completed", anonymous_id="a", properties={"revenue": 100.0})
        value = persona.visitor(anonymous_id="a").profile.computed["attribution"]
        assert value["touchpoints"] == [
            "newsletter / email / spring", "google / cpc", "blog.example / referral",
        ]  # fmt: skip
        assert value["first_touch"] == "newsletter / email / spring"
        assert value["last_touch"] == "blog.example / referral"
        assert value["conversions"] == 1
        assert value["credit"]["first"] == {"newsletter / email / spring": 100.0}
        assert value["credit"]["position"] == {
            "newsletter / email / spring": 40.0, "blog.example / referral": 40.0,
            "google / cpc": 20.0,
        }  # fmt: skip


def test_report_sums_visitors(persona: Persona) -> None:
    """``attribution_report`` sums conversions and credit over held visitors; a conversion
    without touchpoints is direct; Segment's context.campaign is read too."""
    with persona:
        persona.page(anonymous_id="x", context={"campaign": {"source": "fb", "medium": "social"}})
        persona.track("Order Completed", anonymous_id="x", properties={"revenue": 30})
        persona.track("Order Completed", anonymous_id="y", properties={"revenue": 20})
        report = persona.attribution_report()
        assert report["conversions"] == 2
        assert report["value"] == 50
        assert report["credit"]["last"] == {"fb / social": 30, "direct": 20}


def test_attribution_needs_a_conversion() -> None:
    """The conversion event is required; ``event`` is refused (every event is read)."""
    with pytest.raises(ConfigError) as err:
        Container.from_dict({"computed_traits": {"a": {"kind": "attribution", "event": "x"}}})
    text = "\n".join(err.value.errors)
    assert "computed_traits.a: conversion: required" in text
    assert "event: attribution reads every event" in text
