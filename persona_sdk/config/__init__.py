"""Containers: declarative TOML/JSON configuration, structured by cattrs with precise errors.

This package is the bottom layer of the SDK: every section's attrs config class lives here
(``DeliveryConfig``, ``ProfilesConfig``, ``CollectorConfig`` ...), and it imports nothing of
the runtime (``import persona_sdk.config`` loads no delivery, profile or web code). Users
reach a section's classes through its package (``persona_sdk.delivery.DeliveryConfig``); the
runtime packages import them from here.
"""

from .._secret import Secret
from ._container import Container, load_container
from ._load import structure

# isort: split
# For the runtime packages (their section's config) and the command line only: not public
# (not in __all__).
from ._actions import ActionConfig as ActionConfig
from ._content import BanditConfig as BanditConfig
from ._content import CapConfig as CapConfig
from ._content import ContextConfig as ContextConfig
from ._content import PlacementConfig as PlacementConfig
from ._content import ScoringRule as ScoringRule
from ._content import SourceConfig as SourceConfig
from ._content import parse_window as parse_window
from ._decisions import DecisionsConfig as DecisionsConfig
from ._delivery import BatchConfig as BatchConfig
from ._delivery import DeliveryConfig as DeliveryConfig
from ._delivery import DestinationConfig as DestinationConfig
from ._delivery import Overflow as Overflow
from ._delivery import SpoolMode as SpoolMode
from ._depth import MAX_DEPTH as MAX_DEPTH
from ._depth import check_depth as check_depth
from ._load import read_document as read_document
from ._privacy import ConsentConfig as ConsentConfig
from ._privacy import PiiAction as PiiAction
from ._privacy import PiiConfig as PiiConfig
from ._privacy import PiiKind as PiiKind
from ._privacy import PiiRules as PiiRules
from ._privacy import PurposeConfig as PurposeConfig
from ._profile_api import SCOPES as SCOPES
from ._profile_api import ApiToken as ApiToken
from ._profile_api import ProfileApiConfig as ProfileApiConfig
from ._profiles import BreakerConfig as BreakerConfig
from ._profiles import ComputedKind as ComputedKind
from ._profiles import ComputedTraitConfig as ComputedTraitConfig
from ._profiles import MergePolicy as MergePolicy
from ._profiles import ProfilesConfig as ProfilesConfig
from ._profiles import SegmentConfig as SegmentConfig
from ._tags import MappingConfig as MappingConfig
from ._tags import TagConfig as TagConfig
from ._tracking_plan import PlanEventConfig as PlanEventConfig
from ._tracking_plan import TrackingPlanConfig as TrackingPlanConfig
from ._tracking_plan import TrackingPlanMode as TrackingPlanMode
from ._web import MAX_COOKIE_DAYS as MAX_COOKIE_DAYS
from ._web import CollectorConfig as CollectorConfig
from ._web import CookieSettings as CookieSettings

__all__ = ["Container", "Secret", "load_container", "structure"]
