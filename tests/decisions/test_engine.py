"""Engine.build: compile once, refuse bad containers with every path, stay immutable."""

from __future__ import annotations

import attrs
import pytest
from decisions_support import EngineFactory, ab_rule

from persona_sdk import ConfigError
from persona_sdk.config import Container
from persona_sdk.decisions import Engine, Visitor


def _errors(make_engine: EngineFactory, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        make_engine(**kwargs)
    return list(info.value.errors)


def test_bad_conditions_are_refused_with_their_path(make_engine: EngineFactory) -> None:
    """An unknown operator names the feature, the rule and the attribute."""
    errors = _errors(
        make_engine,
        features={
            "hero-banner": {
                "defaultValue": 1,
                "rules": [{"force": 2}, {"condition": {"country": {"$foo": 1}}, "force": 3}],
            }
        },
    )
    assert len(errors) == 1
    assert errors[0].startswith("features.hero-banner.rules[1].condition.country")
    assert "$foo" in errors[0]


def test_every_shape_problem_is_listed(make_engine: EngineFactory) -> None:
    """Wrong shapes are all reported at once, each with its path."""
    errors = _errors(
        make_engine,
        features={
            "a": {"rules": [{"variations": "ab"}]},
            "b": {"rules": [{"key": "x", "variations": [1, 2], "weights": ["a", "b"]}]},
            "c": {"rules": [{"key": "y", "variations": [1, 2], "namespace": ["ns", 0]}]},
            "d": {"rules": [{"parentConditions": [{"condition": {}}]}]},
            "e": {"rules": [{"variations": [1, 2], "hashScheme": "nope"}]},
            "f": "not a feature",
            "g": {"rules": [{"force": 1, "range": [0]}]},
        },
        experiments=[{"variations": [0, 1]}],
        forced_variations={"x": "one"},
        placements={"home": {"feature": 1}},
    )
    paths = sorted(e.split(":")[0] for e in errors)
    assert paths == [
        "decisions.forced_variations.x",
        "decisions.placements.home",
        "experiments[0].key",
        "features.a.rules[0].variations",
        "features.b.rules[0].weights",
        "features.c.rules[0].namespace",
        "features.d.rules[0].parentConditions[0]",
        "features.e.rules[0].hashScheme",
        "features.f",
        "features.g.rules[0].range",
    ]


def test_lenient_mode_accepts_what_javascript_tolerates(make_engine: EngineFactory) -> None:
    """With strict_conditions off (GrowthBook imports), an unknown operator just fails."""
    engine = make_engine(
        features={
            "f": {"defaultValue": 0, "rules": [{"condition": {"x": {"$regx": "a"}}, "force": 1}]}
        },
        strict_conditions=False,
    )
    assert Visitor(engine=engine, attributes={"x": "a"}).get("f", None) == 0


def test_engine_is_immutable(make_engine: EngineFactory) -> None:
    """An engine cannot be changed in place: reload builds a new one."""
    engine = make_engine(features={"f": {"defaultValue": 1}})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        engine.qa_mode = True  # type: ignore[misc]


def test_a_visitor_keeps_its_engine_across_swaps(make_engine: EngineFactory) -> None:
    """A visitor decides with the engine it was built with, whatever replaced it since."""
    old = make_engine(features={"f": {"defaultValue": "old"}})
    visitor = Visitor(engine=old)
    new = make_engine(features={"f": {"defaultValue": "new"}})
    assert visitor.get("f", None) == "old"
    assert Visitor(engine=new).get("f", None) == "new"


def test_conditions_compile_once(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deciding for many visitors compiles nothing: conditions were compiled at build."""
    from persona_sdk.decisions import _builder
    from persona_sdk.rules import compile_condition as real

    calls = []

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_builder, "compile_condition", counting)
    engine = make_engine(
        features={"f": {"defaultValue": 0, "rules": [ab_rule(condition={"plan": "pro"})]}}
    )
    assert len(calls) == 1
    for i in range(20):
        Visitor(engine=engine, anonymous_id=str(i), attributes={"plan": "pro"}).feature("f")
    assert len(calls) == 1


def test_an_invalid_container_keeps_the_persona_on_the_last_good_one() -> None:
    """persona.reload refuses an invalid container and the running one stays."""
    import persona_sdk as ps

    with ps.Persona({"features": {"f": {"defaultValue": "v1"}}}) as persona:
        bad = {"features": {"f": {"rules": [{"condition": {"a": {"$nope": 1}}, "force": 1}]}}}
        with pytest.raises(ConfigError, match=r"features\.f\.rules\[0\]\.condition"):
            persona.reload(bad)
        assert persona.visitor(anonymous_id="a").get("f", None) == "v1"
        persona.reload({"features": {"f": {"defaultValue": "v2"}}})
        assert persona.visitor(anonymous_id="a").get("f", None) == "v2"


def test_engine_lists_its_keys() -> None:
    """feature_keys/experiment_keys list what the container defines."""
    engine = Engine.build(
        Container(
            features={"f": {"rules": [ab_rule("in-rule")]}, "g": {"defaultValue": 1}},
            experiments=[{"key": "solo", "variations": [0, 1]}],
        )
    )
    assert engine.feature_keys() == ("f", "g")
    assert engine.experiment_keys() == ("solo", "in-rule")
