"""``Persona.stats()`` has exactly the shape its TypedDicts (``persona_sdk.PersonaStats`` and
the types of its sections) declare: every required key, no undeclared key, each value of
the declared type. Checked on a client with every optional section present."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.growthbook_api import GrowthBookApi

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination


def problems(value: object, tp: Any, path: str = "stats") -> list[str]:
    """Where ``value`` does not match the type ``tp`` (TypedDicts, dicts, unions, scalars)."""
    if tp is Any:
        return []
    if typing.is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a dict"]
        hints = typing.get_type_hints(tp)
        out = [f"{path}.{k}: missing" for k in tp.__required_keys__ if k not in value]
        out += [f"{path}.{k}: not declared" for k in value if k not in hints]
        for key, item in value.items():
            if key in hints:
                out += problems(item, hints[key], f"{path}.{key}")
        return out
    origin = typing.get_origin(tp)
    if origin is dict:
        key_type, value_type = typing.get_args(tp)
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a dict"]
        out = []
        for key, item in value.items():
            out += problems(key, key_type, f"{path}[{key!r}] (key)")
            out += problems(item, value_type, f"{path}[{key!r}]")
        return out
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if any(not problems(value, option, path) for option in options):
            return []
        return [f"{path}: {value!r} is none of {options}"]
    if tp is type(None):
        return [] if value is None else [f"{path}: {value!r} is not None"]
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    return [] if ok else [f"{path}: {value!r} is not {tp.__name__}"]


def test_the_checker_finds_missing_extra_and_mistyped_keys() -> None:
    """The checker itself fails on each kind of mismatch."""
    good: dict[str, Any] = {"trigger": 1, "consent": 0, "integrations": 0}
    assert problems(good, ps.FilteredCounts) == []
    assert problems({**good, "other": 1}, ps.FilteredCounts) == ["stats.other: not declared"]
    assert problems({"trigger": 1, "consent": 0}, ps.FilteredCounts) == [
        "stats.integrations: missing"
    ]
    assert problems({**good, "consent": "0"}, ps.FilteredCounts) == [
        "stats.consent: '0' is not int"
    ]


@pytest.fixture
def api() -> Iterator[GrowthBookApi]:
    server = GrowthBookApi({"features": {"hero": {"defaultValue": "v1"}}})
    yield server
    server.close()


def test_persona_stats_match_their_types(api: GrowthBookApi, tmp_path: Path) -> None:
    """Destinations (with filtered counts), routing, profiles (with the breaker), decisions,
    tracking plan, flags, content (with a source and an enricher) and actions: each section
    has the keys and value types its TypedDict declares."""
    items = tmp_path / "items.json"
    items.write_text('[{"id": "p1", "type": "promo"}]')
    base = {
        "tags": [{"name": "all", "destination": "capture",
                  "trigger": {"event": {"$ne": "Skipped"}}}],
        "tracking_plan": {"mode": "flag", "events": {"Order Completed": {"schema": {
            "type": "object", "required": ["revenue"]}}}},
        "placements": {"promo": {"strategy": "first_match", "select": {"type": "promo"}}},
        "content_sources": {"files": {"kind": "file", "path": str(items)}},
        "context": {"enrichers": ["time"]},
        "actions": [{"name": "welcome", "on": "Signed Up", "emit": "Welcome"}],
        "experiments": [{"key": "exp", "variations": [0, 1]}],
    }
    capture = CaptureDestination()
    with ps.Persona.from_growthbook(
        api_host=api.url, client_key=api.client_key, base=base, poll_interval=0.02,
        destinations={"capture": capture},
    ) as persona:
        assert persona.wait_until_ready(timeout=10)
        persona.refresh_content()
        persona.track("Order Completed", anonymous_id="a-1")
        persona.track("Skipped", anonymous_id="a-1")
        persona.track("Signed Up", anonymous_id="a-1")
        visitor = persona.visitor(anonymous_id="a-1")
        visitor.decide("promo")
        visitor.feature("hero")
        assert persona.flush(timeout=10)
        stats = persona.stats()
    assert set(stats) == set(typing.get_type_hints(ps.PersonaStats))
    assert stats["destinations"]["capture"]["filtered"]["trigger"] == 1
    assert problems(stats, ps.PersonaStats) == []


def test_the_counters_of_destinations_without_an_outbox_match() -> None:
    """The counters made up for a destination no outbox holds (routed to but never built,
    or nothing reached yet) have the same keys as an outbox's."""
    from persona_sdk._stats import empty_destination_stats
    from persona_sdk.delivery._report import _unknown_stats

    assert problems(_unknown_stats(3), ps.DestinationStats) == []
    assert problems(empty_destination_stats(), ps.DestinationStats) == []
    assert set(_unknown_stats(3)) == set(empty_destination_stats())
