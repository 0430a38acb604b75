"""The compiled forms of a container's features, experiments and bandits (``Builder`` and
``_spec`` make them, checking every shape).

They are small slotted objects with everything precomputed that does not depend on
the visitor: compiled conditions, bucket ranges, per-seed bucketers, variation keys, the
GrowthBook-shaped experiment definitions and the constant ``FeatureResult``s of force rules
and default values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..allocation import Bucketer
from ._results import FeatureResult, FeatureSource, Reason

__all__ = ["Bandit", "Experiment", "Feature", "Filter", "Leaf", "Parent", "Rule"]

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

    def exposure_properties(self, variation: int, hash_attribute: str) -> Mapping[str, Any]:
        """The ``Experiment Viewed`` properties of ``variation``, as hashed on
        ``hash_attribute`` (the fallback attribute, when not the experiment's own, is named)."""
        props = self.exposure_props[variation]
        if hash_attribute != self.hash_attribute:
            return {**props, "hash_attribute": hash_attribute}
        return props


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
