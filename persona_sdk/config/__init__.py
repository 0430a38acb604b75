"""Containers: declarative TOML/JSON configuration, structured by cattrs with precise errors.

This package is the bottom layer of the SDK: every section's attrs config class lives here
(``DeliveryConfig``, ``ProfilesConfig``, ``CollectorConfig`` ...), and it imports nothing of
the runtime (``import persona_sdk.config`` loads no delivery, profile or web code). The
runtime packages import their section's config from here.
"""

from .._secret import Secret
from ._actions import ActionConfig
from ._container import Container, load_container
from ._content import (
    BanditConfig,
    CapConfig,
    ContextConfig,
    PlacementConfig,
    ScoringRule,
    SourceConfig,
)
from ._content import parse_window as parse_window
from ._decisions import DecisionsConfig
from ._delivery import BatchConfig, DeliveryConfig, DestinationConfig, Overflow, SpoolMode
from ._depth import MAX_DEPTH as MAX_DEPTH
from ._depth import check_depth as check_depth
from ._load import converter, interpolate_env, read_document, structure
from ._privacy import ConsentConfig, PiiAction, PiiConfig, PiiKind, PiiRules, PurposeConfig
from ._profile_api import SCOPES as SCOPES
from ._profile_api import ApiToken, ProfileApiConfig
from ._profiles import (
    BreakerConfig,
    ComputedKind,
    ComputedTraitConfig,
    MergePolicy,
    ProfilesConfig,
    SegmentConfig,
)
from ._tags import MappingConfig, TagConfig
from ._tracking_plan import PlanEventConfig, TrackingPlanConfig
from ._tracking_plan import TrackingPlanMode as TrackingPlanMode
from ._web import MAX_COOKIE_DAYS as MAX_COOKIE_DAYS
from ._web import CollectorConfig

__all__ = [
    "ActionConfig",
    "ApiToken",
    "BanditConfig",
    "BatchConfig",
    "BreakerConfig",
    "CapConfig",
    "CollectorConfig",
    "ComputedKind",
    "ComputedTraitConfig",
    "ConsentConfig",
    "Container",
    "ContextConfig",
    "DecisionsConfig",
    "DeliveryConfig",
    "DestinationConfig",
    "MappingConfig",
    "MergePolicy",
    "Overflow",
    "PiiAction",
    "PiiConfig",
    "PiiKind",
    "PiiRules",
    "PlacementConfig",
    "PlanEventConfig",
    "ProfileApiConfig",
    "ProfilesConfig",
    "PurposeConfig",
    "ScoringRule",
    "Secret",
    "SegmentConfig",
    "SourceConfig",
    "SpoolMode",
    "TagConfig",
    "TrackingPlanConfig",
    "converter",
    "interpolate_env",
    "load_container",
    "read_document",
    "structure",
]
