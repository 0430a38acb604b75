"""Compile a container's features, experiments and bandits once, checking every shape.

What comes out are small slotted objects with everything precomputed that does not depend on
the visitor: compiled conditions, bucket ranges, per-seed bucketers, variation keys, the
GrowthBook-shaped experiment definitions and the constant ``FeatureResult``s of force rules
and default values. Problems are collected with their paths and raised together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import ConfigError, PluginError
from ..allocation import Bucketer, hash_scheme
from ..rules import Reads, compile_condition
from ._results import FeatureResult, FeatureSource, Reason

__all__ = ["Bandit", "Builder", "Experiment", "Feature", "Filter", "Leaf", "Parent", "Rule"]

Condition = Callable[[Mapping[str, Any]], bool]
_NUMBER = (int, float)
# Rule keys copied into a rule's experiment definition when truthy (GrowthBook's list).
_TRUTHY_KEYS = (
    "weights",
    "hashAttribute",
    "fallbackAttribute",
    "disableStickyBucketing",
    "namespace",
    "meta",
    "ranges",
    "name",
    "phase",
    "seed",
    "hashVersion",
    "filters",
    "condition",
)


#: the fields of a filter (GrowthBook's ``filters`` entries)
_FILTER_KEYS = frozenset({"seed", "ranges", "hashVersion", "attribute"})


def js_truthy(v: Any) -> bool:
    """JavaScript truthiness of a JSON value (``[]`` and ``{}`` are truthy)."""
    if isinstance(v, str):
        return v != ""
    if v is None or v is False:
        return False
    if v is True:
        return True
    if isinstance(v, _NUMBER):
        return not math.isnan(v) and v != 0
    return True


class Filter:
    """One hash filter: the visitor is kept when their hash falls in one of ``ranges``."""

    __slots__ = ("attribute", "bucketer", "dotted", "ranges")

    def __init__(self, attribute: str, bucketer: Bucketer | None, ranges: tuple[Any, ...]):
        self.attribute = attribute
        self.dotted = "." in attribute
        self.bucketer = bucketer
        self.ranges = ranges


class Parent:
    """A prerequisite: feature ``id``'s value must pass ``test`` (``gate``: or block)."""

    __slots__ = ("gate", "id", "test")

    def __init__(self, id: str, test: Condition, gate: bool):
        self.id = id
        self.test = test
        self.gate = gate


class Leaf:
    """A contextual-bandit context: its condition, weights, ranges and definitions."""

    __slots__ = ("cb_definition", "condition", "leaf_id", "plain_definition", "ranges", "weights")

    def __init__(
        self,
        condition: Condition | None,
        leaf_id: int,
        weights: list[float],
        *,
        ranges: tuple[tuple[float, float], ...],
        plain: Mapping[str, Any],
        cb: Mapping[str, Any],
    ):
        self.condition = condition
        self.leaf_id = leaf_id
        self.weights = weights
        self.ranges = ranges
        self.plain_definition = plain
        self.cb_definition = cb


class Bandit:
    """A rule's contextual bandit: leaves in order, then the fallback leaf (-1)."""

    __slots__ = ("fallback", "leaves", "version")

    def __init__(self, leaves: tuple[Leaf, ...], fallback: Leaf, version: Any):
        self.leaves = leaves
        self.fallback = fallback
        self.version = version

    def choose(self, attributes: Mapping[str, Any]) -> Leaf:
        """The first leaf whose condition passes, else the fallback."""
        for leaf in self.leaves:
            if leaf.condition is None or leaf.condition(attributes):
                return leaf
        return self.fallback


class Experiment:
    """An experiment (a feature rule's, or a standalone one), compiled."""

    __slots__ = (
        "active",
        "bandit",
        "bucket_version",
        "bucketer",
        "condition",
        "definition",
        "disable_sticky",
        "dotted",
        "exposure_props",
        "fallback_attribute",
        "fast",
        "filters",
        "force",
        "has_force",
        "hash_attribute",
        "is_redirect",
        "key",
        "meta_index",
        "min_bucket_version",
        "n",
        "name",
        "namespace",
        "parents",
        "passthrough",
        "persist_query_string",
        "picks",
        "ranges",
        "sticky_id",
        "stopped",
        "truthy",
        "url_targeted",
        "variation_keys",
        "variation_names",
        "variations",
    )

    key: str
    fast: bool
    exposure_props: tuple[Mapping[str, Any], ...]
    variations: tuple[Any, ...]
    truthy: tuple[bool, ...]
    n: int
    ranges: tuple[tuple[float, float], ...]
    #: per range: (start, end, index, value, key, name, passthrough, truthy), so the fast
    #: path unpacks a variation in one step
    picks: tuple[tuple[float, float, int, Any, str, str | None, bool, bool], ...]
    hash_attribute: str
    fallback_attribute: str | None
    dotted: bool
    disable_sticky: bool
    bucket_version: int
    min_bucket_version: int
    sticky_id: str
    variation_keys: tuple[str, ...]
    variation_names: tuple[str | None, ...]
    passthrough: tuple[bool, ...]
    meta_index: dict[str, int]
    name: str | None
    bucketer: Bucketer | None
    definition: Mapping[str, Any]

    def __init__(self) -> None:
        self.bandit: Bandit | None = None
        self.condition: Condition | None = None
        self.filters: tuple[Filter, ...] = ()
        self.parents: tuple[Parent, ...] = ()
        self.namespace: tuple[Any, ...] | None = None
        self.url_targeted: Callable[[str], bool] | None = None
        self.force: Any = None
        self.has_force = False
        self.active = True
        self.stopped = False
        self.is_redirect = False
        self.persist_query_string = False


class Rule:
    """A feature rule: prerequisites and filters, then a forced value or an experiment."""

    __slots__ = (
        "bucketer",
        "condition",
        "coverage",
        "disable_sticky",
        "dotted",
        "experiment",
        "fallback_attribute",
        "fast",
        "filters",
        "hash_attribute",
        "id",
        "is_force",
        "no_hash",
        "outside",
        "parents",
        "range",
        "result",
        "rollout",
        "uncovered",
        "unmatched",
    )

    id: str
    range: tuple[float, float] | None
    coverage: float | None
    hash_attribute: str
    fallback_attribute: str | None
    dotted: bool
    disable_sticky: bool
    bucketer: Bucketer | None
    #: with ``fast``: the (experiment, reason, feature) misses the fast path records
    no_hash: tuple[Experiment, Reason, str]
    outside: tuple[Experiment, Reason, str]
    unmatched: tuple[Experiment, Reason, str]
    uncovered: tuple[Experiment, Reason, str]

    def __init__(self) -> None:
        self.parents: tuple[Parent, ...] = ()
        self.filters: tuple[Filter, ...] = ()
        self.condition: Condition | None = None
        self.is_force = False
        self.rollout = False
        self.experiment: Experiment | None = None
        self.result: FeatureResult[Any] | None = None
        #: the experiment when it can take the evaluator's fast path, else None
        self.fast: Experiment | None = None


class Feature:
    """A compiled feature: its rules and the precomputed default and gated results."""

    __slots__ = ("default", "gated", "key", "rules")

    def __init__(self, key: str, rules: tuple[Rule, ...], default: FeatureResult[Any]):
        self.key = key
        self.rules = rules
        self.default = default
        self.gated = FeatureResult(
            key=key,
            value=None,
            on=False,
            source=FeatureSource.PREREQUISITE,
            reasons=(Reason.PREREQUISITE_FAILED,),
        )


class Builder:
    """One compilation of a container's decisions; ``errors`` collects every problem."""

    def __init__(
        self,
        *,
        saved_groups: Mapping[str, Any],
        operators: Any,
        strict: bool,
        default_scheme: str,
        bandits: Mapping[str, Any],
    ):
        self.saved_groups = saved_groups
        self.operators = operators
        self.strict = strict
        self.default_scheme = default_scheme
        self.bandits = bandits
        self.errors: list[str] = []
        #: what a lenient (GrowthBook payload) build lets through; errors when strict
        self.warnings: list[str] = []
        self.uses_segments = False
        #: every attribute a condition, hash, fallback or filter reads, noted as it is
        #: compiled: what ``Engine.reads_anonymous_id`` and ``reads_user_id`` ask
        self.reads = Reads()

    def identifiers(self, path: str, hash_attribute: str, fallback: str | None) -> None:
        """Note the attributes an experiment or rollout hashes by."""
        self.reads.note(hash_attribute, f"{path}.hashAttribute", None)
        if fallback:
            self.reads.note(fallback, f"{path}.fallbackAttribute", None)

    # -- shape checks -------------------------------------------------------------------

    def problem(self, path: str, message: str) -> None:
        """Record a problem at ``path``."""
        self.errors.append(f"{path}: {message}")

    def lenient(self, path: str, message: str) -> None:
        """A problem a strict container refuses and a GrowthBook import only warns about
        (GrowthBook's SDKs ignore it)."""
        (self.errors if self.strict else self.warnings).append(f"{path}: {message}")

    def known_keys(self, spec: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        """Report each key of ``spec`` not in ``allowed`` (a typo such as ``defaultvalue``)."""
        if not allowed.issuperset(spec):
            for key in spec:
                if key not in allowed:
                    self.lenient(f"{path}.{key}", "unknown field")

    def get(self, d: Mapping[str, Any], key: str, path: str, types: Any, what: str) -> Any:
        """``d[key]`` if present and of ``types`` (None when absent or wrong)."""
        v = d.get(key)
        if v is None:
            return None
        if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.problem(f"{path}.{key}", f"expected {what}")
            return None
        if not isinstance(v, types):
            self.problem(f"{path}.{key}", f"expected {what}")
            return None
        return v

    def ranges(self, v: Any, path: str) -> tuple[tuple[float, float], ...] | None:
        """A list of ``[start, end]`` pairs of numbers."""
        if v is None:
            return None
        if isinstance(v, Sequence) and not isinstance(v, str):
            out = []
            for i, r in enumerate(v):
                pair = self.pair(r, f"{path}[{i}]")
                if pair is None:
                    return None
                out.append(pair)
            return tuple(out)
        self.problem(path, "expected a list of [start, end] ranges")
        return None

    def pair(self, r: Any, path: str) -> tuple[float, float] | None:
        """One ``[start, end]`` range."""
        if (
            isinstance(r, Sequence)
            and not isinstance(r, str)
            and len(r) == 2
            and all(isinstance(x, _NUMBER) and not isinstance(x, bool) for x in r)
        ):
            return (r[0], r[1])
        self.problem(path, "expected [start, end] with two numbers")
        return None

    def condition(self, cond: Any, path: str) -> Condition | None:
        """Compile a condition (None when absent); problems are recorded with ``path``."""
        if cond is None:
            return None
        if not isinstance(cond, Mapping):
            self.problem(path, "expected a condition object")
            return None
        self._scan_segments(cond)
        try:
            return compile_condition(
                cond,
                path=path,
                saved_groups=self.saved_groups,
                operators=self.operators,
                strict=self.strict,
                reads=self.reads,
            )
        except ConfigError as exc:
            self.errors.extend(exc.errors)
            return None

    def _scan_segments(self, node: Any) -> None:
        # Segments are computed only when some condition can read them.
        if self.uses_segments:
            return
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k == "segments" or (isinstance(k, str) and k.startswith("segments.")):
                    self.uses_segments = True
                    return
                self._scan_segments(v)
        elif isinstance(node, list):
            for v in node:
                self._scan_segments(v)

    def bucketer(self, scheme: Any, seed: str, version: int, path: str) -> Bucketer | None:
        """The per-visitor hash function of ``scheme`` (the default when None)."""
        name = self.default_scheme if scheme is None else scheme
        if not isinstance(name, str):
            self.problem(f"{path}.hashScheme", "expected a string")
            return None
        try:
            return hash_scheme(name).bucketer(seed, version)
        except PluginError as exc:
            self.problem(
                f"{path}.hashScheme" if scheme is not None else path,
                f"unknown hash scheme {name!r} ({exc})",
            )
            return None

    def parents(self, v: Any, path: str) -> tuple[Parent, ...]:
        """``parentConditions``: ``[{id, condition, gate?}]``."""
        if v is None:
            return ()
        if not isinstance(v, list):
            self.problem(path, "expected a list of {id, condition, gate}")
            return ()
        out = []
        for i, pc in enumerate(v):
            p = f"{path}[{i}]"
            if not isinstance(pc, Mapping) or not isinstance(pc.get("id"), str):
                self.problem(p, "expected {id: <feature key>, condition: {...}}")
                continue
            test = self.condition(pc.get("condition") or {}, f"{p}.condition")
            if test is not None:
                out.append(Parent(pc["id"], test, bool(pc.get("gate"))))
        return tuple(out)

    def filters(self, v: Any, path: str) -> tuple[Filter, ...]:
        """``filters``: ``[{seed, ranges, hashVersion=2, attribute="id"}]``."""
        if v is None:
            return ()
        if not isinstance(v, list):
            self.problem(path, "expected a list of filters")
            return ()
        out = []
        for i, f in enumerate(v):
            p = f"{path}[{i}]"
            if not isinstance(f, Mapping):
                self.problem(p, "expected {seed, ranges, hashVersion?, attribute?}")
                continue
            self.known_keys(f, _FILTER_KEYS, p)
            seed = self.get(f, "seed", p, str, "a string") or ""
            version = self.get(f, "hashVersion", p, int, "an integer") or 2
            ranges = self.ranges(f.get("ranges", []), f"{p}.ranges") or ()
            attribute = self.get(f, "attribute", p, str, "a string") or "id"
            self.reads.note(attribute, f"{p}.attribute", None)
            out.append(Filter(attribute, self.bucketer("growthbook", seed, version, p), ranges))
        return tuple(out)
