"""Custom operators: the `Operator` protocol, registry checks, and entry-point discovery."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from persona_sdk import ConfigError, PluginError
from persona_sdk.rules import Operator, OperatorRegistry, compile_condition, default_registry
from persona_sdk.rules import _registry as registry_module


class StartsWith:
    """`{"path": {"$startsWith": "/shop"}}`: a string attribute starting with the operand."""

    name = "$startsWith"

    def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
        if not isinstance(operand, str):
            raise ConfigError(f"{path}: $startsWith expects a string")
        prefix = operand

        def starts(value: Any) -> bool:
            return isinstance(value, str) and value.startswith(prefix)

        return starts


class Nameless:
    name = "startsWith"

    def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
        raise NotImplementedError


class NoCompile:
    name = "$nothing"


class Exploding:
    name = "$explode"

    def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
        raise RuntimeError("boom")


@pytest.fixture
def registry() -> OperatorRegistry:
    reg = OperatorRegistry()
    reg.register(StartsWith())
    return reg


def test_custom_operator_in_a_condition(registry: OperatorRegistry) -> None:
    """A registered operator works like a built-in, nested and combined with others."""
    cond = compile_condition(
        {"page.path": {"$startsWith": "/shop"}, "$or": [{"n": {"$not": {"$startsWith": "x"}}}]},
        operators=registry,
    )
    assert cond({"page": {"path": "/shop/cart"}, "n": "abc"}) is True
    assert cond({"page": {"path": "/blog"}, "n": "abc"}) is False
    assert cond({"page": {"path": "/shop"}, "n": "xyz"}) is False


def test_missing_attribute_reaches_the_operator_as_none(registry: OperatorRegistry) -> None:
    """A missing attribute is passed to the predicate as `None`, as GrowthBook does."""
    seen: list[Any] = []

    class Spy:
        name = "$spy"

        def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
            def spy(value: Any) -> bool:
                seen.append(value)
                return True

            return spy

    registry.register(Spy())
    compile_condition({"a.b": {"$spy": 1}}, operators=registry)({})
    assert seen == [None]


def test_operator_operand_errors_keep_their_path(registry: OperatorRegistry) -> None:
    """A `ConfigError` from `compile` is listed with the others; a crash becomes a problem."""
    registry.register(Exploding())
    with pytest.raises(ConfigError) as info:
        compile_condition(
            {"p": {"$startsWith": 3}, "q": {"$explode": 1}, "r": {"$foo": 1}},
            path="tags[0].trigger",
            operators=registry,
        )
    assert info.value.errors == (
        "tags[0].trigger.p: $startsWith expects a string",
        "tags[0].trigger.q: operator $explode rejected its operand: RuntimeError: boom",
        'tags[0].trigger.r: unknown operator "$foo"',
    )


def test_unregistered_operator_is_unknown() -> None:
    """Without registration, the custom name is an unknown operator."""
    with pytest.raises(ConfigError, match=r'condition\.p: unknown operator "\$startsWith"'):
        compile_condition({"p": {"$startsWith": "/"}}, operators=OperatorRegistry())


def test_protocol_is_runtime_checkable() -> None:
    """Operator objects satisfy the `Operator` protocol."""
    assert isinstance(StartsWith(), Operator)
    assert not isinstance(NoCompile(), Operator)


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (Nameless(), "name must be a string starting with '$'"),
        (NoCompile(), "has no compile(operand, path) method"),
        (type("In", (StartsWith,), {"name": "$in"})(), "$in is a built-in operator"),
        (type("Or", (StartsWith,), {"name": "$or"})(), "$or is a built-in operator"),
        (StartsWith(), "$startsWith is already registered"),
    ],
)
def test_register_verifies_operators(registry: OperatorRegistry, op: Any, message: str) -> None:
    """`register` refuses a bad name, a missing `compile`, a built-in name, or a clash."""
    with pytest.raises(PluginError) as info:
        registry.register(op)
    assert message in str(info.value)


def test_registering_the_same_object_twice_is_harmless(registry: OperatorRegistry) -> None:
    """Re-registering the very same operator object is not a clash."""
    op = registry.get("$startsWith")
    assert op is not None
    registry.register(op)
    assert list(registry) == ["$startsWith"]
    assert len(registry) == 1
    assert "$startsWith" in registry


@pytest.fixture(autouse=True)
def _forget_demo_module() -> Iterator[None]:
    """Each test installs its own `demo_ops`; drop the imported one afterwards."""
    yield
    sys.modules.pop("demo_ops", None)


def _install_dist(site: Path, entry_points: str, module_source: str) -> None:
    """Write a minimal installed distribution with entry points under ``site``."""
    (site / "demo_ops.py").write_text(textwrap.dedent(module_source), encoding="utf-8")
    dist = site / "demo_ops-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-ops\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points), encoding="utf-8")


MODULE = """
    class Weekend:
        name = "$isWeekend"
        def compile(self, operand, path):
            want = bool(operand)
            return lambda v: (v in ("sat", "sun")) is want

    WEEKDAY = type("Weekday", (), {
        "name": "$isWeekday",
        "compile": lambda self, operand, path: (lambda v: v in ("mon", "tue")),
    })()
"""


def test_entry_points_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_entry_points` registers classes (instantiated) and objects from a group."""
    _install_dist(
        tmp_path,
        """
        [persona_sdk.operators.test_ok]
        weekend = demo_ops:Weekend
        weekday = demo_ops:WEEKDAY
        """,
        MODULE,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = OperatorRegistry()
    registry.load_entry_points("persona_sdk.operators.test_ok")
    cond = compile_condition(
        {"day": {"$isWeekend": True}, "other": {"$isWeekday": 1}}, operators=registry
    )
    assert cond({"day": "sun", "other": "mon"}) is True
    assert cond({"day": "mon", "other": "mon"}) is False


def test_broken_entry_points_name_plugin_and_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Load and verification failures are raised together, naming each plugin and the group;
    the plugins that did load stay registered."""
    _install_dist(
        tmp_path,
        """
        [persona_sdk.operators.test_bad]
        good = demo_ops:Weekend
        missing = demo_ops:DoesNotExist
        clash = demo_ops:Clash
        """,
        MODULE + '\n    Clash = type("Clash", (Weekend,), {"name": "$regex"})\n',
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = OperatorRegistry()
    with pytest.raises(PluginError) as info:
        registry.load_entry_points("persona_sdk.operators.test_bad")
    message = str(info.value)
    assert (
        "missing = demo_ops:DoesNotExist (entry point group 'persona_sdk.operators.test_bad')"
        in message
    )
    assert "failed to load: AttributeError" in message
    assert "clash = demo_ops:Clash" in message
    assert "$regex is a built-in operator" in message
    assert registry.get("$isWeekend") is not None


def test_default_registry_loads_the_operators_group_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`default_registry()` is built on first use from `persona_sdk.operators`, then reused,
    and `compile_condition` uses it when no registry is given."""
    _install_dist(
        tmp_path,
        """
        [persona_sdk.operators]
        weekend = demo_ops:Weekend
        """,
        MODULE,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry_module, "_default", None)
    first = default_registry()
    assert first is default_registry()
    assert first.get("$isWeekend") is not None
    assert compile_condition({"d": {"$isWeekend": False}})({"d": "tue"}) is True


def test_compile_must_return_a_predicate(registry: OperatorRegistry) -> None:
    """An operator whose `compile` returns something not callable is reported, not used."""

    class Broken:
        name = "$broken"

        def compile(self, operand: Any, path: str) -> Any:
            return 42

    registry.register(Broken())
    with pytest.raises(ConfigError, match=r"condition\.x: operator \$broken: compile\(\) did not"):
        compile_condition({"x": {"$broken": 1}}, operators=registry)
