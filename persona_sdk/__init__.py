"""persona-sdk: collect, resolve and decide, in-process.

One consolidated tag layer for first-party events, visitor profiles from caches or a CDP,
and GrowthBook-compatible features and experiments, embedded in your web backend.
"""

from __future__ import annotations as _annotations

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

import attrs as _attrs

if _TYPE_CHECKING:
    from ._errors import ClosedError as ClosedError
    from ._errors import ConfigError as ConfigError
    from ._errors import EventValidationError as EventValidationError
    from ._errors import PayloadTooLarge as PayloadTooLarge
    from ._errors import PersonaError as PersonaError
    from ._errors import PluginError as PluginError
    from ._errors import SpoolError as SpoolError
    from ._errors import SpoolFullError as SpoolFullError
    from ._stats import ActionCounts as ActionCounts
    from ._stats import ActionsStats as ActionsStats
    from ._stats import BreakerStats as BreakerStats
    from ._stats import CatalogStats as CatalogStats
    from ._stats import ContentSourceStats as ContentSourceStats
    from ._stats import ContentStats as ContentStats
    from ._stats import DestinationStats as DestinationStats
    from ._stats import FilteredCounts as FilteredCounts
    from ._stats import FlagFeedStats as FlagFeedStats
    from ._stats import HookStats as HookStats
    from ._stats import PersonaStats as PersonaStats
    from ._stats import ProfilesStats as ProfilesStats
    from ._stats import ResolverStats as ResolverStats
    from ._stats import RoutingStats as RoutingStats
    from ._stats import TrackingPlanStats as TrackingPlanStats
    from ._stores import InMemoryDedupStore as InMemoryDedupStore
    from .allocation import InMemoryStickyBucketStore as InMemoryStickyBucketStore
    from .client import Persona as Persona
    from .config import Container as Container
    from .config import Secret as Secret
    from .content import ContentReason as ContentReason
    from .content import Decision as Decision
    from .content import DecisionItem as DecisionItem
    from .content import InMemoryCounterStore as InMemoryCounterStore
    from .decisions import ExperimentResult as ExperimentResult
    from .decisions import FeatureResult as FeatureResult
    from .decisions import FeatureSource as FeatureSource
    from .decisions import Reason as Reason
    from .decisions import Visitor as Visitor
    from .delivery import Overflow as Overflow
    from .delivery import SpoolMode as SpoolMode
    from .events import IngestResult as IngestResult
    from .events import Message as Message
    from .plugins import Destination as Destination
    from .plugins import SendOutcome as SendOutcome
    from .plugins import SendResult as SendResult
    from .profiles import Profile as Profile
    from .profiles import ProfileReason as ProfileReason
    from .profiles import ProfileSourceKind as ProfileSourceKind

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

# Names resolve on first use (PEP 562), so ``import persona_sdk.config`` (or any other
# subpackage) loads that subpackage and its layers only, not the whole SDK.
_HOMES = {
    "ActionCounts": "persona_sdk._stats",
    "ActionsStats": "persona_sdk._stats",
    "BreakerStats": "persona_sdk._stats",
    "CatalogStats": "persona_sdk._stats",
    "ClosedError": "persona_sdk._errors",
    "ConfigError": "persona_sdk._errors",
    "Container": "persona_sdk.config",
    "ContentReason": "persona_sdk.content",
    "ContentSourceStats": "persona_sdk._stats",
    "ContentStats": "persona_sdk._stats",
    "Decision": "persona_sdk.content",
    "DecisionItem": "persona_sdk.content",
    "Destination": "persona_sdk.plugins",
    "DestinationStats": "persona_sdk._stats",
    "EventValidationError": "persona_sdk._errors",
    "ExperimentResult": "persona_sdk.decisions",
    "FeatureResult": "persona_sdk.decisions",
    "FeatureSource": "persona_sdk.decisions",
    "FilteredCounts": "persona_sdk._stats",
    "FlagFeedStats": "persona_sdk._stats",
    "HookStats": "persona_sdk._stats",
    "InMemoryCounterStore": "persona_sdk.content",
    "InMemoryDedupStore": "persona_sdk._stores",
    "InMemoryStickyBucketStore": "persona_sdk.allocation",
    "IngestResult": "persona_sdk.events",
    "Message": "persona_sdk.events",
    "Overflow": "persona_sdk.delivery",
    "PayloadTooLarge": "persona_sdk._errors",
    "Persona": "persona_sdk.client",
    "PersonaError": "persona_sdk._errors",
    "PersonaStats": "persona_sdk._stats",
    "PluginError": "persona_sdk._errors",
    "Profile": "persona_sdk.profiles",
    "ProfileReason": "persona_sdk.profiles",
    "ProfileSourceKind": "persona_sdk.profiles",
    "ProfilesStats": "persona_sdk._stats",
    "Reason": "persona_sdk.decisions",
    "ResolverStats": "persona_sdk._stats",
    "RoutingStats": "persona_sdk._stats",
    "Secret": "persona_sdk.config",
    "SendOutcome": "persona_sdk.plugins",
    "SendResult": "persona_sdk.plugins",
    "SpoolError": "persona_sdk._errors",
    "SpoolFullError": "persona_sdk._errors",
    "SpoolMode": "persona_sdk.delivery",
    "TrackingPlanStats": "persona_sdk._stats",
    "Visitor": "persona_sdk.decisions",
}


def __getattr__(name: str) -> _Any:
    home = _HOMES.get(name)
    if home is not None:
        obj = getattr(_import_module(home), name)
        if getattr(obj, "__module__", "").startswith("persona_sdk."):
            if _attrs.has(obj):
                # string annotations resolve against the defining module, before it is renamed
                _attrs.resolve_types(obj)
            try:
                obj.__module__ = "persona_sdk"
            except (AttributeError, TypeError):  # pragma: no cover - builtins
                pass
        globals()[name] = obj
        return obj
    if name == "__version__":
        from ._meta import installed_version

        return installed_version()
    raise AttributeError(f"module 'persona_sdk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
