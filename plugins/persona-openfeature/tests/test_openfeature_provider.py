"""The provider driven through the official ``openfeature-sdk`` (its API, clients and hooks),
over a real ``persona_sdk.Persona`` with a capturing destination for exposures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason
from openfeature.hook import Hook, HookContext
from persona_openfeature import PersonaProvider

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination

FEATURES: dict[str, Any] = {
    "new-checkout": {
        "defaultValue": False,
        "rules": [{"condition": {"plan": "pro"}, "force": True}],
    },
    "greeting": {"defaultValue": "hello"},
    "max-items": {"defaultValue": 3},
    "discount": {"defaultValue": 0.15},
    "banner": {"defaultValue": {"title": "Welcome"}},
    "nothing": {"defaultValue": None},
    "cta": {
        "defaultValue": "blue",
        "rules": [
            {
                "key": "cta-test",
                "variations": ["blue", "green"],
                "weights": [0.5, 0.5],
                "coverage": 1.0,
                "meta": [{"key": "control"}, {"key": "treatment"}],
            }
        ],
    },
}


@pytest.fixture
def capture() -> CaptureDestination:
    return CaptureDestination()


@pytest.fixture
def persona(capture: CaptureDestination) -> Iterator[ps.Persona]:
    container = {"features": FEATURES, "tags": [{"name": "all", "destination": "capture"}]}
    with ps.Persona(container, destinations={"capture": capture}) as p:
        api.set_provider(PersonaProvider(p))
        yield p
    api.clear_hooks()
    api.shutdown()


def test_typed_getters_return_the_feature_values(persona: ps.Persona) -> None:
    """Each typed getter returns the feature's value of that type."""
    client = api.get_client()
    ctx = EvaluationContext("a-1", {"plan": "pro"})
    assert client.get_boolean_value("new-checkout", False, ctx) is True
    assert client.get_boolean_value("new-checkout", True, EvaluationContext("a-2")) is False
    assert client.get_string_value("greeting", "x", ctx) == "hello"
    assert client.get_integer_value("max-items", 0, ctx) == 3
    assert client.get_float_value("discount", 0.0, ctx) == 0.15
    assert client.get_float_value("max-items", 0.0, ctx) == 3.0
    assert client.get_object_value("banner", {}, ctx) == {"title": "Welcome"}


def test_reasons_and_error_codes_are_mapped(persona: ps.Persona) -> None:
    """Targeting, defaults, unknown flags and type mismatches carry OpenFeature's codes."""
    client = api.get_client()
    ctx = EvaluationContext("a-1", {"plan": "pro"})
    forced = client.get_boolean_details("new-checkout", False, ctx)
    assert forced.reason == Reason.TARGETING_MATCH
    assert client.get_string_details("greeting", "x", ctx).reason == Reason.DEFAULT
    missing = client.get_boolean_details("no-such-flag", True, ctx)
    assert missing.value is True
    assert missing.error_code == ErrorCode.FLAG_NOT_FOUND
    mismatch = client.get_integer_details("greeting", 7, ctx)
    assert mismatch.value == 7
    assert mismatch.error_code == ErrorCode.TYPE_MISMATCH
    assert client.get_integer_details("new-checkout", 7, ctx).error_code == ErrorCode.TYPE_MISMATCH
    null = client.get_string_details("nothing", "fallback", ctx)
    assert null.value == "fallback"
    assert null.error_code is None


def test_experiment_splits_log_one_exposure_through_the_tag_layer(
    persona: ps.Persona, capture: CaptureDestination
) -> None:
    """An experiment flag reports SPLIT with the variation key, and its exposure is tracked
    once for the targeting key (as persona-sdk's own visitor would)."""
    client = api.get_client()
    ctx = EvaluationContext("visitor-7", {"userId": "u-7"})
    first = client.get_string_details("cta", "none", ctx)
    again = client.get_string_details("cta", "none", ctx)
    assert first.reason == Reason.SPLIT
    assert first.variant in {"control", "treatment"}
    assert first.value == {"control": "blue", "treatment": "green"}[first.variant]
    assert again.value == first.value
    assert first.flag_metadata["experimentKey"] == "cta-test"
    assert persona.flush(5.0)
    viewed = [e for e in capture.events if e.get("event") == "Experiment Viewed"]
    assert len(viewed) == 1
    assert viewed[0]["anonymousId"] == "visitor-7"
    assert viewed[0]["userId"] == "u-7"
    assert viewed[0]["properties"]["variation_id"] == first.variant


def test_hooks_see_every_evaluation(persona: ps.Persona) -> None:
    """OpenFeature hooks run around the provider's evaluations with its details."""
    seen: list[tuple[str, Any, str | None]] = []

    class Recorder(Hook):
        def after(
            self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: Any
        ) -> None:
            seen.append((hook_context.flag_key, details.value, details.reason))

    api.add_hooks([Recorder()])
    client = api.get_client()
    client.get_boolean_value("new-checkout", False, EvaluationContext("a-1", {"plan": "pro"}))
    client.get_string_value("greeting", "x", EvaluationContext("a-1"))
    assert seen == [("new-checkout", True, "TARGETING_MATCH"), ("greeting", "hello", "DEFAULT")]


async def test_async_getters_use_the_async_visitor(persona: ps.Persona) -> None:
    """The async client API resolves through ``avisitor``/``afeature`` with the same answers."""
    client = api.get_client()
    ctx = EvaluationContext("a-1", {"plan": "pro"})
    assert await client.get_boolean_value_async("new-checkout", False, ctx) is True
    details = await client.get_integer_details_async("max-items", 0, ctx)
    assert details.value == 3
    assert (await client.get_boolean_details_async("nope", False, ctx)).error_code == (
        ErrorCode.FLAG_NOT_FOUND
    )


def test_track_goes_through_the_tag_layer(persona: ps.Persona, capture: CaptureDestination) -> None:
    """``client.track`` becomes a persona-sdk track event with the details' value."""
    from openfeature.track import TrackingEventDetails

    client = api.get_client()
    client.track(
        "Order Completed", EvaluationContext("a-5"), TrackingEventDetails(42.0, {"currency": "EUR"})
    )
    assert persona.flush(5.0)
    (event,) = [e for e in capture.events if e.get("event") == "Order Completed"]
    assert event["anonymousId"] == "a-5"
    assert event["properties"] == {"currency": "EUR", "value": 42.0}
