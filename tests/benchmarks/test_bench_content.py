"""Content decisions: ``visitor.decide`` for a new visitor, by placement size.

A placement of N candidate items, each with an audience condition (a country list and an
age bound), an item frequency cap and a Thompson-sampling bandit; every decide logs its
``Promotion Viewed`` exposure through the real tag layer and takes a cap hit in the
in-memory counter store. Measure with::

    pytest tests/benchmarks/test_bench_content.py --benchmark-enable -s

The per-item cost is the slope between the 1-, 10- and 50-item placements.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

import persona_sdk as ps


def _container(n: int) -> dict[str, Any]:
    items = [
        {
            "id": f"item-{i}",
            "priority": i % 7,
            "campaign": f"c{i % 5}",
            "condition": {"country": {"$in": ["US", "FR", "DE"]}, "age": {"$gte": 18}},
            "payload": {"title": f"Title {i}", "url": f"/p/{i}"},
        }
        for i in range(n)
    ]
    return {
        "content": items,
        "placements": {
            "hero": {
                "strategy": "bandit",
                "items": [it["id"] for it in items],
                "caps": [{"per": "item", "limit": 3, "window": "1d"}],
            }
        },
    }


@pytest.fixture
def persona() -> Iterator[ps.Persona]:
    made: list[ps.Persona] = []

    def make(n: int) -> ps.Persona:
        made.append(ps.Persona(_container(n)))
        return made[-1]

    yield make  # type: ignore[misc]
    for p in made:
        p.close()


@pytest.mark.parametrize("items", [1, 10, 50])
def test_decide_new_visitor(benchmark: Any, persona: Any, items: int) -> None:
    """A new visitor's decide on a bandit placement of `items` conditioned, capped items
    returns one eligible item."""
    p = persona(items)
    ids = (f"visitor-{i}" for i in itertools.count())
    attrs = {"country": "FR", "age": 30}

    def decide() -> ps.Decision:
        # the user's path: the public visitor, its exposure through the real tag layer
        return p.visitor(anonymous_id=next(ids), attributes=attrs).decide("hero")

    for _ in range(1000):  # warm: bandit draws made, caches filled
        decide()
    decision = benchmark(decide)
    assert len(decision.items) == 1
    assert decision.items[0].reasons == (ps.ContentReason.BANDIT,)
