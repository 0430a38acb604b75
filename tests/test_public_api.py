"""The public API is small, sorted, and pinned."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import persona_sdk
from persona_sdk._meta import DISTRIBUTION


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and lists exactly the public names of the package namespace."""
    assert list(persona_sdk.__all__) == sorted(persona_sdk.__all__)
    # names resolve lazily (PEP 562): every name of ``__all__`` loads, and nothing else
    # public is defined at the top level
    public = {
        name
        for name in dir(persona_sdk)
        if not name.startswith("_") and not isinstance(getattr(persona_sdk, name), type(sys))
    }
    assert public == set(persona_sdk.__all__)
    assert all(getattr(persona_sdk, name) is not None for name in persona_sdk.__all__)


def test_exported_objects_report_the_package_as_module() -> None:
    """Every exported class or function says it lives in `persona_sdk`."""
    for name in persona_sdk.__all__:
        obj = getattr(persona_sdk, name)
        if hasattr(obj, "__module__"):
            assert obj.__module__ == "persona_sdk", name


# What a user or a plugin author imports, per public module: used in the README, docs/,
# examples/ or plugins/, or needed to annotate user code (the types public methods take and
# return). Growing it is a decision: add the name here, to docs/api.md and to the CHANGELOG.
PUBLIC: dict[str, set[str]] = {
    "persona_sdk": {
        "ClosedError", "ConfigError", "Container", "ContentReason", "Decision", "DecisionItem",
        "Destination", "EventValidationError", "ExperimentResult", "FeatureResult",
        "FeatureSource", "InMemoryCounterStore", "InMemoryDedupStore",
        "InMemoryStickyBucketStore", "IngestResult", "Message", "Overflow", "PayloadTooLarge",
        "Persona", "PersonaError", "PluginError", "Profile", "ProfileReason",
        "ProfileSourceKind", "Reason", "Secret", "SendOutcome", "SendResult", "SpoolError",
        "SpoolFullError", "SpoolMode", "Visitor",
        # the shapes of stats() and its sections
        "ActionCounts", "ActionsStats", "BreakerStats", "CatalogStats", "ContentSourceStats",
        "ContentStats", "DestinationStats", "FilteredCounts", "FlagFeedStats", "HookStats",
        "PersonaStats", "ProfilesStats", "ResolverStats", "RoutingStats", "TrackingPlanStats",
    },
    "persona_sdk.actions": set(),
    "persona_sdk.allocation": {
        "AsyncStickyBucketStore", "HashScheme", "InMemoryStickyBucketStore",
        "StickyAssignments", "StickyBucketStore", "choose_variation", "decode_sticky_cookies",
        "encode_sticky_cookies", "gb_hash", "get_bucket_ranges", "ranges_from_optimizely",
        "sticky_key",
    },
    "persona_sdk.config": {"Container", "Secret", "load_container", "structure"},
    "persona_sdk.content": {
        "ContentReason", "ContentReport", "Decision", "DecisionItem", "InMemoryCounterStore",
        "content_report",
    },
    "persona_sdk.decisions": {
        "Engine", "ExperimentResult", "ExposureHook", "FeatureResult", "FeatureSource",
        "FeatureUsageHook", "HookSet", "Reason", "Visitor", "container_from_growthbook",
    },
    "persona_sdk.delivery": {"BatchConfig", "Delivery", "DeliveryConfig", "Overflow", "SpoolMode"},
    "persona_sdk.destinations": set(),
    "persona_sdk.events": {
        "EventType", "IngestResult", "MAX_EVENT_BYTES", "Message", "format_ts",
        "message_id_problem", "new_message_id", "to_segment",
    },
    "persona_sdk.plugins": {
        "AsyncCounterStore", "AsyncStickyBucketStore", "BatchConfig", "ContentSource",
        "ContentSourceFactory",
        "CounterStore", "DedupStore", "Destination", "DestinationFactory", "Enricher",
        "FeedResult", "FetchResult", "HashScheme", "Operator", "OperatorRegistry",
        "ListableProfileStore", "ProfileSource", "ProfileSourceFactory", "ProfileStore",
        "ProfileStoreFactory",
        "SendOutcome", "SendResult", "StickyAssignments", "StickyBucketStore", "Strategy",
        "Worker", "WorkerFactory", "load_plugin", "person_key", "person_tags", "sticky_key",
        # what a plugin receives, raises and marks, in the same one import
        "Bucketer", "ConfigError", "FetchErrorKind", "FetchStatus", "PiiAction", "PiiConfig",
        "PiiKind", "PiiRules", "PluginError", "Secret", "check_plugin", "redact_http_logs",
    },
    # the plugin-author kit: what the built-in destinations and profile sources share
    "persona_sdk.plugins.kit": {
        "HttpDestinationBase", "HttpRequest", "PolicyTransform", "PrivacyOptions", "Rejections",
        "StrEnum", "chunk_by_size", "classify_error", "classify_status", "gzip_body",
        "load_options", "option_errors", "parse_iso", "parse_retry_after", "perform",
        "privacy_policy",
        # HTTP profile sources
        "MISSING", "Flow", "HttpCall", "HttpReply", "HttpSourceBase", "OptionsHttpSource",
        "check_status", "compile_pointer", "decode_json", "reply_document", "resolve_pointer",
    },
    "persona_sdk.privacy": {
        "PiiAction", "PiiConfig", "PiiKind", "PiiRules", "PrivacyPolicy", "check_path",
        "hash_pii", "is_sha256_hex", "normalize_pii", "sha256_hex", "truncate_ip",
    },
    "persona_sdk.profiles": {
        "FetchErrorKind", "FetchResult", "FetchStatus", "FileSource", "FileSourceOptions",
        "HttpCall", "HttpReply", "HttpSource", "HttpSourceBase", "HttpSourceOptions",
        "InMemoryProfileStore", "Profile", "ProfileReason", "ProfileResolver", "ProfileSource",
        "ProfileSourceFactory", "ProfileSourceKind", "ProfileStore", "ProfileStoreFactory",
        "SegmentSource", "SegmentSourceOptions", "Segments", "UnomiMode", "UnomiSource",
        "UnomiSourceOptions", "adopt_anonymous_id", "attribution_from_events", "ga_client_id",
    },
    "persona_sdk.rules": {
        "Condition", "Operator", "OperatorRegistry", "check_condition", "compile_condition",
        "default_registry", "padded_version",
    },
    "persona_sdk.tags": {"MappingConfig", "Render", "Route", "Router", "compile_mapping"},
    "persona_sdk.testing": {"CaptureDestination"},
    "persona_sdk.unleash": {"UnleashToggles", "UnleashVariant"},
    "persona_sdk.web": {
        "Collector", "CollectorConfig", "CollectorResponse", "CookieSettings", "PendingBody",
        "RequestHead", "VisitorOptions", "bootstrap_data", "metrics_text", "read_consent_cookie",
        "render_bootstrap", "script_source", "write_consent_cookie",
    },
}

# Names a package imports (``name as name``) for its sibling packages only: importable without
# reaching into a private module, but not public API, so absent from ``__all__``.
SIBLING_ONLY: dict[str, set[str]] = {
    "persona_sdk.actions": {"ActionRunner"},
    "persona_sdk.allocation": {
        "Bucketer", "compile_url_targets", "fnv1a32", "get_equal_weights",
        "get_query_string_override", "hash_scheme", "in_namespace", "merge_query_strings",
        "murmur3_32", "v2_seed",
    },
    # every section's config class lives in config; users reach it through its package
    "persona_sdk.config": {
        "ActionConfig", "ApiToken", "BanditConfig", "BatchConfig", "BreakerConfig", "CapConfig",
        "CollectorConfig", "CookieSettings", "ComputedKind", "ComputedTraitConfig", "ConsentConfig",
        "ContextConfig", "DecisionsConfig", "DeliveryConfig", "DestinationConfig", "MAX_DEPTH",
        "MAX_COOKIE_DAYS", "MappingConfig", "MergePolicy", "Overflow", "PiiAction", "PiiConfig",
        "PiiKind", "PiiRules", "PlacementConfig", "PlanEventConfig", "ProfileApiConfig",
        "ProfilesConfig", "PurposeConfig", "SCOPES", "ScoringRule", "SegmentConfig",
        "SourceConfig", "SpoolMode", "TagConfig", "TrackingPlanConfig", "TrackingPlanMode",
        "check_depth", "parse_window", "read_document",
    },
    "persona_sdk.content": {"feature_decision"},
    "persona_sdk.decisions": {"FlagFeed", "visitor_builder"},
    "persona_sdk.destinations": {"build_destinations"},
    "persona_sdk.events": {
        "UnencodableEvent", "check_message", "consent_of", "decode_messages", "to_segment_json",
        "TrackingPlan", "WIRE_GROWTH", "check_finite", "check_integrations", "coerce_id",
        "decode_checked", "has_nonfinite", "integration_enabled", "to_epoch", "MESSAGE_IDS",
    },
    "persona_sdk.plugins": {
        "BUILTIN_OPERATORS", "GROUPS", "PluginGroup", "instantiate", "iter_entry_points",
        "load_plugin_object", "missing_members",
    },
    "persona_sdk.profiles": {"MODELS"},
    "persona_sdk.privacy": {
        "ConsentRequirement", "IP_PATH", "check_pii_config", "check_purposes",
        "gpc_header_signal", "gpc_signal",
    },
    "persona_sdk.rules": {
        "ALWAYS", "Reads", "TIME_OPERATORS", "compile_path", "inline_test", "time_registry",
    },
}


def test_every_public_package_is_pinned() -> None:
    """Each public subpackage of `persona_sdk` (and each public module) has an entry in
    PUBLIC: a new one cannot slip in unpinned."""
    found = {
        f"persona_sdk.{info.name}"
        for info in pkgutil.iter_modules(persona_sdk.__path__)
        if not info.name.startswith("_") and info.name not in {"cli", "client"}
    }
    # the kit is a public module of a public package, pinned as well
    assert found | {"persona_sdk", "persona_sdk.plugins.kit"} == set(PUBLIC)


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_the_pinned_surface(module_name: str) -> None:
    """A module's `__all__` is exactly its pinned public names, without duplicates; a
    package's namespace holds nothing else but its siblings-only names and submodules."""
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__)), module_name
    assert set(module.__all__) == PUBLIC[module_name]
    if hasattr(module, "__path__") and module_name != "persona_sdk":
        namespace = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        }
        assert namespace - PUBLIC[module_name] == SIBLING_ONLY.get(module_name, set())


def _documented_assignment(module_name: str, name: str) -> bool:
    """Whether a module-level ``name = ...`` in the module (or in a private module of the
    package) carries a ``#:`` comment above it or a string right after it."""
    module = importlib.import_module(module_name)
    paths = [Path(module.__file__ or "")]
    if hasattr(module, "__path__"):
        paths += sorted(Path(module.__path__[0]).glob("_*.py"))
    for path in paths:
        source = path.read_text()
        lines = source.splitlines()
        body = ast.parse(source).body
        for i, node in enumerate(body):
            targets = (
                node.targets if isinstance(node, ast.Assign)
                else [node.target] if isinstance(node, ast.AnnAssign) else []
            )
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            after = body[i + 1] if i + 1 < len(body) else None
            if (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                return True
            if node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#:"):
                return True
    return False


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_every_public_name_resolves_and_is_documented(module_name: str) -> None:
    """Every name in `__all__` resolves, and has a docstring of its own (classes and
    functions) or a ``#:`` comment (constants and type aliases)."""
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        # Python 3.10 reports a generic alias (``Callable[..., X]``) as a type
        if isinstance(obj, type) and not isinstance(obj, types.GenericAlias):
            assert (obj.__dict__.get("__doc__") or "").strip(), f"{module_name}.{name}"
        elif inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), f"{module_name}.{name}"
        else:
            assert _documented_assignment(module_name, name), f"{module_name}.{name}"


ROOT = Path(__file__).resolve().parents[1]


# the target of `pip install [flags] [quote]NAME[extras]`
INSTALL_TARGET = r"pip install (?:-\S+ )*['\"]?([\w.-]+)(?:\[|['\"\s]|$)"


def _pyproject_name() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^name = "([^"]+)"', text, flags=re.M)
    assert match is not None
    return match.group(1)


def test_distribution_name_is_ours_everywhere() -> None:
    """The distribution name in pyproject.toml is the one the package reads its metadata from,
    it is not `persona-sdk` (taken on the index by an unrelated project), and every install
    line of the README and docs, extras included, installs it."""
    name = _pyproject_name()
    assert name == DISTRIBUTION
    assert name != "persona-sdk"
    pyproject = (ROOT / "pyproject.toml").read_text()
    # extras that include other extras refer to the distribution by its own name
    for ref in re.findall(r'"([\w.-]+)\[[\w,]+\]"', pyproject):
        assert ref == name
    install_lines = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in doc.read_text().splitlines():
            install_lines += re.findall(INSTALL_TARGET, line)
    targets = [t for t in install_lines if t not in {"-e", "."}]
    assert targets, "the README shows how to install the package"
    assert set(targets) == {name}, targets


def test_first_party_plugins_depend_on_this_distribution() -> None:
    """Every plugin under plugins/ depends on this distribution by its real name: depending
    on `persona-sdk` would install the unrelated package of that name, whose own
    `persona_sdk` module then shadows this one."""
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        text = pyproject.read_text()
        match = re.search(r"^dependencies = \[(.*?)\]", text, flags=re.M | re.S)
        assert match is not None, pyproject
        deps = re.findall(r'"([A-Za-z0-9_.-]+)', match.group(1))
        ours = [d for d in deps if d.startswith("persona-sdk")]
        assert ours == [DISTRIBUTION], (pyproject, deps)


def test_version_comes_from_metadata() -> None:
    """`__version__` is read from the metadata of the distribution named in pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    if DISTRIBUTION not in packages_distributions().get("persona_sdk", []):
        try:
            version("persona-sdk")
        except PackageNotFoundError:
            pass
        else:  # pragma: no cover - depends on how the environment was installed
            pytest.skip("persona_sdk is installed under its old distribution name "
                        "`persona-sdk`: reinstall with `pip install -e .`")
    assert persona_sdk.__version__ == version(_pyproject_name())


def test_import_starts_no_threads_and_opens_nothing() -> None:
    """Importing the package starts no thread and creates no client (checked in a fresh
    interpreter)."""
    code = (
        "import threading, persona_sdk, persona_sdk.plugins, persona_sdk.config;"
        "print(threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_private_modules_are_private() -> None:
    """Implementation modules start with an underscore; the error tree has one root."""
    errors = importlib.import_module("persona_sdk._errors")
    for name in errors.__all__:
        cls = getattr(persona_sdk, name)
        assert issubclass(cls, persona_sdk.PersonaError)
    assert issubclass(persona_sdk.ConfigError, ValueError)
    assert issubclass(persona_sdk.EventValidationError, ValueError)


def test_ci_tests_every_python_the_classifiers_promise() -> None:
    """The Python versions in pyproject's classifiers are exactly the ones `.ci/run` tests,
    and the oldest is `requires-python`'s lower bound."""
    text = (ROOT / "pyproject.toml").read_text()
    promised = set(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text))
    ci = (ROOT / ".ci" / "run").read_text()
    main = re.search(r"^MAIN=(\S+)$", ci, flags=re.M)
    others = re.search(r"^OTHERS=\(([^)]*)\)$", ci, flags=re.M)
    assert main is not None
    assert others is not None
    tested = {main.group(1), *others.group(1).split()}
    assert tested == promised
    lower = re.search(r'^requires-python = ">=(3\.\d+)"$', text, flags=re.M)
    assert lower is not None
    assert min(promised, key=lambda v: int(v.split(".")[1])) == lower.group(1)


def test_the_api_page_names_every_public_name() -> None:
    """docs/api.md, the page that lists the public API, names every pinned name."""
    text = (ROOT / "docs" / "api.md").read_text()
    missing = sorted(
        f"{module}.{name}" for module, names in PUBLIC.items() for name in names
        if f"`{name}`" not in text
    )
    assert missing == []
