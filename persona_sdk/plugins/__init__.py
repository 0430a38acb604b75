"""The plugin contract: every Protocol and value type a plugin needs, in one leaf module.

A plugin is found through an entry point and implements a small ``typing.Protocol``:

===================================  ======================================================
entry point group                    protocol
===================================  ======================================================
``persona_sdk.destinations``         ``DestinationFactory`` returning a ``Destination``
``persona_sdk.profile_sources``      ``ProfileSourceFactory`` returning a ``ProfileSource``
``persona_sdk.stores``               ``ProfileStoreFactory`` returning a ``ProfileStore``
``persona_sdk.workers``              ``WorkerFactory`` (``persona worker --from <scheme>://``)
``persona_sdk.operators``            ``Operator`` (custom condition operators)
``persona_sdk.hash_schemes``         ``HashScheme`` (bucketing hash, per experiment)
``persona_sdk.content_sources``      ``ContentSourceFactory`` returning a ``ContentSource``
``persona_sdk.enrichers``            a factory (``options=``) returning an ``Enricher``
``persona_sdk.strategies``           a ``Strategy`` (content placement strategies)
(passed to ``Persona``)              ``CounterStore``, ``DedupStore``, ``StickyBucketStore``
===================================  ======================================================

Every group is loaded by one loader (:func:`load_plugin`, :func:`check_plugin`), which
checks what a plugin builds against its group's Protocol and raises ``PluginError`` naming
the group, the plugin and what is missing.

This module imports nothing of the SDK but its leaf utilities, so a plugin depends on this
contract only. Helpers the built-in plugins share (option loading, per-destination privacy
options, an HTTP destination base with gzip and chunking) are the plugin-author kit:
:mod:`persona_sdk.plugins.kit`. See ``docs/plugins.md``.
"""

from .._errors import ConfigError, PluginError
from .._secret import Secret, redact_http_logs
from ._allocation import (
    AsyncStickyBucketStore,
    Bucketer,
    HashScheme,
    StickyAssignments,
    StickyBucketStore,
    sticky_key,
)
from ._content import (
    AsyncCounterStore,
    ContentSource,
    ContentSourceFactory,
    CounterStore,
    DedupStore,
    Enricher,
    FeedResult,
    Strategy,
    person_key,
    person_tags,
)
from ._destinations import BatchConfig, Destination, DestinationFactory, SendOutcome, SendResult
from ._loader import GROUPS as GROUPS
from ._loader import PluginGroup as PluginGroup
from ._loader import check_plugin, load_plugin
from ._loader import instantiate as instantiate
from ._loader import iter_entry_points as iter_entry_points
from ._loader import load_plugin_object as load_plugin_object
from ._loader import missing_members as missing_members
from ._operators import BUILTIN_OPERATORS as BUILTIN_OPERATORS
from ._operators import Operator, OperatorRegistry
from ._privacy import PiiAction, PiiConfig, PiiKind, PiiRules
from ._profiles import (
    FetchErrorKind,
    FetchResult,
    FetchStatus,
    ListableProfileStore,
    ProfileSource,
    ProfileSourceFactory,
    ProfileStore,
    ProfileStoreFactory,
)
from ._workers import Worker, WorkerFactory

__all__ = [
    "AsyncCounterStore",
    "AsyncStickyBucketStore",
    "BatchConfig",
    "Bucketer",
    "ConfigError",
    "ContentSource",
    "ContentSourceFactory",
    "CounterStore",
    "DedupStore",
    "Destination",
    "DestinationFactory",
    "Enricher",
    "FeedResult",
    "FetchErrorKind",
    "FetchResult",
    "FetchStatus",
    "HashScheme",
    "ListableProfileStore",
    "Operator",
    "OperatorRegistry",
    "PiiAction",
    "PiiConfig",
    "PiiKind",
    "PiiRules",
    "PluginError",
    "ProfileSource",
    "ProfileSourceFactory",
    "ProfileStore",
    "ProfileStoreFactory",
    "Secret",
    "SendOutcome",
    "SendResult",
    "StickyAssignments",
    "StickyBucketStore",
    "Strategy",
    "Worker",
    "WorkerFactory",
    "check_plugin",
    "load_plugin",
    "person_key",
    "person_tags",
    "redact_http_logs",
    "sticky_key",
]
