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

from ..allocation import get_query_string_override, in_namespace, merge_query_strings
from ._context import EvalContext, hash_string, remember, resolve, sticky_variation
from ._model import Experiment, Filter, Rule, js_truthy
from ._results import ExperimentResult, FeatureResult, FeatureSource, Reason

__all__ = ["Evaluator"]

_replace = msgspec.structs.replace
# Enum member look-ups cost a descriptor call each; the hot path reads these constants.
_EXPERIMENT = FeatureSource.EXPERIMENT
_SPLIT = Reason.SPLIT
_STICKY = Reason.STICKY_BUCKET
_REASONS = {r: (r,) for r in Reason}
_SPLIT_REASONS = _REASONS[_SPLIT]
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


class Evaluator:
    """The evaluation half of an ``Engine`` (mixed in; reads the engine's compiled state)."""

    __slots__ = ()

    features: Mapping[str, Any]
    experiments: Mapping[str, Experiment]
    redirects: tuple[Experiment, ...]
    enabled: bool
    qa_mode: bool
    url_overrides: bool
    forced: Mapping[str, Any]

    # -- features -----------------------------------------------------------------------

    def eval_feature(
        self, key: str, ctx: EvalContext, stack: tuple[str, ...] = ()
    ) -> FeatureResult[Any]:
        """Evaluate feature ``key`` (``stack``: the prerequisite chain, for cycles)."""
        # long: the per-feature hot path, inlined: the fast rule loop must not pay a call per rule
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
        fast = ctx._mode.fast
        inner: tuple[str, ...] | None = None
        for rule in feat.rules:
            exp = rule.fast
            if exp is not None and fast:
                # The common case in fewer steps, with the same outcome as ``run``: no
                # override, sticky bucket, bandit, URL targeting, filter or prerequisite
                # is in play.
                # A miss is recorded as (experiment, reason, feature), made once per rule:
                # its result is built only if someone asks (visitor.experiment), the
                # visitor staying the same.
                value = attrs.get(exp.hash_attribute, "")
                if value.__class__ is str:
                    cond = exp.condition
                    if not value:
                        ctx._results[exp.key] = rule.no_hash
                    elif exp.namespace is not None and not in_namespace(value, exp.namespace):
                        ctx._results[exp.key] = rule.outside
                    elif cond is not None and not cond(attrs):
                        ctx._results[exp.key] = rule.unmatched
                    else:
                        n = exp.bucketer(value)
                        for start, end, i, variation, vkey, vname, passthrough, on in exp.picks:
                            if start <= n < end:
                                res = ExperimentResult(
                                    exp.key, variation, True, i, vkey, _SPLIT, vname, exp.name,
                                    key, True, exp.hash_attribute, value, n, False, passthrough,
                                )  # fmt: skip
                                ctx._results[exp.key] = res
                                ctx._exposed(res, exp)
                                if passthrough:
                                    break
                                return FeatureResult(
                                    key, variation, on, _EXPERIMENT, _SPLIT_REASONS, rule.id,
                                    exp.definition, res,
                                )  # fmt: skip
                        else:
                            ctx._results[exp.key] = rule.uncovered
                    continue
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
        if not js_truthy(value) and fallback and ctx._mode.sticky_on and not rule.disable_sticky:
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
        # long: the per-experiment hot path, inlined: a call per step costs ~50 ns
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
        forced = ctx._mode.forced
        if forced and key in forced:
            return self._pick(exp, ctx, feature_id, forced[key], Reason.FORCED), definition
        if not exp.active:
            return self._miss(exp, ctx, feature_id, Reason.INACTIVE), definition
        attrs = ctx._attrs
        attr = exp.hash_attribute
        value = resolve(attrs, attr, True) if exp.dotted else attrs.get(attr, "")
        sticky = ctx._mode.sticky_on and not exp.disable_sticky
        present = value != "" if value.__class__ is str else js_truthy(value)
        if not present and sticky and exp.fallback_attribute:
            fallback_value = resolve(attrs, exp.fallback_attribute, exp.dotted)
            if js_truthy(fallback_value):
                attr, value, present = exp.fallback_attribute, fallback_value, True
        if not present:
            return self._miss(exp, ctx, feature_id, Reason.NO_HASH_ATTRIBUTE), definition
        if sticky:
            assigned, blocked = sticky_variation(exp, ctx)
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
        res = ExperimentResult(
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
            remember(exp, ctx, attr, value, res.variation_key)
        # recorded before it is logged: an exposure hook may ask visitor.experiment(key)
        ctx._results[key] = res
        ctx._exposed(res, exp)
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
            exp.fallback_attribute
            and ctx._mode.sticky_on
            and not exp.disable_sticky
            and not js_truthy(value)
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
        if exp.n:
            return ExperimentResult(
                exp.key, exp.variations[0], False, 0, exp.variation_keys[0], reason,
                exp.variation_names[0], exp.name, feature_id, False, attr, value, None,
                sticky_used,
            )  # fmt: skip
        return ExperimentResult(
            exp.key, None, False, 0, "0", reason, None, exp.name, feature_id, False, attr,
            value, None, sticky_used,
        )  # fmt: skip

    def stored_result(self, key: str, ctx: EvalContext) -> ExperimentResult[Any] | None:
        """The result recorded for experiment ``key`` during this visitor's evaluations."""
        stored = ctx._results.get(key)
        if stored.__class__ is tuple:
            exp, reason, feature_id = stored
            stored = ctx._results[key] = self._miss(exp, ctx, feature_id, reason)
        return stored

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
