"""The generated per-feature functions (``_fastpath``) decide exactly as the general
evaluator: same results, same recorded experiment results, same exposures, in order."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_sdk.config import Container
from persona_sdk.decisions import Engine, HookSet, Visitor
from persona_sdk.decisions._context import EvalContext

# hash values of every JSON type, including the empty and falsy ones (no hash attribute)
HASH_VALUES = st.one_of(
    st.sampled_from(["", "a", "visitor-1", "é-ü", "😀"]),
    st.text(max_size=6),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.5, float("nan"), True, False, None, [], {}, [1], {"a": 1}]),
)
ATTRIBUTES = st.fixed_dictionaries(
    {
        "id": HASH_VALUES,
        "company": HASH_VALUES,
        "country": st.sampled_from(["FR", "US", 1, None]),
    }
)
CONDITIONS = st.sampled_from(
    [None, {"country": "FR"}, {"country": {"$in": ["FR", "US"]}}, {"company": {"$exists": True}},
     {"country": "FR", "id": {"$gte": 1}}]
)


@st.composite
def experiment_rules(draw: st.DrawFn, key: str) -> dict[str, Any]:
    n = draw(st.integers(2, 4))
    rule: dict[str, Any] = {
        "key": key,
        "variations": [f"{key}-v{i}" for i in range(n)],
        "hashAttribute": draw(st.sampled_from(["id", "company"])),
        "hashVersion": draw(st.sampled_from([1, 2])),
        "coverage": draw(st.sampled_from([1, 0.5, 0])),
        "meta": [{"key": f"m{i}", "passthrough": draw(st.booleans())} for i in range(n)],
    }
    condition = draw(CONDITIONS)
    if condition is not None:
        rule["condition"] = condition
    if draw(st.booleans()):
        rule["namespace"] = ["ns", 0, draw(st.sampled_from([0.3, 1]))]
    if draw(st.booleans()):  # explicit ranges: gaps, overlaps, out of order, empty ones
        bound = st.sampled_from([0, 0.1, 0.25, 0.4, 0.5, 0.75, 1])
        rule["ranges"] = draw(st.lists(st.lists(bound, min_size=2, max_size=2),
                                       min_size=n, max_size=n))
    return rule


@st.composite
def force_rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"force": draw(st.sampled_from([True, 0, "x", None]))}
    condition = draw(CONDITIONS)
    if condition is not None:
        rule["condition"] = condition
    if draw(st.booleans()):
        if draw(st.booleans()):
            rule["coverage"] = draw(st.sampled_from([0, 0.5, 1]))
        else:
            rule["range"] = draw(st.sampled_from([[0, 0.5], [0.25, 1], [0, 0]]))
        rule["hashAttribute"] = draw(st.sampled_from(["id", "company"]))
        rule["hashVersion"] = draw(st.sampled_from([1, 2]))
        rule["seed"] = draw(st.sampled_from(["s", "new-checkout"]))
    return rule


@st.composite
def features(draw: st.DrawFn) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(["experiment", "force", "empty"]), max_size=4))
    rules = []
    for i, kind in enumerate(kinds):
        if kind == "experiment":
            rules.append(draw(experiment_rules(f"exp-{i}")))
        elif kind == "force":
            rules.append(draw(force_rules()))
        else:
            rules.append({"variations": []})
    return {"defaultValue": draw(st.sampled_from([False, "d", None])), "rules": rules}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=features(), visitors=st.lists(ATTRIBUTES, min_size=1, max_size=8))
def test_generated_features_decide_as_the_general_evaluator(
    spec: dict[str, Any], visitors: list[dict[str, Any]]
) -> None:
    engine = Engine.build(Container(features={"f": spec}))
    fast = engine.fast_features["f"]
    for attrs in visitors:
        general, generated = engine.context(dict(attrs)), engine.context(dict(attrs))
        assert generated._mode.fast
        expected = engine.eval_feature("f", general)
        assert fast(generated) == expected
        assert generated._exposures == general._exposures
        assert general._results.keys() == generated._results.keys()
        for key in general._results:  # misses may be recorded lazily by either side
            assert engine.stored_result(key, generated) == engine.stored_result(key, general)


def test_rules_the_fast_path_does_not_cover_use_the_general_evaluator() -> None:
    """Features with prerequisites or filters have no generated function; visitors with
    overrides (here a forced variation) never use one."""
    prerequisite = {"id": "parent", "condition": {"value": True}}
    hash_filter = {"seed": "s", "ranges": [[0, 0.5]]}
    engine = Engine.build(
        Container(
            features={
                "parent": {"defaultValue": True},
                "gated": {"rules": [{"force": 2, "parentConditions": [prerequisite]}]},
                "filtered": {"rules": [{"force": 2, "filters": [hash_filter]}]},
                "plain": {"defaultValue": 1, "rules": [{"key": "e", "variations": [1, 2]}]},
            }
        )
    )
    assert set(engine.fast_features) == {"parent", "plain"}
    forced = Visitor(engine=engine, user_id="u", forced_variations={"e": 1})
    assert not forced._mode.fast
    assert not forced._mode.features
    assert forced.feature("plain").value == 2


def test_exposures_from_generated_functions_are_logged_once() -> None:
    """Exposures are logged as the generated function assigns, and deduplicated."""
    engine = Engine.build(
        Container(
            features={"f": {"defaultValue": 0, "rules": [{"key": "e", "variations": [1, 2]}]}}
        )
    )
    seen: list[str] = []
    hooks = HookSet(on_exposure=lambda visitor, result: seen.append(result.experiment_key))
    for _ in range(2):
        visitor = Visitor(engine=engine, hooks=hooks, user_id="u")
        assert visitor.feature("f").variation is not None
        assert visitor.experiment("e").in_experiment
    assert seen == ["e"]
    assert isinstance(visitor, EvalContext)


class _OutOfRange:
    # a hash scheme plugin breaking its promise of buckets in [0, 1)
    name = "out-of-range"

    def bucketer(self, seed: str, version: int) -> Any:
        return lambda value: -0.25


def test_a_plugin_bucket_outside_its_range_decides_as_the_general_evaluator(
    monkeypatch: Any,
) -> None:
    """The generated feature tests a variation's range by its end alone only for
    GrowthBook's v2 hash, whose buckets are in [0, 1) by its formula: a plugin's bucket is
    tested against both ends, as the general evaluator does, even out of its range."""
    from persona_sdk.allocation import _hashing

    monkeypatch.setitem(_hashing._BUILTIN, _OutOfRange.name, _OutOfRange())
    rule = {"key": "t", "variations": ["a", "b"], "hashScheme": _OutOfRange.name,
            "ranges": [[0, 0.5], [0.5, 1]]}
    engine = Engine.build(Container(features={"f": {"defaultValue": "none", "rules": [rule]}}))
    generated, general = engine.visitor(anonymous_id="x"), engine.visitor(anonymous_id="x")
    assert engine.fast_features["f"](generated).value == "none"
    assert engine.eval_feature("f", general).value == "none"
