"""The Unleash client specification, run against ``persona_sdk.unleash``.

Every file listed in ``../shared/conformance/unleash-spec/index.json`` is read at test time
(never copied into the repo): each ``tests`` case asserts ``is_enabled`` and each
``variantTests`` case asserts ``get_variant``, exactly as the specification's README says.
No case is skipped.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from persona_sdk.unleash import UnleashToggles

pytestmark = pytest.mark.conformance

SPEC_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "unleash-spec"
).resolve()


@cache
def _spec(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))
    return loaded


@cache
def _toggles(name: str) -> UnleashToggles:
    return UnleashToggles.from_payload(_spec(name)["state"], hostname="spec-host")


def _cases(kind: str) -> list[Any]:
    if not (SPEC_DIR / "index.json").exists():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no {SPEC_DIR}"))]
    params = []
    for name in json.loads((SPEC_DIR / "index.json").read_text(encoding="utf-8")):
        for i, case in enumerate(_spec(name).get(kind, [])):
            params.append(pytest.param(name, case, id=f"{name[:2]}-{i}-{case['description'][:50]}"))
    return params


@pytest.mark.parametrize(("spec", "case"), _cases("tests"))
def test_is_enabled(spec: str, case: dict[str, Any]) -> None:
    """``is_enabled(toggleName, context)`` equals the case's ``expectedResult``."""
    toggles = _toggles(spec)
    assert toggles.is_enabled(case["toggleName"], case["context"]) is case["expectedResult"]


@pytest.mark.parametrize(("spec", "case"), _cases("variantTests"))
def test_get_variant(spec: str, case: dict[str, Any]) -> None:
    """``get_variant(toggleName, context)`` equals the case's ``expectedResult``."""
    toggles = _toggles(spec)
    got = toggles.get_variant(case["toggleName"], case["context"]).to_dict()
    expected = dict(case["expectedResult"])
    assert got == expected


def test_every_file_is_read() -> None:
    """All 22 files and their 227 + 52 cases are found (none silently missing)."""
    if not SPEC_DIR.exists():
        pytest.skip(f"no {SPEC_DIR}")
    names = json.loads((SPEC_DIR / "index.json").read_text(encoding="utf-8"))
    assert len(names) == 22
    assert sum(len(_spec(n).get("tests", [])) for n in names) == 227
    assert sum(len(_spec(n).get("variantTests", [])) for n in names) == 52
