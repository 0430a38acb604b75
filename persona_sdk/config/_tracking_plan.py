"""The container's ``[tracking_plan]`` (compiled and enforced by ``persona_sdk.events``)."""

from __future__ import annotations

from typing import Any, Literal

from attrs import Factory, frozen

__all__ = ["PlanEventConfig", "TrackingPlanConfig", "TrackingPlanMode"]

#: what a violation does
TrackingPlanMode = Literal["block", "flag", "pass"]


@frozen(kw_only=True)
class PlanEventConfig:
    """One planned event: the JSON Schema of its ``properties``, and its own ``mode``."""

    schema: dict[str, Any] = Factory(dict)
    mode: TrackingPlanMode | None = None


@frozen(kw_only=True)
class TrackingPlanConfig:
    """The container's ``[tracking_plan]``: planned events, the default ``mode`` of a
    violation and what an ``unplanned`` track event does."""

    mode: TrackingPlanMode = "flag"
    unplanned: TrackingPlanMode = "pass"
    events: dict[str, PlanEventConfig] = Factory(dict)
