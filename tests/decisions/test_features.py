"""Features through a Visitor: values of any JSON type, rules, experiments, overrides,
prerequisites, holdouts, memoization and reasons."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from decisions_support import EngineFactory, Profile, ab_rule

import persona_sdk as ps
from persona_sdk.allocation import gb_hash, get_bucket_ranges
from persona_sdk.config import load_container
from persona_sdk.decisions import Engine, FeatureSource, HookSet, Reason, Visitor

BANNER = {"title": "Spring sale", "image": "/img/spring.jpg", "cta": {"label": "Shop"}}


def test_default_force_and_unknown(make_engine: EngineFactory) -> None:
    """A forced value applies when its condition passes; otherwise the default; unknown keys
    are off with their own source and reason."""
    engine = make_engine(
        features={
            "banner": {
                "defaultValue": BANNER,
                "rules": [
                    {"id": "fr", "condition": {"country": "FR"}, "force": {"title": "Soldes"}}
                ],
            }
        }
    )
    fr = Visitor(engine=engine, attributes={"country": "FR"}).feature("banner")
    assert (fr.value, fr.source, fr.rule_id, fr.reasons) == (
        {"title": "Soldes"},
        FeatureSource.FORCE,
        "fr",
        (Reason.TARGETING_MATCH,),
    )
    us = Visitor(engine=engine, attributes={"country": "US"}).feature("banner")
    assert (us.value, us.source, us.reasons) == (BANNER, "defaultValue", (Reason.DEFAULT,))
    unknown = Visitor(engine=engine).feature("nope")
    assert (unknown.value, unknown.on, unknown.off, unknown.source) == (
        None,
        False,
        True,
        FeatureSource.UNKNOWN_FEATURE,
    )
    assert unknown.reasons == (Reason.UNKNOWN_FEATURE,)


@pytest.mark.parametrize(
    ("value", "on"),
    [(0, False), ("", False), (None, False), (False, False), ([], True), ({}, True), ("0", True)],
)
def test_on_follows_javascript_truthiness(make_engine: EngineFactory, value: Any, on: bool) -> None:
    """on/off follow GrowthBook (JavaScript) truthiness: empty lists and objects are on."""
    visitor = Visitor(engine=make_engine(features={"f": {"defaultValue": value}}))
    assert visitor.is_on("f") is on
    assert visitor.feature("f").off is (not on)


def test_get_returns_the_default_for_unknown_or_null(make_engine: EngineFactory) -> None:
    """get(key, default) gives the value, or the default when unknown or null."""
    visitor = Visitor(
        engine=make_engine(features={"n": {"defaultValue": None}, "b": {"defaultValue": BANNER}})
    )
    assert visitor.get("b", {}) == BANNER
    assert visitor.get("n", {"x": 1}) == {"x": 1}
    assert visitor.get("missing", 3) == 3


def test_results_are_memoized_per_visitor(make_engine: EngineFactory) -> None:
    """A visitor evaluates a feature once; the feature-usage hook sees it once."""
    seen: list[str] = []
    hooks = HookSet(on_feature_usage=lambda visitor, result: seen.append(result.key))
    engine = make_engine(features={"f": {"defaultValue": 1}})
    visitor = Visitor(engine=engine, hooks=hooks, anonymous_id="a-1")
    assert visitor.feature("f") is visitor.feature("f")
    Visitor(engine=engine, hooks=hooks, anonymous_id="a-1").feature("f")
    assert seen == ["f", "f"]


def test_experiment_rule_assigns_by_hash(make_engine: EngineFactory) -> None:
    """The variation is the one GrowthBook's hash and ranges give, with its metadata."""
    engine = make_engine(features={"hero": {"defaultValue": "none", "rules": [ab_rule()]}})
    ranges = get_bucket_ranges(2, 1.0, None)
    for i in range(50):
        visitor = Visitor(engine=engine, anonymous_id=f"a-{i}")
        result = visitor.feature("hero")
        n = gb_hash("hero-test", f"a-{i}", 2)
        assert n is not None
        index = 0 if ranges[0][0] <= n < ranges[0][1] else 1
        variation = result.variation
        assert variation is not None
        assert (result.source, variation.variation_id, variation.bucket) == ("experiment", index, n)
        assert variation.variation_key == ["c", "t"][index]
        assert variation.variation_name == ["Control", "Treatment"][index]
        assert (variation.experiment_key, variation.feature_id) == ("hero-test", "hero")
        assert result.reasons == (Reason.SPLIT,)
        assert result.experiment is not None
        assert result.experiment["key"] == "hero-test"
        assert visitor.experiment("hero-test") is variation


def test_attributes_layer_traits_then_attributes_then_ids(make_engine: EngineFactory) -> None:
    """Conditions see profile traits, overridden by attributes, then the ids."""
    engine = make_engine(features={"f": {"defaultValue": 0}})
    profile = Profile(canonical_id="c-1", targeting_traits={"plan": "pro", "country": "US"})
    visitor = Visitor(
        engine=engine,
        profile=profile,
        anonymous_id="a-1",
        user_id="u-1",
        attributes={"country": "FR", "id": "u-1"},  # agrees with the ids: accepted
    )
    assert dict(visitor.attributes) == {
        "plan": "pro",
        "country": "FR",
        "id": "c-1",
        "anonymousId": "a-1",
        "userId": "u-1",
    }
    assert Visitor(engine=engine, anonymous_id="a-2").id == "a-2"


def test_fallback_profile_is_a_reason(make_engine: EngineFactory) -> None:
    """A decision made on a fallback profile says so."""
    engine = make_engine(features={"f": {"defaultValue": 1}})
    visitor = Visitor(engine=engine, profile=Profile(source="fallback"), anonymous_id="a")
    assert visitor.feature("f").reasons == (Reason.DEFAULT, Reason.FALLBACK_PROFILE)


def test_experiment_lookups(make_engine: EngineFactory) -> None:
    """experiment(key) covers standalone experiments, rule experiments not reached and
    unknown keys."""
    engine = make_engine(
        features={
            "f": {"defaultValue": 0, "rules": [{"force": 1}, ab_rule("late")]},
        },
        experiments=[{"key": "solo", "variations": [0, 1]}],
    )
    visitor = Visitor(engine=engine, anonymous_id="a-1")
    assert visitor.experiment("solo").in_experiment
    late = visitor.experiment("late")
    assert (late.in_experiment, late.reason, late.feature_id) == (False, Reason.EARLIER_RULE, "f")
    assert visitor.experiment("nope").reason is Reason.UNKNOWN_EXPERIMENT


def test_forced_variations_per_visitor_and_container(make_engine: EngineFactory) -> None:
    """Forced variations apply without hashing and say so."""
    features = {"hero": {"defaultValue": "none", "rules": [ab_rule()]}}
    mine = Visitor(
        engine=make_engine(features=features), anonymous_id="a", forced_variations={"hero-test": 1}
    ).feature("hero")
    assert mine.variation is not None
    assert (mine.value, mine.variation.hash_used, mine.reasons) == (
        "treatment",
        False,
        (Reason.FORCED,),
    )
    everyone = make_engine(features=features, forced_variations={"hero-test": 0})
    assert Visitor(engine=everyone, anonymous_id="b").get("hero", None) == "control"


def test_url_overrides_only_when_allowed(make_engine: EngineFactory) -> None:
    """?<experiment>=<index> applies only with decisions.url_overrides."""
    features = {"hero": {"defaultValue": "none", "rules": [ab_rule(coverage=0.0)]}}
    url = "https://shop.example/?hero-test=1"
    closed = Visitor(engine=make_engine(features=features), anonymous_id="a", url=url)
    assert closed.get("hero", None) == "none"
    opened = make_engine(features=features, url_overrides=True)
    result = Visitor(engine=opened, anonymous_id="a", url=url).feature("hero")
    assert (result.value, result.reasons) == ("treatment", (Reason.URL_OVERRIDE,))


def test_qa_mode_assigns_only_forced(make_engine: EngineFactory) -> None:
    """In QA mode no one is bucketed; forced variations still apply."""
    engine = make_engine(
        features={"hero": {"defaultValue": "none", "rules": [ab_rule()]}}, qa_mode=True
    )
    assert Visitor(engine=engine, anonymous_id="a").get("hero", None) == "none"
    assert Visitor(engine=engine, anonymous_id="a").experiment("hero-test").reason is Reason.QA_MODE
    forced = Visitor(engine=engine, anonymous_id="a", forced_variations={"hero-test": 1})
    assert forced.get("hero", None) == "treatment"


def test_holdout_passthrough_falls_through(make_engine: EngineFactory) -> None:
    """A passthrough (holdout) variation is an assignment, but the next rule decides."""
    holdout = {
        "key": "holdout",
        "hashVersion": 2,
        "variations": ["held", "pass"],
        "ranges": [[0, 0], [0, 1]],
        "meta": [{}, {"passthrough": True}],
    }
    engine = make_engine(features={"f": {"defaultValue": 0, "rules": [holdout, {"force": 7}]}})
    visitor = Visitor(engine=engine, anonymous_id="a")
    assert visitor.get("f", None) == 7
    held = visitor.experiment("holdout")
    assert (held.in_experiment, held.passthrough) == (True, True)


def test_prerequisites_gate_and_cycles(make_engine: EngineFactory) -> None:
    """A failing gating prerequisite blocks the feature; a cycle is reported as such."""
    engine = make_engine(
        features={
            "parent": {"defaultValue": False},
            "child": {
                "defaultValue": "on",
                "rules": [
                    {
                        "parentConditions": [
                            {"id": "parent", "condition": {"value": True}, "gate": True}
                        ]
                    }
                ],
            },
            "a": {
                "defaultValue": 1,
                "rules": [{"parentConditions": [{"id": "b", "condition": {}}]}],
            },
            "b": {
                "defaultValue": 1,
                "rules": [{"parentConditions": [{"id": "a", "condition": {}}]}],
            },
        }
    )
    visitor = Visitor(engine=engine)
    child = visitor.feature("child")
    assert (child.value, child.source, child.reasons) == (
        None,
        FeatureSource.PREREQUISITE,
        (Reason.PREREQUISITE_FAILED,),
    )
    assert visitor.feature("a").source is FeatureSource.CYCLIC_PREREQUISITE


def test_segments_are_computed_lazily_and_noted(make_engine: EngineFactory) -> None:
    """Segments are evaluated only when a condition reads them, once, through the segments
    object the visitor was given, which is told the visitor's ids and consent (so that a
    Persona's resolver can keep the membership per visitor)."""

    class Segments:
        calls = 0
        asked: ClassVar[list[Any]] = []

        def evaluate(self, attributes: Any) -> frozenset[str]:
            Segments.calls += 1
            return frozenset({"big-spender"} if attributes.get("ltv", 0) > 100 else set())

        def of_visitor(self, attributes: Any, **ids: Any) -> frozenset[str]:
            self.asked.append(ids)
            return self.evaluate(attributes)

    class FakePersona:
        def track(self, *args: Any, **kwargs: Any) -> str:
            return "m"

    plain = make_engine(features={"f": {"defaultValue": 1}})
    Visitor(engine=plain, segments=Segments(), attributes={"ltv": 500}).feature("f")
    assert Segments.calls == 0
    engine = make_engine(
        features={
            "vip": {
                "defaultValue": False,
                "rules": [
                    {
                        "condition": {"segments": {"$elemMatch": {"$eq": "big-spender"}}},
                        "force": True,
                    }
                ],
            }
        }
    )
    visitor = Visitor(
        engine=engine,
        segments=Segments(),
        persona=FakePersona(),
        anonymous_id="a",
        attributes={"ltv": 500},
    )
    assert visitor.is_on("vip")
    assert visitor.segments == frozenset({"big-spender"})
    assert Segments.calls == 1
    assert Segments.asked == [{"anonymous_id": "a", "user_id": None, "consent": None}]


def test_placements_decide_content(make_engine: EngineFactory) -> None:
    """decide(placement) returns the content of the placement's feature, or its default."""
    engine = make_engine(
        features={"hero-banner": {"defaultValue": BANNER}},
        placements={"home.hero": "hero-banner", "home.side": {"feature": "side", "default": {}}},
    )
    visitor = Visitor(engine=engine)
    assert visitor.decide("home.hero").value == BANNER
    assert visitor.decide("home.side").value == {}
    assert visitor.decide("hero-banner").value == BANNER


def test_optimizely_scheme_per_experiment(make_engine: EngineFactory) -> None:
    """An experiment can bucket with Optimizely's MurmurHash3 (seed = experiment id)."""
    rule = {
        "key": "checkout",
        "seed": "1886780721",
        "hashScheme": "optimizely",
        "variations": ["a", "b"],
        "ranges": [[0, 0.5], [0.5, 1]],
    }
    engine = make_engine(features={"f": {"defaultValue": None, "rules": [rule]}})
    # Optimizely puts ppid1 in bucket 5254 and ppid2 in 4299 for this experiment id.
    ppid1 = Visitor(engine=engine, attributes={"id": "ppid1"}).feature("f")
    ppid2 = Visitor(engine=engine, attributes={"id": "ppid2"}).feature("f")
    assert ppid1.variation is not None
    assert ppid1.variation.bucket == 0.5254
    assert (ppid1.value, ppid2.value) == ("b", "a")


def test_fast_and_general_paths_agree(make_engine: EngineFactory) -> None:
    """The same experiment decided with and without overrides in play gives the same
    variation (the evaluator's shortcut changes nothing but speed)."""
    features = {
        "hero": {
            "defaultValue": "none",
            "rules": [ab_rule(condition={"country": {"$in": ["FR", "US"]}})],
        }
    }
    fast = make_engine(features=features)
    general = make_engine(features=features, url_overrides=True)
    for i in range(200):
        attrs = {"country": ["FR", "US", "DE"][i % 3]}
        a = Visitor(engine=fast, anonymous_id=f"v{i}", attributes=attrs).feature("hero")
        b = Visitor(
            engine=general, anonymous_id=f"v{i}", attributes=attrs, url="https://x.example/"
        ).feature("hero")
        assert a == b


def test_conditions_on_the_visitor_ids(make_engine: EngineFactory) -> None:
    """Conditions and hashing read ``userId`` and ``anonymousId`` (plain and as a dotted
    path's root) from the visitor's ids, not from a same-named request attribute."""
    engine = make_engine(
        features={
            "by-user": {"defaultValue": 0, "rules": [{"condition": {"userId": "u-1"}, "force": 1}]},
            "by-anon": {
                "defaultValue": 0,
                "rules": [{"condition": {"anonymousId": {"$regex": "^a-"}}, "force": 1}],
            },
        }
    )
    assert (engine.reads_user_id, engine.reads_anonymous_id) == (True, True)
    visitor = engine.visitor(user_id="u-1", anonymous_id="a-1", attributes={"userId": "x"})
    assert visitor.get("by-user", None) == 1
    assert visitor.get("by-anon", None) == 1
    other = engine.visitor(user_id="u-2", anonymous_id="b-1")
    assert (other.get("by-user", None), other.get("by-anon", None)) == (0, 0)
    rule = ab_rule("t", hashAttribute="userId")
    hashed = make_engine(features={"f": {"defaultValue": 0, "rules": [rule]}})
    assert hashed.reads_user_id
    assert not hashed.reads_anonymous_id
    result = hashed.visitor(user_id="u-1", anonymous_id="a-1").feature("f")
    assert result.variation is not None
    assert (result.variation.hash_attribute, result.variation.hash_value) == ("userId", "u-1")


def test_ids_no_rule_reads_are_still_visible(make_engine: EngineFactory) -> None:
    """An engine whose rules never name ``userId``/``anonymousId`` leaves them out of what
    its conditions see, but ``visitor.attributes`` and segments still get both."""
    engine = make_engine(features={"f": {"defaultValue": 1}})
    assert (engine.reads_user_id, engine.reads_anonymous_id) == (False, False)
    seen: list[dict[str, Any]] = []

    class Segments:
        def evaluate(self, attributes: Any) -> frozenset[str]:
            seen.append(dict(attributes))
            return frozenset({"known"} if attributes.get("userId") else set())

    visitor = engine.visitor(
        user_id="u-1", anonymous_id="a-1", attributes={"plan": "pro"}, segments=Segments()
    )
    assert visitor.feature("f").value == 1
    assert dict(visitor.attributes) == {
        "plan": "pro", "id": "u-1", "anonymousId": "a-1", "userId": "u-1"
    }
    assert visitor.segments == frozenset({"known"})
    assert seen[0]["userId"] == "u-1"


def test_engine_visitor_is_the_visitor_constructor(make_engine: EngineFactory) -> None:
    """``engine.visitor(...)`` and ``Visitor(engine=engine, ...)`` build the same visitor;
    ``Visitor`` is final."""
    engine = make_engine(
        features={"f": {"defaultValue": 0, "rules": [ab_rule("t")]}},
    )
    for i in range(50):
        kwargs: dict[str, Any] = {"anonymous_id": f"a-{i}", "attributes": {"n": i}}
        built = Visitor(engine=engine, **kwargs)
        made = engine.visitor(**kwargs)
        assert type(built) is type(made) is Visitor
        assert dict(built.attributes) == dict(made.attributes)
        assert built.feature("f") == made.feature("f")

    class Mine(Visitor):
        pass

    with pytest.raises(TypeError, match="final"):
        Mine(engine=engine)


def test_what_rules_read_is_what_the_compiler_noted(make_engine: EngineFactory) -> None:
    """An id read by a filter's attribute counts; an id named only in a value, a key of a
    nested object in ``$elemMatch`` or a feature key is no read of the attribute."""
    filtered = ab_rule("t", filters=[{"seed": "s", "ranges": [[0, 1]], "attribute": "userId"}])
    engine = make_engine(features={"f": {"defaultValue": 0, "rules": [filtered]}})
    assert (engine.reads_user_id, engine.reads_anonymous_id) == (True, False)
    named = make_engine(
        features={
            "userId": {"defaultValue": "anonymousId", "rules": [
                {"condition": {"tags": {"$elemMatch": {"userId": "x"}}}, "force": "userId"},
            ]},
        }
    )
    assert (named.reads_user_id, named.reads_anonymous_id) == (False, False)


def test_a_usage_hook_fires_after_evaluate_all_and_when_set_later() -> None:
    """``feature()`` asks the hooks on every call: a usage hook still fires after
    ``evaluate_all`` (whose silent pass prepares the visitor's segments with throwaway hooks),
    and a hook set on a ``HookSet`` after its first visitors applies at once."""
    used: list[str] = []
    container = {
        "features": {
            "vip": {"defaultValue": False, "rules": [
                {"condition": {"segments": {"$elemMatch": {"$eq": "x"}}}, "force": True}]},
            "f": {"defaultValue": 0, "rules": [{"key": "f-test", "variations": [0, 1]}]},
        },
    }
    with ps.Persona(container, on_feature_usage=lambda v, r: used.append(r.key)) as p:
        visitor = p.visitor(anonymous_id="a-1")
        snapshot = visitor.evaluate_all()
        assert used == []
        snapshot.use("f")
        visitor.feature("vip")
        assert used == ["f", "vip"]
    engine = Engine.build(load_container({"features": {"f": {"defaultValue": 1}}}))
    hooks = HookSet()
    engine.visitor(anonymous_id="a", hooks=hooks).feature("f")
    later: list[str] = []
    hooks.on_feature_usage = lambda v, r: later.append(r.key)
    engine.visitor(anonymous_id="b", hooks=hooks).feature("f")
    assert later == ["f"]


def test_a_callable_profile_is_a_profile() -> None:
    """Only the profile reader's own builder (a bound method) makes a profile on first read;
    any other object passed as the profile, callable or not, is the profile."""
    from unittest.mock import Mock

    engine = Engine.build(load_container({"features": {"f": {"defaultValue": 1}}}))
    profile = Mock(targeting_traits={"plan": "pro"}, canonical_id="u-1", source="remote")
    visitor = engine.visitor(anonymous_id="a", profile=profile)
    assert visitor.profile is profile
    assert visitor.id == "u-1"
