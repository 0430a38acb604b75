"""GrowthBook's cross-SDK cases for hashing, bucketing, experiments, features, sticky
bucketing, URL redirects, decryption and contextual bandits, run against persona-sdk.

Every case of every section except ``evalCondition`` (``test_gb_conditions.py``) is read at
test time from ``../shared/conformance/growthbook-cases.json`` (never copied into the repo).
A thin runner maps each case's ``context`` onto a ``Container`` + ``Engine`` + ``Visitor``,
the public path an application uses; results are compared in GrowthBook's shapes with
``to_growthbook()``, following the suite's comparison rules (README of the data folder).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest

from persona_sdk import ConfigError
from persona_sdk.allocation import (
    InMemoryStickyBucketStore,
    StickyAssignments,
    choose_variation,
    gb_hash,
    get_bucket_ranges,
    get_equal_weights,
    get_query_string_override,
    in_namespace,
)
from persona_sdk.config import Container, DecisionsConfig
from persona_sdk.decisions import Engine, Visitor
from persona_sdk.decisions._growthbook import decrypt_payload

pytestmark = pytest.mark.conformance

CASES_FILE = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "growthbook-cases.json"
).resolve()

SECTIONS = (
    "hash",
    "getBucketRange",
    "chooseVariation",
    "getQueryStringOverride",
    "inNamespace",
    "getEqualWeights",
    "decrypt",
    "run",
    "feature",
    "stickyBucket",
    "urlRedirect",
    "contextualBandit",
)

#: Cases not passed, with the reason (none today: every case of every section passes).
SKIPPED: dict[tuple[str, str], str] = {}


@cache
def _suite() -> dict[str, Any]:
    return json.loads(CASES_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _case_id(section: str, index: int, case: list[Any]) -> str:
    # hash and getEqualWeights cases carry no name
    name = case[0] if isinstance(case[0], str) and section not in ("hash",) else str(case[:3])
    if section == "getEqualWeights":
        name = f"n={case[0]}"
    return f"{section}[{index}] {name}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gb_section_case" not in metafunc.fixturenames:
        return
    if not CASES_FILE.exists():
        metafunc.parametrize(
            "gb_section_case",
            [pytest.param(None, marks=pytest.mark.skip(reason=f"{CASES_FILE} is missing"))],
        )
        return
    params = []
    for section in SECTIONS:
        for i, case in enumerate(_suite()[section]):
            case_id = _case_id(section, i, case)
            reason = SKIPPED.get((section, str(case[0])))
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            params.append(pytest.param((section, case), id=case_id, marks=marks))
    metafunc.parametrize("gb_section_case", params)


# -- the runner: a case's context as a container, an engine and a visitor ----------------


class _NoPersona:
    """Exposures are not under test here: a stand-in that accepts them."""

    def track(self, *args: Any, **kwargs: Any) -> str:
        return "x"


def _engine(ctx: dict[str, Any], store: Any = None) -> Engine:
    container = Container(
        features=ctx.get("features", {}),
        saved_groups=ctx.get("savedGroups", {}),
        experiments=ctx.get("experiments", []),
        decisions=DecisionsConfig(
            enabled=ctx.get("enabled", True) is not False,
            qa_mode=bool(ctx.get("qaMode")),
            url_overrides=True,  # GrowthBook SDKs always honour ?<key>=<n>
            strict_conditions=False,  # JavaScript's leniency, as GrowthBook payloads expect
            forced_variations=ctx.get("forcedVariations", {}),
            contextual_bandits=ctx.get("contextualBandits", {}),
        ),
    )
    return Engine.build(container, sticky_store=store)


def _visitor(engine: Engine, ctx: dict[str, Any]) -> Visitor:
    # No ids: the case's attributes are the evaluation attributes, untouched.
    return Visitor(
        engine=engine,
        persona=_NoPersona(),
        attributes=ctx.get("attributes", {}),
        url=ctx.get("url"),
    )


def _trunc8(x: float) -> float:
    return math.floor(x * 1e8) / 1e8


def _decrypt(encrypted: str, key: str) -> str | None:
    try:
        return decrypt_payload(encrypted, key)
    except ConfigError:
        return None


# -- one test, dispatching on the section -------------------------------------------------


def test_growthbook_case(gb_section_case: tuple[str, list[Any]]) -> None:
    """The case's expected outcome is what persona-sdk computes (GrowthBook spec 0.8.0)."""
    section, case = gb_section_case
    check = globals()[f"_check_{section}"]
    check(*case)


def _check_hash(seed: str, value: str, version: int, expected: float | None) -> None:
    assert gb_hash(seed, value, version) == expected


def _check_getBucketRange(name: str, args: list[Any], expected: list[list[float]]) -> None:
    n, coverage, weights = args
    got = [[_trunc8(a), _trunc8(b)] for a, b in get_bucket_ranges(n, coverage, weights)]
    assert got == [[_trunc8(a), _trunc8(b)] for a, b in expected]


def _check_chooseVariation(name: str, n: float, ranges: list[list[float]], expected: int) -> None:
    assert choose_variation(n, ranges) == expected


def _check_getQueryStringOverride(
    name: str, key: str, url: str, n: int, expected: int | None
) -> None:
    assert get_query_string_override(key, url, n) == expected


def _check_inNamespace(name: str, hash_value: str, namespace: list[Any], expected: bool) -> None:
    assert in_namespace(hash_value, namespace) is expected


def _check_getEqualWeights(n: int, expected: list[float]) -> None:
    assert [_trunc8(w) for w in get_equal_weights(n)] == [_trunc8(w) for w in expected]


def _check_decrypt(name: str, encrypted: str, key: str, expected: str | None) -> None:
    pytest.importorskip("cryptography", reason="decryption needs the growthbook extra")
    assert _decrypt(encrypted, key) == expected


def _check_run(  # noqa: PLR0917 - the positions of the suite's case arrays
    name: str,
    ctx: dict[str, Any],
    experiment: dict[str, Any],
    value: Any,
    in_experiment: bool,
    hash_used: bool,
) -> None:
    engine = _engine({**ctx, "experiments": [experiment]})
    result = _visitor(engine, ctx).experiment(experiment["key"])
    assert (result.value, result.in_experiment, result.hash_used) == (
        value,
        in_experiment,
        hash_used,
    )


def _check_feature(name: str, ctx: dict[str, Any], key: str, expected: dict[str, Any]) -> None:
    engine = _engine(ctx)
    assert _visitor(engine, ctx).feature(key).to_growthbook() == expected


_check_contextualBandit = _check_feature


def _check_stickyBucket(  # noqa: PLR0917 - the positions of the suite's case arrays
    name: str,
    ctx: dict[str, Any],
    docs: list[dict[str, Any]],
    key: str,
    expected_result: dict[str, Any] | None,
    expected_docs: dict[str, Any],
) -> None:
    store = InMemoryStickyBucketStore([msgspec.convert(d, StickyAssignments) for d in docs])
    engine = _engine(ctx, store)
    visitor = _visitor(engine, ctx)
    result = visitor.feature(key)
    got = result.variation.to_growthbook() if result.variation is not None else None
    assert got == expected_result
    # The suite compares the documents an SDK instance holds: those of the user's
    # identifier attributes (loaded, then written); the store also keeps other users'.
    mine = {f"{k}||{v}" for k, v in engine.sticky_identifiers(visitor.attributes).items()}
    held = {k: msgspec.to_builtins(d) for k, d in store.docs().items() if k in mine}
    assert held == expected_docs


def _check_urlRedirect(name: str, ctx: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    redirect = _visitor(_engine(ctx), ctx).redirect()
    got = []
    if redirect is not None:
        url, result = redirect
        got.append(
            {
                "inExperiment": result.in_experiment,
                "urlRedirect": result.value["urlRedirect"],
                "urlWithParams": url,
            }
        )
    assert got == expected


def test_every_section_is_covered() -> None:
    """The module runs every section of the suite except evalCondition (its own module)."""
    if not CASES_FILE.exists():
        pytest.skip(f"{CASES_FILE} is missing")
    sections = {k for k, v in _suite().items() if isinstance(v, list)}
    assert sections - {"evalCondition"} == set(SECTIONS)
    assert sum(len(_suite()[s]) for s in SECTIONS) == 517 - len(_suite()["evalCondition"])
