"""Profiles: know the visitor from a local cache, a shared cache or a remote CDP.

``ProfileResolver`` answers ``resolve``/``aresolve`` within a deadline and never raises for
remote failures; ``Profile.source`` (``l1``, ``l2``, ``remote``, ``stale``, ``fallback``) and
``Profile.reasons`` say where the profile came from. Sources: ``HttpSource``,
``SegmentSource``, ``UnomiSource``, ``FileSource``, or a plugin of the entry point group
``persona_sdk.profile_sources``. See ``docs/profiles.md``.
"""

from ..plugins.kit import HttpCall, HttpReply, HttpSourceBase
from ._attribution import attribution_from_events
from ._identity import adopt_anonymous_id, ga_client_id
from ._resolver import ProfileResolver
from ._segments import Segments
from ._source_file import FileSource, FileSourceOptions
from ._source_http import HttpSource, HttpSourceOptions
from ._source_segment import SegmentSource, SegmentSourceOptions
from ._source_unomi import UnomiMode, UnomiSource, UnomiSourceOptions
from ._store import InMemoryProfileStore
from ._types import (
    FetchErrorKind,
    FetchResult,
    FetchStatus,
    Profile,
    ProfileReason,
    ProfileSource,
    ProfileSourceFactory,
    ProfileSourceKind,
    ProfileStore,
    ProfileStoreFactory,
)

# isort: split
# For the command line's report only: not public (not in __all__).
from ._attribution import MODELS as MODELS

__all__ = [
    "FetchErrorKind",
    "FetchResult",
    "FetchStatus",
    "FileSource",
    "FileSourceOptions",
    "HttpCall",
    "HttpReply",
    "HttpSource",
    "HttpSourceBase",
    "HttpSourceOptions",
    "InMemoryProfileStore",
    "Profile",
    "ProfileReason",
    "ProfileResolver",
    "ProfileSource",
    "ProfileSourceFactory",
    "ProfileSourceKind",
    "ProfileStore",
    "ProfileStoreFactory",
    "SegmentSource",
    "SegmentSourceOptions",
    "Segments",
    "UnomiMode",
    "UnomiSource",
    "UnomiSourceOptions",
    "adopt_anonymous_id",
    "attribution_from_events",
    "ga_client_id",
]
