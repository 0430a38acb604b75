"""Build compiled features, rules, experiments and bandits from GrowthBook-shaped specs."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..allocation import compile_url_targets, get_bucket_ranges, get_equal_weights
from ._builder import Builder
from ._model import (
    _NUMBER,
    _TRUTHY_KEYS,
    Bandit,
    Condition,
    Experiment,
    Feature,
    Leaf,
    Rule,
    js_truthy,
)
from ._results import FeatureResult, FeatureSource, Reason

__all__ = ["EXPERIMENT_KEYS", "FEATURE_KEYS", "RULE_KEYS", "compile_experiment", "compile_feature"]

#: The fields of GrowthBook's SDK payload shapes (plus ``hashScheme``): any other key of a
#: feature, rule or experiment is a typo in a container, a warning in a GrowthBook import.
FEATURE_KEYS = frozenset({"defaultValue", "rules"})
_SHARED_KEYS = frozenset({
    "key", "variations", "weights", "coverage", "ranges", "condition", "parentConditions",
    "namespace", "force", "hashAttribute", "fallbackAttribute", "hashVersion",
    "disableStickyBucketing", "bucketVersion", "minBucketVersion", "meta", "filters", "seed",
    "name", "phase", "hashScheme", "contextualBanditRef",
})  # fmt: skip
RULE_KEYS = _SHARED_KEYS | {"id", "range", "tracks", "contextualVariations"}
EXPERIMENT_KEYS = _SHARED_KEYS | {
    "active", "status", "urlPatterns", "persistQueryString", "changeId", "changeType", "manual",
}  # fmt: skip
#: the fields of a variation's ``meta`` entry
_META_KEYS = frozenset({"key", "name", "passthrough"})
#: how far from 1 the weights may sum (float rounding of hand-written fractions)
_WEIGHT_SUM_TOLERANCE = 1e-6


def _numbers(b: Builder, v: Any, path: str) -> list[float] | None:
    if v is None:
        return None
    if isinstance(v, list) and all(isinstance(x, _NUMBER) and not isinstance(x, bool) for x in v):
        return v
    b.problem(path, "expected a list of numbers")
    return None


def _number(b: Builder, spec: Mapping[str, Any], key: str, path: str) -> float | None:
    return b.get(spec, key, path, _NUMBER, "a number")  # type: ignore[no-any-return]


def _bandit_leaves(b: Builder, ref: str) -> list[tuple[Condition | None, int, list[float]]] | None:
    spec = b.bandits.get(ref)
    if not isinstance(spec, Mapping):
        return None  # a dangling reference runs as a plain experiment
    path = f"decisions.contextual_bandits.{ref}"
    contexts = spec.get("contexts") or []
    if not isinstance(contexts, list):
        b.problem(f"{path}.contexts", "expected a list")
        return []
    out = []
    for i, ctx in enumerate(contexts):
        p = f"{path}.contexts[{i}]"
        if not isinstance(ctx, Mapping):
            b.problem(p, "expected {leafId, condition, weights}")
            continue
        weights = _numbers(b, ctx.get("weights"), f"{p}.weights") or []
        leaf_id = ctx.get("leafId", i)
        out.append((b.condition(ctx.get("condition") or {}, f"{p}.condition"), leaf_id, weights))
    return out


def _bandit(
    b: Builder,
    ref: str,
    e: Experiment,
    definition: dict[str, Any],
    *,
    weights: list[float] | None,
    coverage: float | None,
    ranges: tuple[tuple[float, float], ...] | None,
) -> Bandit | None:
    leaves_spec = _bandit_leaves(b, ref)
    if leaves_spec is None:
        return None
    version = b.bandits[ref].get("banditVersion")
    extra = {} if version is None else {"banditVersion": version}

    def leaf(cond: Condition | None, leaf_id: int, w: list[float], plain: dict[str, Any]) -> Leaf:
        leaf_ranges = ranges if ranges is not None else tuple(get_bucket_ranges(e.n, coverage, w))
        cb = {**plain, "contextualBandit": {"leafId": leaf_id, "variationWeights": w, **extra}}
        return Leaf(
            cond,
            leaf_id,
            w,
            ranges=leaf_ranges,
            plain=MappingProxyType(plain),
            cb=MappingProxyType(cb),
        )

    leaves = tuple(
        leaf(cond, leaf_id, w, {**definition, "weights": w}) for cond, leaf_id, w in leaves_spec
    )
    fallback_weights = weights if weights else get_equal_weights(e.n)
    return Bandit(leaves, leaf(None, -1, fallback_weights, definition), version)


def compile_experiment(
    b: Builder,
    spec: Mapping[str, Any],
    path: str,
    definition: dict[str, Any],
    feature_id: str | None = None,
) -> Experiment | None:
    """Compile one experiment spec (GrowthBook's ``Experiment`` shape plus ``hashScheme``)."""
    key = spec.get("key")
    variations = spec.get("variations")
    if not isinstance(key, str) or not key:
        b.problem(f"{path}.key", "expected a non-empty string")
        return None
    if not isinstance(variations, list):
        b.problem(f"{path}.variations", "expected a list of values")
        return None
    e = Experiment()
    e.key = key
    e.variations = tuple(variations)
    e.n = len(variations)
    e.truthy = tuple(js_truthy(v) for v in variations)
    weights, coverage, given_ranges = _allocation(b, e, spec, path)
    e.hash_attribute = b.get(spec, "hashAttribute", path, str, "a string") or "id"
    e.fallback_attribute = b.get(spec, "fallbackAttribute", path, str, "a string") or None
    e.dotted = "." in e.hash_attribute or "." in (e.fallback_attribute or "")
    b.identifiers(path, e.hash_attribute, e.fallback_attribute)
    e.disable_sticky = bool(spec.get("disableStickyBucketing"))
    e.bucket_version = b.get(spec, "bucketVersion", path, int, "an integer") or 0
    e.min_bucket_version = b.get(spec, "minBucketVersion", path, int, "an integer") or 0
    e.sticky_id = f"{key}__{e.bucket_version}"
    _namespace(b, e, spec, path)
    _variation_meta(b, e, spec, path)
    e.name = b.get(spec, "name", path, str, "a string") or None
    e.exposure_props = tuple(
        MappingProxyType(_exposure_props(e, i, feature_id)) for i in range(e.n)
    )
    seed = b.get(spec, "seed", path, str, "a string") or key
    version = b.get(spec, "hashVersion", path, int, "an integer") or 1
    e.bucketer = b.bucketer(spec.get("hashScheme"), seed, version, path)
    e.filters = b.filters(spec.get("filters"), f"{path}.filters")
    e.condition = b.condition(spec.get("condition"), f"{path}.condition")
    e.parents = b.parents(spec.get("parentConditions"), f"{path}.parentConditions")
    _status_and_urls(b, e, spec, path)
    e.persist_query_string = bool(spec.get("persistQueryString"))
    e.definition = MappingProxyType(definition)
    ref = spec.get("contextualBanditRef")
    e.fast = False
    if isinstance(ref, str):
        e.bandit = _bandit(
            b, ref, e, definition, weights=weights, coverage=coverage, ranges=given_ranges
        )
    e.fast = _fast(e)
    return e


def _allocation(
    b: Builder, e: Experiment, spec: Mapping[str, Any], path: str
) -> tuple[list[float] | None, float | None, tuple[tuple[float, float], ...] | None]:
    """Set ``e.ranges`` from the spec's weights, coverage and ranges; returns the three
    as given (a contextual bandit's leaves start from them)."""
    weights = _numbers(b, spec.get("weights"), f"{path}.weights")
    if weights is not None:
        # GrowthBook's SDKs fall back to equal weights here: a container says so instead
        if len(weights) != e.n:
            b.lenient(f"{path}.weights", f"{len(weights)} weights for {e.n} variations")
        elif abs(sum(weights) - 1.0) > _WEIGHT_SUM_TOLERANCE:
            b.lenient(f"{path}.weights", f"the weights sum to {sum(weights):g}, not 1")
    coverage = _number(b, spec, "coverage", path)
    given_ranges = b.ranges(spec.get("ranges"), f"{path}.ranges")
    e.ranges = (
        given_ranges
        if given_ranges is not None
        else tuple(get_bucket_ranges(e.n, coverage, weights))
    )
    return weights, coverage, given_ranges


def _namespace(b: Builder, e: Experiment, spec: Mapping[str, Any], path: str) -> None:
    ns = spec.get("namespace")
    if ns:
        if (
            isinstance(ns, list)
            and len(ns) == 3
            and all(isinstance(x, _NUMBER) and not isinstance(x, bool) for x in ns[1:])
        ):
            e.namespace = tuple(ns)
        else:
            b.problem(f"{path}.namespace", "expected [namespace id, start, end]")


def _variation_meta(b: Builder, e: Experiment, spec: Mapping[str, Any], path: str) -> None:
    """Variation keys, names and passthrough flags from ``meta``, and the picks table."""
    meta = spec.get("meta") or []
    if not isinstance(meta, list) or not all(isinstance(m, Mapping) for m in meta):
        b.problem(f"{path}.meta", "expected a list of objects")
        meta = []
    for i, m in enumerate(meta):
        b.known_keys(m, _META_KEYS, f"{path}.meta[{i}]")
    metas = [meta[i] if i < len(meta) else {} for i in range(e.n)]
    e.variation_keys = tuple(str(m.get("key") or i) for i, m in enumerate(metas))
    e.variation_names = tuple(m.get("name") or None for m in metas)
    e.passthrough = tuple(bool(m.get("passthrough")) for m in metas)
    e.picks = tuple(
        (start, end, i, e.variations[i], e.variation_keys[i], e.variation_names[i],
         e.passthrough[i], e.truthy[i])
        for i, (start, end) in enumerate(e.ranges[: e.n])
    )  # fmt: skip
    e.meta_index = {}
    for i, m in enumerate(meta):
        if isinstance(m.get("key"), str):
            e.meta_index.setdefault(m["key"], i)


def _status_and_urls(b: Builder, e: Experiment, spec: Mapping[str, Any], path: str) -> None:
    """The forced variation, status and URL targeting."""
    if "force" in spec:
        e.has_force = True
        force = spec["force"]
        e.force = force if isinstance(force, int) and not isinstance(force, bool) else -1
    status = spec.get("status")
    e.active = spec.get("active") is not False and status != "draft"
    e.stopped = status == "stopped"
    patterns = spec.get("urlPatterns")
    if patterns is not None:
        if isinstance(patterns, list) and all(isinstance(p, Mapping) for p in patterns):
            e.url_targeted = compile_url_targets(patterns)
            e.is_redirect = any(
                isinstance(v, Mapping) and "urlRedirect" in v for v in e.variations
            )
        else:
            b.problem(f"{path}.urlPatterns", "expected a list of {type, pattern, include}")


def _fast(e: Experiment) -> bool:
    # the evaluator's short path applies: nothing beyond hashing into ranges
    return (
        e.n >= 2
        and len(e.ranges) == e.n
        and e.bandit is None
        and e.url_targeted is None
        and e.active
        and not e.stopped
        and not e.dotted
        and not e.filters
        and not e.parents
        and not e.has_force
        and e.bucketer is not None
    )


def _exposure_props(e: Experiment, i: int, feature_id: str | None) -> dict[str, Any]:
    # Segment's A/B testing spec names, built once per variation.
    props: dict[str, Any] = {
        "experiment_id": e.key,
        "experiment_name": e.name or e.key,
        "variation_id": e.variation_keys[i],
        "variation_name": e.variation_names[i] or e.variation_keys[i],
        "hash_attribute": e.hash_attribute,
    }
    if feature_id is not None:
        props["feature_id"] = feature_id
    if e.passthrough[i]:
        props["holdout"] = True
    return props


def _rule_definition(spec: Mapping[str, Any], key: str, variations: list[Any]) -> dict[str, Any]:
    # Exactly the keys GrowthBook copies from a rule into the experiment it runs.
    d: dict[str, Any] = {"variations": variations, "key": spec.get("key") or key}
    if "coverage" in spec:
        d["coverage"] = spec["coverage"]
    for k in _TRUTHY_KEYS:
        if js_truthy(spec.get(k)):
            d[k] = spec[k]
    for k in ("bucketVersion", "minBucketVersion"):
        if k in spec:
            d[k] = spec[k]
    return d


def _rule(b: Builder, feature_key: str, spec: Any, path: str) -> Rule | None:
    if not isinstance(spec, Mapping):
        b.problem(path, "expected a rule object")
        return None
    b.known_keys(spec, RULE_KEYS, path)
    r = Rule()
    r.id = b.get(spec, "id", path, str, "a string") or ""
    r.parents = b.parents(spec.get("parentConditions"), f"{path}.parentConditions")
    r.filters = b.filters(spec.get("filters"), f"{path}.filters")
    if "force" in spec:
        r.is_force = True
        r.condition = b.condition(spec.get("condition"), f"{path}.condition")
        r.range = b.pair(spec["range"], f"{path}.range") if spec.get("range") is not None else None
        r.coverage = _number(b, spec, "coverage", path)
        r.rollout = r.range is not None or r.coverage is not None
        r.hash_attribute = b.get(spec, "hashAttribute", path, str, "a string") or "id"
        r.fallback_attribute = b.get(spec, "fallbackAttribute", path, str, "a string") or None
        r.dotted = "." in r.hash_attribute or "." in (r.fallback_attribute or "")
        b.identifiers(path, r.hash_attribute, r.fallback_attribute)
        r.disable_sticky = bool(spec.get("disableStickyBucketing"))
        seed = b.get(spec, "seed", path, str, "a string") or feature_key
        version = b.get(spec, "hashVersion", path, int, "an integer") or 1
        r.bucketer = b.bucketer(spec.get("hashScheme"), seed, version, path)
        value = spec["force"]
        r.result = FeatureResult(
            key=feature_key,
            value=value,
            on=js_truthy(value),
            source=FeatureSource.FORCE,
            reasons=(Reason.TARGETING_MATCH,),
            rule_id=r.id,
        )
        return r
    variations = spec.get("contextualVariations")
    if variations is None:
        variations = spec.get("variations")
    if not variations:
        return r  # prerequisites still gate; the rule itself decides nothing
    if not isinstance(variations, list):
        b.problem(f"{path}.variations", "expected a list of values")
        return None
    definition = _rule_definition(spec, feature_key, variations)
    exp_spec = dict(definition)
    for k in ("hashScheme", "contextualBanditRef"):
        if k in spec:
            exp_spec[k] = spec[k]
    r.experiment = exp = compile_experiment(b, exp_spec, path, definition, feature_key)
    if exp is not None and exp.fast and not r.parents and not r.filters:
        r.fast = exp
        r.no_hash = (exp, Reason.NO_HASH_ATTRIBUTE, feature_key)
        r.outside = (exp, Reason.NAMESPACE, feature_key)
        r.unmatched = (exp, Reason.CONDITION, feature_key)
        r.uncovered = (exp, Reason.COVERAGE, feature_key)
    return r


def compile_feature(b: Builder, key: str, spec: Any, path: str) -> Feature | None:
    """Compile one feature definition (``{defaultValue, rules}``)."""
    if not isinstance(spec, Mapping):
        b.problem(path, "expected an object with defaultValue and rules")
        return None
    b.known_keys(spec, FEATURE_KEYS, path)
    rules_spec = spec.get("rules") or []
    if not isinstance(rules_spec, list):
        b.problem(f"{path}.rules", "expected a list of rules")
        rules_spec = []
    rules = []
    for i, rule_spec in enumerate(rules_spec):
        rule = _rule(b, key, rule_spec, f"{path}.rules[{i}]")
        if rule is not None:
            rules.append(rule)
    value = spec.get("defaultValue")
    default = FeatureResult(
        key=key,
        value=value,
        on=js_truthy(value),
        source=FeatureSource.DEFAULT_VALUE,
        reasons=(Reason.DEFAULT,),
    )
    return Feature(key, tuple(rules), default)
