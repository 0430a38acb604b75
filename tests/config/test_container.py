"""Container loading: TOML/JSON files, env secrets, every error with its path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from persona_sdk import ConfigError, Container
from persona_sdk.config._load import interpolate_env


def test_toml_and_json_load_to_the_same_container(tmp_path: Path) -> None:
    """A TOML file and its JSON twin structure into equal frozen containers."""
    toml = tmp_path / "c.toml"
    toml.write_text(
        """
[consent.purposes.analytics]
description = "Product analytics"

[destinations.lake]
type = "jsonl"
consent = ["analytics"]
options = { path = "var/events" }

[[tags]]
name = "all to lake"
destination = "lake"
trigger = { type = "track" }
"""
    )
    doc = {
        "consent": {"purposes": {"analytics": {"description": "Product analytics"}}},
        "destinations": {
            "lake": {"type": "jsonl", "consent": ["analytics"], "options": {"path": "var/events"}}
        },
        "tags": [{"name": "all to lake", "destination": "lake", "trigger": {"type": "track"}}],
    }
    js = tmp_path / "c.json"
    js.write_text(json.dumps(doc))
    a, b = Container.load(toml), Container.load(js)
    assert a == b
    assert a.tags[0].destination == "lake"
    with pytest.raises(AttributeError):
        a.tags[0].name = "x"  # type: ignore[misc]


def test_every_problem_is_reported_with_its_path() -> None:
    """One ConfigError lists each bad field by path, not just the first one."""
    with pytest.raises(ConfigError) as info:
        Container.from_dict(
            {
                "delivery": {"spool": "sometimes", "max_retries": "many"},
                "destinations": {"x": {"typo": 1}},
                "tags": [{"name": "ok", "destination": "x"}, {"destination": "x", "extra": 2}],
            }
        )
    errors = info.value.errors
    assert any(e.startswith("delivery.spool: ") and "'off'" in e for e in errors)
    assert any(e.startswith("delivery.max_retries: ") for e in errors)
    assert "destinations.x.type: required field is missing" in errors
    assert "destinations.x.typo: unknown field" in errors
    assert "tags[1].name: required field is missing" in errors
    assert "tags[1].extra: unknown field" in errors
    assert len(errors) == 6


def test_env_references_resolve_and_missing_ones_name_the_path() -> None:
    """`${env:NAME}` pulls secrets from the environment; a missing one names field and variable."""
    doc = {"destinations": {"seg": {"type": "http", "options": {"write_key": "${env:WK}"}}}}
    c = Container.from_dict(doc, env={"WK": "s3cret"})
    assert c.destinations["seg"].options["write_key"] == "s3cret"
    with pytest.raises(ConfigError) as info:
        Container.from_dict(doc, env={})
    assert info.value.errors == (
        "destinations.seg.options.write_key: environment variable WK is not set",
    )
    assert interpolate_env({"a": "${env:NOPE:-fallback}"}, env={}) == {"a": "fallback"}


def test_unreadable_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    """Missing files and syntax errors raise ConfigError naming the file."""
    with pytest.raises(ConfigError, match="cannot read"):
        Container.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[destinations\n")
    with pytest.raises(ConfigError) as info:
        Container.load(bad)
    assert info.value.source == str(bad)
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="top level"):
        Container.load(arr)


def test_booleans_are_strict() -> None:
    """A string where a boolean belongs is an error, not silently true."""
    with pytest.raises(ConfigError) as info:
        Container.from_dict({"destinations": {"x": {"type": "http", "enabled": "no"}}})
    assert info.value.errors == ("destinations.x.enabled: invalid value for type, expected bool",)
