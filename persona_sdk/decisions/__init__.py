"""Decisions: features, experiments, sticky bucketing, exposures and GrowthBook import.

Conditions, hashing and bucketing follow GrowthBook's SDK specification, so a decision made
here equals the browser SDK's on the same page::

    visitor = persona.visitor(anonymous_id="a-1", attributes={"country": "FR"})
    banner = visitor.feature("hero-banner")   # FeatureResult: value, on, source, reasons...
    if visitor.is_on("new-checkout"):
        ...

See ``docs/decisions.md``.
"""

from ._engine import Engine
from ._growthbook import container_from_growthbook
from ._hooks import ExposureHook, FeatureUsageHook, HookSet
from ._results import ExperimentResult, FeatureResult, FeatureSource, Reason
from ._visitor import Visitor

# isort: split
# For the facade only: not public (not in __all__).
from ._feed import FlagFeed as FlagFeed
from ._visitor_factory import visitor_builder as visitor_builder

__all__ = [
    "Engine",
    "ExperimentResult",
    "ExposureHook",
    "FeatureResult",
    "FeatureSource",
    "FeatureUsageHook",
    "HookSet",
    "Reason",
    "Visitor",
    "container_from_growthbook",
]
