"""Content decisions: ``visitor.decide`` for a new visitor, by placement size.

A placement of N candidate items, each with an audience condition (a country list and an
age bound), an item frequency cap and a Thompson-sampling bandit; every decide logs its
``Promotion Viewed`` exposure through the real tag layer and takes a cap hit in the
in-memory counter store. Two audiences:

- ``shared``: every item has the same condition and every visitor matches it;
- ``mixed``: each item has its own condition (two countries of ten, an age bound from 18 to
  27) and the visitors' countries and ages vary, so a decision walks past the items the
  visitor is not eligible for, and some visitors get the fallback.

Measure with::

    pytest tests/benchmarks/test_bench_content.py --benchmark-enable -s

The per-item cost is the slope between the 1-, 10- and 50-item placements.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest

import persona_sdk as ps

COUNTRIES = ["US", "FR", "DE", "GB", "ES", "IT", "CA", "BR", "JP", "IN"]


def _condition(i: int, audience: str) -> dict[str, Any]:
    if audience == "shared":
        return {"country": {"$in": ["US", "FR", "DE"]}, "age": {"$gte": 18}}
    return {"country": {"$in": [COUNTRIES[i % 10], COUNTRIES[(i + 3) % 10]]},
            "age": {"$gte": 18 + i % 10}}


def _container(n: int, audience: str) -> dict[str, Any]:
    items = [
        {
            "id": f"item-{i}",
            "priority": i % 7,
            "campaign": f"c{i % 5}",
            "condition": _condition(i, audience),
            "payload": {"title": f"Title {i}", "url": f"/p/{i}"},
        }
        for i in range(n)
    ]
    items.append({"id": "house", "payload": {"title": "House ad", "url": "/"}})
    return {
        "content": items,
        "placements": {
            "hero": {
                "strategy": "bandit",
                "items": [it["id"] for it in items[:n]],
                "caps": [{"per": "item", "limit": 3, "window": "1d"}],
                "fallback": "house",
            }
        },
    }


def _visitors(audience: str) -> list[dict[str, Any]]:
    if audience == "shared":
        return [{"country": "FR", "age": 30}]
    rnd = random.Random(7)
    return [{"country": rnd.choice(COUNTRIES), "age": rnd.randint(16, 70)} for _ in range(997)]


@pytest.fixture
def persona() -> Iterator[ps.Persona]:
    made: list[ps.Persona] = []

    def make(n: int, audience: str) -> ps.Persona:
        made.append(ps.Persona(_container(n, audience)))
        return made[-1]

    yield make  # type: ignore[misc]
    for p in made:
        p.close()


@pytest.mark.parametrize("audience", ["shared", "mixed"])
@pytest.mark.parametrize("items", [1, 10, 50])
def test_decide_new_visitor(benchmark: Any, persona: Any, items: int, audience: str) -> None:
    """A new visitor's decide on a bandit placement of `items` conditioned, capped items
    returns one item: a bandit pick when one is eligible, else the fallback."""
    p = persona(items, audience)
    ids = (f"visitor-{i}" for i in itertools.count())
    people = _visitors(audience)
    attrs = itertools.cycle(people)

    def decide() -> ps.Decision:
        # the user's path: the public visitor, its exposure through the real tag layer
        return p.visitor(anonymous_id=next(ids), attributes=next(attrs)).decide("hero")

    for _ in range(1000):  # warm: bandit draws made, caches filled
        decide()
    decision = benchmark(decide)
    assert len(decision.items) == 1
    reasons = {d.items[0].reasons for d in (decide() for _ in range(len(people)))}
    if audience == "shared":
        assert reasons == {(ps.ContentReason.BANDIT,)}
    else:  # both paths are measured: picks, and visitors eligible for nothing
        assert (ps.ContentReason.BANDIT,) in reasons
        assert (ps.ContentReason.FALLBACK,) in reasons
