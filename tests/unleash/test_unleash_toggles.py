"""``persona_sdk.unleash``: what the specification leaves to the client (hostile payloads,
warnings, delta events, the bridge from a persona-sdk visitor)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import persona_sdk as ps
from persona_sdk.unleash import UnleashToggles, UnleashVariant


def _feature(name: str, *strategies: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "enabled": True, "strategies": list(strategies), **extra}


def test_structural_errors_name_every_path() -> None:
    """A malformed payload is one ConfigError listing each bad path, not a crash."""
    payload = {
        "features": [
            _feature("a", "not-a-strategy"),  # type: ignore[arg-type]
            _feature("b", {"name": "default"}, variants=[{"name": "v", "weight": -1}]),
            "nonsense",
        ]
    }
    with pytest.raises(ps.ConfigError) as info:
        UnleashToggles.from_payload(payload)
    errors = info.value.errors
    assert "features['a'].strategies[0]: expected an object with a name" in errors
    assert "features['b'].variants[0].weight: expected a non-negative integer" in errors
    assert "features[2]: expected an object with 'name'" in errors


def test_unknown_operator_and_strategy_never_match_and_warn() -> None:
    """Unknown operators and strategies are warnings and evaluate to off (spec rule)."""
    toggles = UnleashToggles.from_payload(
        {
            "features": [
                _feature("op", {"name": "default", "constraints": [
                    {"contextName": "userId", "operator": "$SOON", "values": ["u"]}]}),
                _feature("st", {"name": "fromTheFuture"}),
            ]
        }
    )
    assert not toggles.is_enabled("op", {"userId": "u"})
    assert not toggles.is_enabled("st", {"userId": "u"})
    assert any("unknown operator '$SOON'" in w for w in toggles.warnings)
    assert any("unknown strategy 'fromTheFuture'" in w for w in toggles.warnings)


def test_events_make_a_new_set_and_leave_the_old_one() -> None:
    """Delta events return a new compiled set; the one they were applied to is unchanged."""
    base = UnleashToggles.from_payload({"features": [_feature("a", {"name": "default"})]})
    newer = base.apply_events(
        [
            {"type": "feature-removed", "featureName": "a"},
            {"type": "feature-updated", "feature": _feature("b", {"name": "default"})},
        ]
    )
    assert base.is_enabled("a")
    assert not base.is_enabled("b")
    assert newer.is_enabled("b")
    assert not newer.is_enabled("a")
    assert newer.names == ("b",)
    with pytest.raises(ps.ConfigError, match=r"events\[0\]: unknown or malformed event"):
        base.apply_events([{"type": "explode"}])


def test_visitor_context_drives_strategies() -> None:
    """A persona-sdk visitor's ids and attributes become the Unleash context."""
    toggles = UnleashToggles.from_payload(
        {
            "features": [
                _feature("vip", {"name": "userWithId", "parameters": {"userIds": "u-1, u-2"}}),
                _feature("fr", {"name": "default", "constraints": [
                    {"contextName": "country", "operator": "IN", "values": ["FR"]}]}),
            ]
        }
    )
    with ps.Persona({}) as persona:
        visitor = persona.visitor(user_id="u-2", anonymous_id="a-9", attributes={"country": "FR"})
        ctx = UnleashToggles.visitor_context(visitor, environment="prod")
        assert ctx["userId"] == "u-2"
        assert ctx["environment"] == "prod"
        assert toggles.is_enabled("vip", ctx)
        assert toggles.is_enabled("fr", ctx)
        other = persona.visitor(anonymous_id="a-3", attributes={"country": "DE"})
        ctx = UnleashToggles.visitor_context(other)
        assert ctx["userId"] == "a-3"
        assert not toggles.is_enabled("vip", ctx)
        assert not toggles.is_enabled("fr", ctx)


def test_unknown_toggle_gives_the_disabled_variant() -> None:
    """An unknown toggle is off, and its variant is the specification's disabled one."""
    toggles = UnleashToggles.from_payload({"features": []})
    assert toggles.get_variant("nope") == UnleashVariant("disabled", False, False)
    assert toggles.get_variant("nope").to_dict() == {
        "name": "disabled", "enabled": False, "feature_enabled": False
    }


def test_regex_without_re2_refuses_backtracking_only_syntax(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without RE2, look-arounds and back-references are refused (never match, warned) and
    ordinary patterns still work."""
    monkeypatch.setitem(sys.modules, "re2", None)  # makes ``import re2`` fail
    toggles = UnleashToggles.from_payload(
        {
            "features": [
                _feature("look", {"name": "default", "constraints": [
                    {"contextName": "userId", "operator": "REGEX", "value": "^(?=a)a$"}]}),
                _feature("back", {"name": "default", "constraints": [
                    {"contextName": "userId", "operator": "REGEX", "value": "^(a)\\1$"}]}),
                _feature("ok", {"name": "default", "constraints": [
                    {"contextName": "userId", "operator": "REGEX", "value": "^user\\d{3}$"}]}),
            ]
        }
    )
    assert not toggles.is_enabled("look", {"userId": "a"})
    assert not toggles.is_enabled("back", {"userId": "aa"})
    assert toggles.is_enabled("ok", {"userId": "user123"})
    assert sum("regular expression" in w for w in toggles.warnings) == 2
