"""One generated function per feature, for visitors whose assignments only hashing decides.

A request usually asks a new visitor for a few features, so what a feature costs beyond
its conditions and hashes is the interpreter walking the rules: loading each rule's
attributes, testing which kind it is, packing and unpacking. Here each feature whose rules
are all simple (forced values with an optional condition and rollout, and experiments that
hashing alone decides: ``Rule.fast``) becomes one function with its rules unrolled and
everything it reads bound as a constant. It decides exactly as ``Evaluator.eval_feature``
does for a visitor whose mode is ``fast`` (``tests/decisions/test_fastpath.py`` checks it).

Generated with ``persona_sdk._speed.generate`` (its docstring: why ``exec`` is safe here):
keys, values, conditions and every other part of the container reach the function as its
globals (``c0``, ``c1``...), never as text. The source depends only on the shape of the
feature's rules, so features of the same shape share one compiled code object.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf
from typing import Any

from .._speed import generate
from ..allocation import Bucketer, in_namespace, v2_seed
from ..rules import inline_test
from ._context import EvalContext, hash_string
from ._evaluate import Evaluator
from ._model import Experiment, Feature, Rule, js_truthy
from ._results import ExperimentResult, FeatureResult, FeatureSource, Reason

__all__ = ["FastFeature", "fast_feature"]

#: Decides one feature for a visitor in ``fast`` mode.
FastFeature = Callable[[EvalContext], FeatureResult[Any]]


def _hash_text(value: Any) -> str:
    # A non-string hash value as run() reads it: "" (no value) unless JavaScript-truthy.
    return hash_string(value) if js_truthy(value) else ""


#: What every generated function may read, by the names the templates use.
_GLOBALS: dict[str, Any] = {
    "ER": ExperimentResult,
    "FR": FeatureResult,
    "EXPERIMENT": FeatureSource.EXPERIMENT,
    "SPLIT": Reason.SPLIT,
    "SPLIT_REASONS": (Reason.SPLIT,),
    "hash_text": _hash_text,
    "in_namespace": in_namespace,
}

#: The context attributes generated code reads, as (local name, attribute).
_LOCALS = (("attrs", "_attrs"), ("results", "_results"))

_EXPERIMENT_RULE = """\
value = attrs.get({attr}, "")
text = value if value.__class__ is str else hash_text(value)
if not text:
    results[{key}] = {no_hash}
{checks}else:
    {bucket}
{picks}    else:
        results[{key}] = {uncovered}"""

#: One variation's range of buckets, in the experiment's order (the first that holds ``n``
#: assigns; a passthrough variation records its result and goes on to the next rule).
#: The exposure is handed over here as ``VisitorState._exposed`` does, with its checks, when
#: the visitor has the persona's lane, and appended to the delivery intake as
#: ``Delivery.submit_item`` does (two calls less per exposure); any other context logs it
#: through ``_exposed``. The id checks are ``_exposed``'s, ordered for the usual visitor
#: (an anonymous id only).
_PICK = """\
    {el}if {in_range}:
        res = ER({key}, {variation}, True, {i}, {vkey}, SPLIT, {vname}, {name}, feature_key,
                 True, {attr}, value, n, False, {passthrough})
        results[{key}] = res
        lane = ctx._expose
        if (
            lane is not None and (router := lane.router) and lane.engine is ctx._engine
            and ((aid := ctx.anonymous_id).__class__ is str and aid
                 if (uid := ctx.user_id) is None
                 else uid.__class__ is str and ((aid := ctx.anonymous_id) is None
                                                or aid.__class__ is str) and (uid or aid))
        ):
            item = (router, uid, aid, ctx.consent, ctx._gpc, {exp}, {i}, {attr},
                    lane.clock())
            delivery = lane.delivery
            intake = delivery._intake
            m = len(intake)
            if m < delivery._intake_limit:
                intake.append(item)
                if m >= delivery._intake_wake_n:
                    delivery._wake_intake()
            else:
                lane.submit(item)
        else:
            ctx._exposed(res, {exp})
"""
_PICK_RETURN = """\
        return FR(feature_key, {variation}, {on}, EXPERIMENT, SPLIT_REASONS, {rule_id},
                  {definition}, res)
"""


def _simple(rule: Rule) -> bool:
    # Prerequisites need the evaluator (and the chain, for cycles); rule filters skip the
    # rule without a recorded result, as only the general loop does.
    if rule.parents or rule.filters:
        return False
    return rule.is_force or rule.experiment is None or rule.fast is not None


def fast_feature(feature: Feature) -> FastFeature | None:
    """The generated function deciding ``feature`` in fast mode, or None when one of its
    rules needs the general evaluation (prerequisites, filters, bandits...)."""
    if not all(_simple(rule) for rule in feature.rules):
        return None
    values: list[Any] = []

    def const(value: Any) -> str:
        values.append(value)
        return f"c{len(values) - 1}"

    body: list[str] = []
    for rule in feature.rules:
        if rule.is_force:
            if rule.rollout and rule.range is None and rule.coverage == 0:
                continue  # a rollout to no one
            guards = []
            if rule.condition is not None:
                guards.append(_test(rule.condition, const))
            bucketer = rule.bucketer if rule.rollout and not rule.dotted else None
            if rule.rollout and bucketer is None:
                guards.append(f"{const(Evaluator._in_rollout)}({const(rule)}, ctx)")
            test = " and ".join(guards)
            if bucketer is not None:  # Evaluator._in_rollout unrolled (fast: no sticky)
                body += [f"if {test}:"] if test else []
                pad = "    " if test else ""
                body += [
                    f"{pad}value = attrs.get({const(rule.hash_attribute)}, '')",
                    f"{pad}text = value if value.__class__ is str else hash_text(value)",
                    f"{pad}if text:",
                    f"{pad}    n = {_bucket(bucketer, const)}",
                    f"{pad}    if {_in_range(rule, const)}:",
                    f"{pad}        return {const(rule.result)}",
                ]
                continue
            if not test:  # applies to everyone: the later rules are never reached
                body.append(f"return {const(rule.result)}")
                break
            body += [f"if {test}:", f"    return {const(rule.result)}"]
        elif rule.fast is not None:
            body += _experiment_rule(rule, rule.fast, const).splitlines()
    else:
        body.append(f"return {const(feature.default)}")
    code = "\n".join(body)
    # only what the rules read is loaded from the context (the names occur in no constant)
    head = [f"{name} = ctx.{attr}" for name, attr in _LOCALS if name in code]
    source = "\n".join(
        ["def evaluate(ctx):"] + [f"    {line}" for line in head + body]
    )
    # the constants are the function's globals, not a closure's cells: a call copies
    # every cell into its frame (COPY_FREE_VARS), a global costs nothing until read
    namespace = {**_GLOBALS, "feature_key": feature.key}
    namespace.update((f"c{i}", value) for i, value in enumerate(values))
    fast: FastFeature = generate(source, "evaluate", what="feature", namespace=namespace)
    return fast


def _experiment_rule(rule: Rule, exp: Experiment, const: Callable[[Any], str]) -> str:
    key = const(exp.key)
    checks = ""
    if exp.namespace is not None:
        checks += (
            f"elif not in_namespace(text, {const(exp.namespace)}):\n"
            f"    results[{key}] = {const(rule.outside)}\n"
        )
    if exp.condition is not None:
        checks += (
            f"elif not {_test(exp.condition, const)}:\n"
            f"    results[{key}] = {const(rule.unmatched)}\n"
        )
    bucket = (
        f"n = {_bucket(exp.bucketer, const)}"
        if exp.bucketer is not None
        else f"n = {const(exp.bucketer)}(text)"
    )
    attr, name, expc = const(exp.hash_attribute), const(exp.name), const(exp)
    rule_id, definition = const(rule.id), const(exp.definition)
    picks = ""
    # the picks table unrolled: each variation's constants bound, no tuple to unpack. With
    # GrowthBook's v2 hash every bucket is >= 0 (a hash scheme plugin promises [0, 1), but
    # its bucket is not trusted here), and one that reaches a pick is >= the end of each
    # earlier pick tested by its end alone (``low``): a range starting at or below that is
    # tested by its end.
    low = 0.0 if exp.bucketer is not None and v2_seed(exp.bucketer) is not None else -inf
    for j, (start, end, i, variation, vkey, vname, passthrough, on) in enumerate(exp.picks):
        var = const(variation)
        if start <= low:
            in_range, low = f"n < {const(end)}", max(low, end)
        else:
            in_range = f"{const(start)} <= n < {const(end)}"
        picks += _PICK.format(
            el="el" if j else "", in_range=in_range, key=key, variation=var,
            i=const(i), vkey=const(vkey), vname=const(vname), name=name, attr=attr,
            passthrough=const(passthrough), exp=expc,
        )
        if not passthrough:
            picks += _PICK_RETURN.format(
                variation=var, on=const(on), rule_id=rule_id, definition=definition
            )
    if not picks:  # no variation at all: nobody is covered
        picks = "    if False:\n        pass\n"
    return _EXPERIMENT_RULE.format(
        attr=attr,
        key=key,
        no_hash=const(rule.no_hash),
        checks=checks,
        bucket=bucket,
        picks=picks,
        uncovered=const(rule.uncovered),
    )


def _test(condition: Any, const: Callable[[Any], str]) -> str:
    # A targeting condition of ``attrs``: inlined when the rules compiler gives it as an
    # expression (a call less per rule), else called.
    return inline_test(condition, const, "attrs") or f"{const(condition)}(attrs)"


def _bucket(bucketer: Bucketer, const: Callable[[Any], str]) -> str:
    # The expression of the visitor's bucket for the hash text ``text``.
    inline = v2_seed(bucketer)
    if inline is None:
        return f"{const(bucketer)}(text)"
    # GrowthBook's hash v2, as the bucketer computes it, without the call
    fnv, seed = const(inline[0]), const(inline[1])
    return (
        f"({fnv}(b'%d' % {fnv}({seed} + text.encode())) % 10000) / 10000 "
        f"if text.isascii() else {const(bucketer)}(text)"
    )


def _in_range(rule: Rule, const: Callable[[Any], str]) -> str:
    # The rollout's test of the bucket ``n`` (as Evaluator._in_rollout's last lines).
    if rule.range is not None:
        return f"{const(rule.range[0])} <= n < {const(rule.range[1])}"
    return "True" if rule.coverage is None else f"n <= {const(rule.coverage)}"
