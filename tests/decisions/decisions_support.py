"""Helpers for decision tests: engines from feature dicts, and minimal profiles."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from attrs import frozen

from persona_sdk.config import Container, DecisionsConfig
from persona_sdk.decisions import Engine


@frozen
class Profile:
    """The attributes of a resolved profile a Visitor reads (``persona_sdk.profiles``)."""

    canonical_id: str | None = None
    targeting_traits: Mapping[str, Any] = {}
    source: str = "l1"


EngineFactory = Callable[..., Engine]


@pytest.fixture
def make_engine() -> EngineFactory:
    """``make_engine(features=..., experiments=..., saved_groups=..., sticky_store=...,
    **decisions)`` builds an engine from GrowthBook-shaped dicts."""

    def make(
        features: Mapping[str, Any] | None = None,
        experiments: list[Any] | None = None,
        saved_groups: Mapping[str, Any] | None = None,
        sticky_store: Any = None,
        **decisions: Any,
    ) -> Engine:
        container = Container(
            features=dict(features or {}),
            experiments=list(experiments or []),
            saved_groups=dict(saved_groups or {}),
            decisions=DecisionsConfig(**decisions),
        )
        return Engine.build(container, sticky_store=sticky_store)

    return make


def ab_rule(key: str = "hero-test", **extra: Any) -> dict[str, Any]:
    """An experiment rule with two named variations."""
    return {
        "key": key,
        "hashVersion": 2,
        "variations": ["control", "treatment"],
        "meta": [{"key": "c", "name": "Control"}, {"key": "t", "name": "Treatment"}],
        "name": "Hero test",
        **extra,
    }
