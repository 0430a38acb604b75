"""persona-sdk: collect, resolve and decide, in-process.

One consolidated tag layer for first-party events, visitor profiles from caches or a CDP,
and GrowthBook-compatible features and experiments, embedded in your web backend.
"""

from __future__ import annotations as _annotations

from typing import Any as _Any

import attrs as _attrs

from ._errors import (
    ClosedError,
    ConfigError,
    EventValidationError,
    PayloadTooLarge,
    PersonaError,
    PluginError,
    SpoolError,
    SpoolFullError,
)
from ._stats import (
    ActionCounts,
    ActionsStats,
    BreakerStats,
    CatalogStats,
    ContentSourceStats,
    ContentStats,
    DestinationStats,
    FilteredCounts,
    FlagFeedStats,
    HookStats,
    PersonaStats,
    ProfilesStats,
    ResolverStats,
    RoutingStats,
    TrackingPlanStats,
)
from ._stores import InMemoryDedupStore
from .allocation import InMemoryStickyBucketStore
from .client import Persona
from .config import Container, Secret
from .content import ContentReason, Decision, DecisionItem, InMemoryCounterStore
from .decisions import ExperimentResult, FeatureResult, FeatureSource, Reason, Visitor
from .delivery import Overflow, SpoolMode
from .events import IngestResult, Message
from .plugins import Destination, SendOutcome, SendResult
from .profiles import Profile, ProfileReason, ProfileSourceKind

__all__ = [
    "ActionCounts",
    "ActionsStats",
    "BreakerStats",
    "CatalogStats",
    "ClosedError",
    "ConfigError",
    "Container",
    "ContentReason",
    "ContentSourceStats",
    "ContentStats",
    "Decision",
    "DecisionItem",
    "Destination",
    "DestinationStats",
    "EventValidationError",
    "ExperimentResult",
    "FeatureResult",
    "FeatureSource",
    "FilteredCounts",
    "FlagFeedStats",
    "HookStats",
    "InMemoryCounterStore",
    "InMemoryDedupStore",
    "InMemoryStickyBucketStore",
    "IngestResult",
    "Message",
    "Overflow",
    "PayloadTooLarge",
    "Persona",
    "PersonaError",
    "PersonaStats",
    "PluginError",
    "Profile",
    "ProfileReason",
    "ProfileSourceKind",
    "ProfilesStats",
    "Reason",
    "ResolverStats",
    "RoutingStats",
    "Secret",
    "SendOutcome",
    "SendResult",
    "SpoolError",
    "SpoolFullError",
    "SpoolMode",
    "TrackingPlanStats",
    "Visitor",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("persona_sdk."):
        if _attrs.has(_obj):
            # string annotations resolve against the defining module, before it is renamed
            _attrs.resolve_types(_obj)
        try:
            _obj.__module__ = "persona_sdk"
        except (AttributeError, TypeError):  # pragma: no cover - builtins
            pass
del _name, _obj


def __getattr__(name: str) -> _Any:
    if name == "__version__":
        from ._meta import installed_version

        return installed_version()
    raise AttributeError(f"module 'persona_sdk' has no attribute {name!r}")
