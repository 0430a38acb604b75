"""Tag mappings: allow, rename, drop, add, event renames; copy-on-write; path errors."""

from __future__ import annotations

import copy
from typing import Any

from persona_sdk.tags import MappingConfig, compile_mapping


def _event() -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "properties": {"revenue": 42.0, "email": "a@b.c", "cart": {"id": "c1", "size": 2}},
        "context": {"page": {"url": "https://shop.test/"}, "ip": "203.0.113.9"},
    }


def test_each_step_in_order_without_mutating_the_input() -> None:
    """allow, then rename, drop, add, then event renames; the input stays as it was."""
    mapper, errors = compile_mapping(
        MappingConfig(
            allow=["revenue", "cart.id", "email"],
            rename={"properties.revenue": "properties.value", "context.ip": "context.client.ip"},
            drop=["properties.email"],
            add={"properties.source": "server", "integrations.All": False},
            events={"Order Completed": "purchase"},
        ),
        "tags[0].mapping",
    )
    assert errors == []
    assert mapper is not None
    ev = _event()
    before = copy.deepcopy(ev)
    out = mapper(ev)
    assert ev == before
    assert out["event"] == "purchase"
    assert out["properties"] == {"value": 42.0, "cart": {"id": "c1"}, "source": "server"}
    assert out["context"] == {
        "page": {"url": "https://shop.test/"},
        "client": {"ip": "203.0.113.9"},
    }
    assert out["integrations"] == {"All": False}
    assert out["context"]["page"] is ev["context"]["page"]  # untouched branch shared


def test_missing_paths_are_ignored() -> None:
    """Renaming or dropping a path the event lacks changes nothing."""
    mapper, _ = compile_mapping(
        MappingConfig(rename={"properties.nope": "properties.x"}, drop=["traits.email"]), "m"
    )
    assert mapper is not None
    assert mapper(_event()) == _event()


def test_an_empty_mapping_compiles_to_nothing() -> None:
    """No mapping: no function, the router passes the event through."""
    assert compile_mapping(MappingConfig(), "m") == (None, [])


def test_bad_paths_are_reported_with_their_path() -> None:
    """Paths must start with properties., traits., context. or integrations.; event renames
    need a non-empty name."""
    _, errors = compile_mapping(
        MappingConfig(
            rename={"revenue": "properties.value"},
            drop=["", "properties..x"],
            add={"userId": "x"},
            allow=["ok", ""],
            events={"A": ""},
        ),
        "tags[3].mapping",
    )
    assert any(e.startswith("tags[3].mapping.rename.revenue: 'revenue' must start") for e in errors)
    assert any(e.startswith("tags[3].mapping.drop[0]: ") for e in errors)
    assert any(e.startswith("tags[3].mapping.drop[1]: ") for e in errors)
    assert any(e.startswith("tags[3].mapping.add.userId: ") for e in errors)
    assert any(e.startswith("tags[3].mapping.allow[1]: ") for e in errors)
    assert any(e.startswith("tags[3].mapping.events.A: ") for e in errors)
