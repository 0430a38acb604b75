"""Decision configuration: features, experiments, saved groups and placements."""

from __future__ import annotations

from typing import Any

from attrs import Factory, frozen

__all__ = ["DecisionsConfig"]


@frozen(kw_only=True)
class DecisionsConfig:
    """Features and experiments, in GrowthBook's payload shapes (compiled by the engine)."""

    qa_mode: bool = False
    url_overrides: bool = False
    hash_scheme: str = "growthbook"
    placements: dict[str, Any] = Factory(dict)
