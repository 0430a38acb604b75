"""``visitor.evaluate_all()``: every feature at once, exposures and usage hooks deferred
until a flag is used (a real Persona delivering to a capture)."""

from __future__ import annotations

from typing import Any

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination
from persona_sdk.web import bootstrap_data

FEATURES: dict[str, Any] = {
    "cta": {"defaultValue": "blue", "rules": [{
        "key": "cta-test", "variations": ["blue", "green"], "weights": [0.5, 0.5],
        "coverage": 1.0,
    }]},
    "plain": {"defaultValue": 7},
    "off": {"defaultValue": False},
}


def _persona(capture: CaptureDestination, **hooks: Any) -> ps.Persona:
    container = {"features": FEATURES, "tags": [{"name": "all", "destination": "capture"}]}
    return ps.Persona(container, destinations={"capture": capture}, **hooks)


def _viewed(capture: CaptureDestination) -> list[dict[str, Any]]:
    return [e for e in capture.events if e.get("event") == "Experiment Viewed"]


def test_evaluate_all_logs_nothing_until_a_flag_is_used() -> None:
    """Every feature is evaluated with the same values as ``feature()``; no exposure or
    usage hook fires until ``snapshot[key]``, which logs one exposure (not two)."""
    capture = CaptureDestination()
    used: list[str] = []
    exposed: list[str] = []
    with _persona(
        capture,
        on_feature_usage=lambda visitor, result: used.append(result.key),
        on_exposure=lambda visitor, result: exposed.append(result.experiment_key),
    ) as persona:
        visitor = persona.visitor(anonymous_id="a-1")
        snapshot = visitor.evaluate_all()
        assert set(snapshot) == {"cta", "plain", "off"}
        assert len(snapshot) == 3
        assert persona.flush(5)
        assert _viewed(capture) == []
        assert used == []
        assert exposed == []
        reference = persona.visitor(anonymous_id="a-1").evaluate_all().results
        assert snapshot.results["cta"].value == reference["cta"].value
        assert snapshot["plain"] == 7
        assert _viewed(capture) == []  # no experiment behind "plain"
        value = snapshot["cta"]
        assert snapshot.use("cta") == value
        assert persona.flush(5)
        assert len(_viewed(capture)) == 1
        assert exposed == ["cta-test"]
        assert used == ["plain", "cta"]


def test_pending_exposures_and_bootstrap_carry_the_exposure() -> None:
    """The snapshot tells what using a flag would log, and the bootstrap carries it for the
    JS tag; `bootstrap_data(all_features=True)` logs no exposure either."""
    capture = CaptureDestination()
    with _persona(capture) as persona:
        visitor = persona.visitor(anonymous_id="a-2")
        snapshot = visitor.evaluate_all()
        ((event, props),) = snapshot.pending_exposures("cta")
        assert event == "Experiment Viewed"
        assert props["experiment_id"] == "cta-test"
        assert snapshot.pending_exposures("plain") == []
        data = snapshot.to_bootstrap()
        assert data["anonymousId"] == "a-2"
        assert data["features"]["cta"]["exposure"] == {"event": event, "properties": props}
        assert "exposure" not in data["features"]["plain"]
        assert data["features"]["off"] == {"value": False, "on": False, "source": "defaultValue"}
        boot = bootstrap_data(visitor, all_features=True)
        assert boot["features"] == data["features"]
        assert persona.flush(5)
        assert _viewed(capture) == []


def test_is_off_is_the_opposite_of_is_on() -> None:
    """``is_off`` mirrors ``is_on`` (JavaScript truthiness)."""
    capture = CaptureDestination()
    with _persona(capture) as persona:
        visitor = persona.visitor(anonymous_id="a-3")
        assert visitor.is_off("off")
        assert not visitor.is_off("plain")
        assert visitor.is_off("unknown-feature")
