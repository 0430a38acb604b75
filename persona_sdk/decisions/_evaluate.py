"""Evaluation: features and experiments for one visitor, with no I/O.

The algorithm is GrowthBook's (its SDK specification, step by step) over the structures
``_build`` precomputed. Sticky-bucket documents are read from and written to an in-memory
``EvalContext``; loading and saving them is the caller's business (sync or async), which
keeps one algorithm for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ..allocation import (
    StickyAssignments,
    get_query_string_override,
    in_namespace,
    merge_query_strings,
    sticky_key,
)
from ._compile import Experiment, Filter, Rule, js_truthy
from ._results import ExperimentResult, FeatureResult, FeatureSource, Reason

__all__ = ["EvalContext", "Evaluator", "hash_string", "resolve"]

_encode = msgspec.json.encode
_replace = msgspec.structs.replace
# Enum member look-ups cost a descriptor call each; the hot path reads these constants.
_EXPERIMENT = FeatureSource.EXPERIMENT
_SPLIT = Reason.SPLIT
_STICKY = Reason.STICKY_BUCKET
_REASONS = {r: (r,) for r in Reason}
# Outcomes of a rule's prerequisites.
_PASS, _SKIP, _GATED, _CYCLE = object(), object(), object(), object()


def _cyclic(key: str) -> FeatureResult[Any]:
    return FeatureResult(
        key=key,
        value=None,
        on=False,
        source=FeatureSource.CYCLIC_PREREQUISITE,
        reasons=(Reason.CYCLIC_PREREQUISITE,),
    )


class EvalContext:
    """One visitor's evaluation state: attributes, URL, forced variations, sticky documents,
    and what happened (experiment results, exposures to log, documents to save).

    ``Visitor`` is one (it extends this class); build one directly to evaluate without a
    visitor (``engine.context(attributes)``).
    """

    __slots__ = (
        "_attrs",
        "_dirty",
        "_docs",
        "_exposures",
        "_forced",
        "_results",
        "_sticky_on",
        "url",
    )

    def __init__(
        self,
        attrs: dict[str, Any],
        url: str | None = None,
        forced: Mapping[str, Any] | None = None,
        sticky_on: bool = False,
        docs: dict[str, StickyAssignments] | None = None,
    ) -> None:
        self._attrs = attrs
        self.url = url
        self._forced = forced or {}
        self._sticky_on = sticky_on
        self._docs: dict[str, StickyAssignments] = docs if docs is not None else {}
        self._dirty: dict[str, StickyAssignments] = {}
        self._exposures: list[ExperimentResult[Any]] = []
        self._results: dict[str, ExperimentResult[Any]] = {}


def resolve(attrs: Mapping[str, Any], name: str, dotted: bool) -> Any:
    """An attribute by literal key first, then by dotted path; ``""`` when missing."""
    if name in attrs:
        return attrs[name]
    if dotted:
        node: Any = attrs
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return ""
            node = node[part]
        return "" if node is None else node
    return ""


def hash_string(v: Any) -> str:
    """A hash value as JavaScript would concatenate it into a string."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, float):
        return repr(v)
    return _encode(v).decode("utf-8")


def sticky_string(v: Any) -> str:
    """A sticky attribute value: strings as they are, anything else as JSON."""
    return (
        v
        if isinstance(v, str)
        else hash_string(v)
        if isinstance(v, (int, float))
        else (_encode(v).decode("utf-8"))
    )


class Evaluator:
    """The evaluation half of an ``Engine`` (mixed in; reads the engine's compiled state)."""

    __slots__ = ()

    features: Mapping[str, Any]
    experiments: Mapping[str, Experiment]
    redirects: tuple[Experiment, ...]
    enabled: bool
    qa_mode: bool
    url_overrides: bool

    # -- features -----------------------------------------------------------------------

    def eval_feature(
        self, key: str, ctx: EvalContext, stack: tuple[str, ...] = ()
    ) -> FeatureResult[Any]:
        """Evaluate feature ``key`` (``stack``: the prerequisite chain, for cycles)."""
        if key in stack:
            return _cyclic(key)
        feat = self.features.get(key)
        if feat is None:
            return FeatureResult(
                key=key,
                value=None,
                on=False,
                source=FeatureSource.UNKNOWN_FEATURE,
                reasons=(Reason.UNKNOWN_FEATURE,),
            )
        attrs = ctx._attrs
        inner: tuple[str, ...] | None = None
        for rule in feat.rules:
            if rule.parents:
                if inner is None:
                    inner = (*stack, key)
                outcome = self._parents(rule, ctx, inner)
                if outcome is _SKIP:
                    continue
                if outcome is _GATED:
                    return feat.gated  # type: ignore[no-any-return]
                if outcome is _CYCLE:
                    return _cyclic(key)
            if rule.filters and self._filtered_out(rule.filters, attrs):
                continue
            if rule.is_force:
                if rule.condition is not None and not rule.condition(attrs):
                    continue
                if rule.rollout and not self._in_rollout(rule, ctx):
                    continue
                return rule.result  # type: ignore[no-any-return]
            exp = rule.experiment
            if exp is None:
                continue
            res, definition = self.run(exp, ctx, key, inner or (*stack, key))
            ctx._results[exp.key] = res
            if res.in_experiment and not res.passthrough:
                return FeatureResult(
                    key,
                    res.value,
                    exp.truthy[res.variation_id],
                    _EXPERIMENT,
                    _REASONS[res.reason],
                    rule.id,
                    definition,
                    res,
                )
        return feat.default  # type: ignore[no-any-return]

    def _parents(self, rule: Rule, ctx: EvalContext, stack: tuple[str, ...]) -> object:
        for parent in rule.parents:
            res = self.eval_feature(parent.id, ctx, stack)
            if res.source is FeatureSource.CYCLIC_PREREQUISITE:
                return _CYCLE
            if not parent.test({"value": res.value}):
                return _GATED if parent.gate else _SKIP
        return _PASS

    @staticmethod
    def _filtered_out(filters: tuple[Filter, ...], attrs: Mapping[str, Any]) -> bool:
        for f in filters:
            value = resolve(attrs, f.attribute, f.dotted)
            if not js_truthy(value) or f.bucketer is None:
                return True
            n = f.bucketer(hash_string(value))
            if not any(start <= n < end for start, end in f.ranges):
                return True
        return False

    @staticmethod
    def _in_rollout(rule: Rule, ctx: EvalContext) -> bool:
        if rule.range is None and rule.coverage == 0:
            return False
        attrs = ctx._attrs
        value = resolve(attrs, rule.hash_attribute, rule.dotted)
        fallback = rule.fallback_attribute
        if not js_truthy(value) and fallback and ctx._sticky_on and not rule.disable_sticky:
            value = resolve(attrs, fallback, rule.dotted)
        if not js_truthy(value) or rule.bucketer is None:
            return False
        n = rule.bucketer(hash_string(value))
        if rule.range is not None:
            return rule.range[0] <= n < rule.range[1]
        return rule.coverage is None or n <= rule.coverage

    # -- experiments --------------------------------------------------------------------

    def run(
        self, exp: Experiment, ctx: EvalContext, feature_id: str | None, stack: tuple[str, ...] = ()
    ) -> tuple[ExperimentResult[Any], Mapping[str, Any]]:
        """Run one experiment for the visitor; returns the result and the definition used
        (GrowthBook's experiment shape; a contextual bandit's depends on the leaf)."""
        definition = exp.definition
        key = exp.key
        if exp.n < 2 or not self.enabled:
            reason = Reason.DISABLED if exp.n >= 2 else Reason.TOO_FEW_VARIATIONS
            return self._miss(exp, ctx, feature_id, reason), definition
        leaf = None
        if exp.bandit is not None:
            leaf = exp.bandit.choose(ctx._attrs)
            definition = leaf.plain_definition
        url = ctx.url
        if exp.url_targeted is not None and not exp.url_targeted(url or ""):
            return self._miss(exp, ctx, feature_id, Reason.URL_TARGETING), definition
        if url and self.url_overrides:
            qs = get_query_string_override(key, url, exp.n)
            if qs is not None:
                return self._pick(exp, ctx, feature_id, qs, Reason.URL_OVERRIDE), definition
        forced = ctx._forced
        if forced and key in forced:
            return self._pick(exp, ctx, feature_id, forced[key], Reason.FORCED), definition
        if not exp.active:
            return self._miss(exp, ctx, feature_id, Reason.INACTIVE), definition
        attrs = ctx._attrs
        attr = exp.hash_attribute
        value = resolve(attrs, attr, True) if exp.dotted else attrs.get(attr, "")
        sticky = ctx._sticky_on and not exp.disable_sticky
        present = value != "" if value.__class__ is str else js_truthy(value)
        if not present and sticky and exp.fallback_attribute:
            fallback_value = resolve(attrs, exp.fallback_attribute, exp.dotted)
            if js_truthy(fallback_value):
                attr, value, present = exp.fallback_attribute, fallback_value, True
        if not present:
            return self._miss(exp, ctx, feature_id, Reason.NO_HASH_ATTRIBUTE), definition
        if sticky:
            assigned, blocked = self._sticky_variation(exp, ctx)
        else:
            assigned, blocked = -1, False
        found_sticky = assigned >= 0
        text = value if value.__class__ is str else hash_string(value)
        if not found_sticky:
            if exp.filters or exp.namespace is not None or exp.parents:
                excluded = self._excluded(exp, ctx, text, stack)
                if excluded is not None:
                    return self._miss(exp, ctx, feature_id, excluded), definition
            elif exp.condition is not None and not exp.condition(attrs):
                return self._miss(exp, ctx, feature_id, Reason.CONDITION), definition
        bucketer = exp.bucketer
        if bucketer is None:
            return self._miss(exp, ctx, feature_id, Reason.INVALID_HASH_VERSION), definition
        n = bucketer(text)
        if not found_sticky:
            for i, (start, end) in enumerate(exp.ranges if leaf is None else leaf.ranges):
                if start <= n < end:
                    assigned = i
                    break
        if blocked:
            miss = self._miss(exp, ctx, feature_id, Reason.STICKY_VERSION_BLOCKED, True)
            return miss, definition
        if assigned < 0:
            return self._miss(exp, ctx, feature_id, Reason.COVERAGE), definition
        if exp.has_force:
            return self._pick(exp, ctx, feature_id, exp.force, Reason.FORCED), definition
        if self.qa_mode:
            return self._miss(exp, ctx, feature_id, Reason.QA_MODE), definition
        if exp.stopped:
            return self._miss(exp, ctx, feature_id, Reason.INACTIVE), definition
        res: ExperimentResult[Any] = ExperimentResult(
            key,
            exp.variations[assigned],
            True,
            assigned,
            exp.variation_keys[assigned],
            _STICKY if found_sticky else _SPLIT,
            exp.variation_names[assigned],
            exp.name,
            feature_id,
            True,
            attr,
            value,
            n,
            found_sticky,
            exp.passthrough[assigned],
        )
        if leaf is not None:
            definition = leaf.cb_definition
            res = _replace(
                res,
                leaf_id=leaf.leaf_id,
                variation_weights=leaf.weights,
                bandit_version=exp.bandit.version,  # type: ignore[union-attr]
            )
        if sticky:
            self._remember(exp, ctx, attr, value, res.variation_key)
        ctx._exposures.append(res)
        return res, definition

    def _excluded(
        self, exp: Experiment, ctx: EvalContext, text: str, stack: tuple[str, ...]
    ) -> Reason | None:
        if exp.filters:
            if self._filtered_out(exp.filters, ctx._attrs):
                return Reason.FILTERED
        elif exp.namespace is not None and not in_namespace(text, exp.namespace):
            return Reason.NAMESPACE
        if exp.condition is not None and not exp.condition(ctx._attrs):
            return Reason.CONDITION
        for parent in exp.parents:
            res = self.eval_feature(parent.id, ctx, stack)
            if res.source is FeatureSource.CYCLIC_PREREQUISITE:
                return Reason.CYCLIC_PREREQUISITE
            if not parent.test({"value": res.value}):
                return Reason.PREREQUISITE_FAILED
        return None

    def _hash_attribute(self, exp: Experiment, ctx: EvalContext) -> tuple[str, Any]:
        attr = exp.hash_attribute
        value = resolve(ctx._attrs, attr, exp.dotted)
        if (
            not js_truthy(value)
            and exp.fallback_attribute
            and ctx._sticky_on
            and not exp.disable_sticky
        ):
            fallback_value = resolve(ctx._attrs, exp.fallback_attribute, exp.dotted)
            if js_truthy(fallback_value):
                return exp.fallback_attribute, fallback_value
        return attr, value

    def _miss(
        self,
        exp: Experiment,
        ctx: EvalContext,
        feature_id: str | None,
        reason: Reason,
        sticky_used: bool = False,
    ) -> ExperimentResult[Any]:
        attr, value = self._hash_attribute(exp, ctx)
        return ExperimentResult(
            experiment_key=exp.key,
            value=exp.variations[0] if exp.n else None,
            in_experiment=False,
            variation_id=0,
            variation_key=exp.variation_keys[0] if exp.n else "0",
            reason=reason,
            variation_name=exp.variation_names[0] if exp.n else None,
            experiment_name=exp.name,
            feature_id=feature_id,
            hash_attribute=attr,
            hash_value=value,
            sticky_bucket_used=sticky_used,
        )

    def _pick(
        self, exp: Experiment, ctx: EvalContext, feature_id: str | None, index: Any, reason: Reason
    ) -> ExperimentResult[Any]:
        # A variation chosen without hashing (forced, URL override): no exposure is logged.
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < exp.n:
            return self._miss(exp, ctx, feature_id, reason)
        attr, value = self._hash_attribute(exp, ctx)
        return ExperimentResult(
            experiment_key=exp.key,
            value=exp.variations[index],
            in_experiment=True,
            variation_id=index,
            variation_key=exp.variation_keys[index],
            reason=reason,
            variation_name=exp.variation_names[index],
            experiment_name=exp.name,
            feature_id=feature_id,
            hash_attribute=attr,
            hash_value=value,
            passthrough=exp.passthrough[index],
        )

    # -- sticky bucketing ---------------------------------------------------------------

    @staticmethod
    def _sticky_variation(exp: Experiment, ctx: EvalContext) -> tuple[int, bool]:
        docs = ctx._docs
        if not docs:
            return -1, False
        attrs = ctx._attrs
        assignments: dict[str, str] = {}
        if exp.fallback_attribute:
            fallback_value = resolve(attrs, exp.fallback_attribute, exp.dotted)
            if js_truthy(fallback_value):
                doc = docs.get(sticky_key(exp.fallback_attribute, sticky_string(fallback_value)))
                if doc is not None:
                    assignments.update(doc.assignments)
        value = resolve(attrs, exp.hash_attribute, exp.dotted)
        doc = docs.get(sticky_key(exp.hash_attribute, sticky_string(value)))
        if doc is not None:
            assignments.update(doc.assignments)
        if not assignments:
            return -1, False
        for version in range(exp.min_bucket_version):
            if f"{exp.key}__{version}" in assignments:
                return -1, True
        variation_key = assignments.get(exp.sticky_id)
        if variation_key is None:
            return -1, False
        return exp.meta_index.get(variation_key, -1), False

    @staticmethod
    def _remember(
        exp: Experiment, ctx: EvalContext, attr: str, value: Any, variation_key: str
    ) -> None:
        text = sticky_string(value)
        key = sticky_key(attr, text)
        existing = ctx._docs.get(key)
        old = existing.assignments if existing is not None else {}
        if old.get(exp.sticky_id) == variation_key:
            return
        doc = StickyAssignments(
            attribute_name=attr,
            attribute_value=text,
            assignments={**old, exp.sticky_id: variation_key},
        )
        ctx._docs[key] = doc
        ctx._dirty[key] = doc

    # -- standalone experiments and redirects -------------------------------------------

    def eval_experiment(self, key: str, ctx: EvalContext) -> ExperimentResult[Any] | None:
        """Run standalone experiment ``key``, or None when the container has none by that
        key."""
        exp = self.experiments.get(key)
        if exp is None:
            return None
        res = self.run(exp, ctx, None)[0]
        ctx._results[key] = res
        return res

    def eval_redirect(self, ctx: EvalContext) -> tuple[str, ExperimentResult[Any]] | None:
        """The first redirect experiment whose URL targeting matches and that puts the
        visitor in a variation with a ``urlRedirect``: ``(url to redirect to, result)``."""
        url = ctx.url
        if not url:
            return None
        for exp in self.redirects:
            res = self.run(exp, ctx, None)[0]
            if not res.in_experiment:
                continue
            value = res.value
            target = value.get("urlRedirect") if isinstance(value, Mapping) else None
            if not target or not isinstance(target, str):
                continue
            final = merge_query_strings(url, target) if exp.persist_query_string else target
            if exp.url_targeted is not None and exp.url_targeted(final):
                continue  # the target matches the patterns too: redirecting would loop
            return final, res
        return None
