"""The content catalog: items from the container, checked item by item."""

from __future__ import annotations

import pytest

import persona_sdk as ps
from persona_sdk.content._catalog import parse_item, parse_items


def test_items_load_with_their_metadata() -> None:
    """An item's metadata fields and its metadata table are what selectors read."""
    item = parse_item(
        {
            "id": "hero-1", "name": "Summer", "type": "hero", "tags": ["sale", "summer"],
            "categories": "shoes|bags", "locale": "fr", "priority": 3, "weight": 2.5,
            "campaign": "summer-24", "metadata": {"creative": "video"},
            "start": "2024-06-01T00:00:00Z", "end": 1_800_000_000,
            "payload": {"title": "Sale", "url": "/sale"},
        },
        "content[0]",
    )
    assert item.categories == ("shoes", "bags")
    assert item.start == 1_717_200_000.0
    assert item.end == 1_800_000_000.0
    assert item.attributes["creative"] == "video"
    assert item.attributes["tags"] == ["sale", "summer"]
    assert item.payload == {"title": "Sale", "url": "/sale"}
    assert item.priority == 3
    assert item.weight == 2.5


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"id": "x", "condition": {"country": {"$foo": 1}}}, 'content[0] (id "x").condition'),
        ({"id": "x", "weight": "heavy"}, 'content[0] (id "x").weight: expected a number'),
        ({"id": "x", "weight": -1}, 'content[0] (id "x").weight: expected a finite number >= 0'),
        ({"id": "x", "start": "tomorrow"}, 'content[0] (id "x").start: expected an ISO-8601'),
        ({"id": "x", "start": 10, "end": 5}, 'content[0] (id "x").end: must be later'),
        ({"id": "x", "colour": "red"}, 'content[0] (id "x").colour: unknown field'),
        ({"id": "x", "tags": [1]}, 'content[0] (id "x").tags: expected a list of strings'),
        ({"name": "no id"}, "content[0].id: expected a non-empty string"),
    ],
)
def test_a_bad_item_is_refused_naming_item_and_field(raw: dict[str, object], message: str) -> None:
    """Each problem names the item and its field."""
    with pytest.raises(ps.ConfigError) as info:
        parse_item(raw, "content[0]")
    assert any(e.startswith(message) for e in info.value.errors), info.value.errors


def test_bad_items_are_refused_and_the_rest_load() -> None:
    """parse_items keeps the good items and reports the bad and duplicate ones."""
    items, errors = parse_items(
        [{"id": "a"}, {"id": "b", "condition": {"x": {"$bad": 1}}}, {"id": "a"}, {"id": "c"}],
        "feed",
    )
    assert [i.id for i in items] == ["a", "c"]
    assert len(errors) == 2
    assert errors[0].startswith('feed[1] (id "b").condition')
    assert errors[1] == 'feed[2] (id "a").id: duplicate item id'


def test_container_with_a_bad_item_is_refused_with_every_path() -> None:
    """In a container, bad items and bad placements are one ConfigError listing each path."""
    with pytest.raises(ps.ConfigError) as info:
        ps.Persona(
            {
                "content": [{"id": "a", "priority": 1.5}, {"id": "b"}],
                "placements": {
                    "hero": {"items": ["a", "zzz"], "strategy": "best"},
                    "side": {"items": ["b"], "fallback": "nope", "holdout": 1.5},
                },
            }
        )
    errors = info.value.errors
    assert 'content[0] (id "a").priority: expected an integer' in errors
    assert "placements.hero.items[1]: unknown item 'zzz'" in errors
    assert any(e.startswith("placements.hero.strategy: unknown strategy 'best'") for e in errors)
    assert "placements.side.fallback: unknown item 'nope'" in errors
    assert "placements.side.holdout: expected a share in [0, 1)" in errors


def test_cap_window_is_checked_with_its_path() -> None:
    """A cap window that is not a duration is refused with the cap's path."""
    with pytest.raises(ps.ConfigError) as info:
        ps.Persona(
            {
                "content": [{"id": "a"}],
                "placements": {"p": {"items": ["a"], "caps": [{"limit": 3, "window": "soon"}]}},
            }
        )
    assert info.value.errors[0].startswith("placements.p.caps[0].window:")


def test_a_name_cannot_be_both_a_feature_and_a_content_placement() -> None:
    """decisions.placements and placements share one namespace."""
    with pytest.raises(ps.ConfigError) as info:
        ps.Persona(
            {
                "content": [{"id": "a"}],
                "placements": {"hero": {"items": ["a"]}},
                "decisions": {"placements": {"hero": "hero-banner"}},
            }
        )
    assert any(e.startswith("decisions.placements.hero: also a content placement") for e in
               info.value.errors)
