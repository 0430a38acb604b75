"""GrowthBook's cross-SDK `evalCondition` cases, run against `persona_sdk.rules`.

The cases are read at test time from ``../shared/conformance/growthbook-cases.json`` (never
copied into the repo). They are evaluated in lenient mode (``strict=False``), which is how a
GrowthBook payload is imported; strict mode is checked to agree wherever it compiles.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from persona_sdk import ConfigError
from persona_sdk.rules import compile_condition

pytestmark = pytest.mark.conformance

CASES_FILE = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "growthbook-cases.json"
).resolve()

# The cases strict mode refuses, and why; GrowthBook's JS SDK evaluates each of them to a
# plain "fails" (or "passes" for a negated operator), which lenient mode reproduces.
STRICT_REFUSALS = {
    "$in - not array": "$in expects a list",
    "$nin - not array": "$nin expects a list",
    "$ini - not array": "$ini expects a list",
    "$nini - not array": "$nini expects a list",
    "unknown operator - pass": 'unknown operator "$regx"',
    "$regex invalid - pass": "invalid regex",
    "$regex invalid - fail": "invalid regex",
    "$inGroup fails for unknown group id": "unknown saved group",
    "$notInGroup passes for unknown group id": "unknown saved group",
}


@cache
def _cases() -> list[list[Any]]:
    data = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    cases: list[list[Any]] = data["evalCondition"]
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gb_case" not in metafunc.fixturenames:
        return
    if not CASES_FILE.exists():
        metafunc.parametrize(
            "gb_case",
            [pytest.param(None, marks=pytest.mark.skip(reason=f"{CASES_FILE} is missing"))],
        )
        return
    cases = _cases()
    metafunc.parametrize("gb_case", cases, ids=[str(c[0]) for c in cases])


def test_suite_has_every_case() -> None:
    """The suite read is the 0.8.0 one, with its 248 `evalCondition` cases."""
    if not CASES_FILE.exists():
        pytest.skip(f"{CASES_FILE} is missing")
    assert len(_cases()) == 248


def test_eval_condition(gb_case: list[Any]) -> None:
    """Each case evaluates to GrowthBook's expected boolean (lenient compile, as on import)."""
    _name, condition, attributes, expected, *rest = gb_case
    saved_groups = rest[0] if rest else None
    check = compile_condition(condition, saved_groups=saved_groups, strict=False)
    assert check(attributes) is expected


def test_strict_mode_agrees_or_refuses(gb_case: list[Any]) -> None:
    """Strict compile gives the same answer, except for the known-invalid conditions, which it
    refuses with a path-prefixed reason (and whose JS result is the JS "invalid → false")."""
    name, condition, attributes, expected, *rest = gb_case
    saved_groups = rest[0] if rest else None
    if name in STRICT_REFUSALS:
        with pytest.raises(ConfigError) as info:
            compile_condition(condition, saved_groups=saved_groups)
        (line,) = info.value.errors
        assert line.startswith("condition.")
        assert STRICT_REFUSALS[name] in line
        # An invalid part fails; only the negated group operator turns that into a pass.
        assert expected is name.startswith("$notInGroup")
    else:
        check = compile_condition(condition, saved_groups=saved_groups)
        assert check(attributes) is expected
