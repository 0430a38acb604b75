"""Feature decisions: persona-sdk visitors against growthbook, same payload, same visitors.

Both sides decide for the same 10,000 visitors on the same GrowthBook payload, in the same
run. Measure with::

    pytest tests/benchmarks/test_bench_features.py --benchmark-enable -s

(a) one feature with a targeting condition and an experiment rule, for a new visitor:
    ``engine.visitor(...)`` + ``visitor.feature(key)`` against ``gb.set_attributes(...)`` +
    ``gb.eval_feature(key)``;
(b) a new visitor and 10 features per request: ``engine.visitor(...)`` + 10 ``feature`` calls
    against a new ``GrowthBook(...)`` + the same 10 ``eval_feature`` calls.

Exposures are deduplicated and handed on by both sides (persona-sdk to a ``track`` that
accepts them, growthbook to an ``on_experiment_viewed`` callback that does nothing), so
what is compared is deciding, not delivery. In the normal suite (``--benchmark-disable``)
each benchmark runs once as a plain test and the ratio checks are skipped.
"""

from __future__ import annotations

import random
import time
import timeit
from collections.abc import Callable
from typing import Any

import pytest

from persona_sdk.config import Container
from persona_sdk.decisions import Engine, HookSet, Visitor

growthbook = pytest.importorskip("growthbook", reason="growthbook (test extra) is the peer")

VISITORS = 10_000
COUNTRIES = ["US", "CA", "FR", "DE", "GB", "ES", "IT", "BR", "JP", "IN"]

#: The typical targeting condition (as in test_bench_conditions.py).
TARGETING = {
    "country": {"$in": ["US", "CA", "FR", "DE", "GB"]},
    "age": {"$gte": 18},
    "email": {"$regex": "@example\\.com$"},
}


def _experiment(key: str, variations: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": f"rule-{key}",
        "key": key,
        "seed": key,
        "hashAttribute": "id",
        "hashVersion": 2,
        "variations": variations,
        "weights": [1 / len(variations)] * len(variations),
        "coverage": 1,
        "meta": [{"key": str(i), "name": f"Variation {i}"} for i in range(len(variations))],
        "phase": "1",
        "name": key.replace("-", " ").title(),
        **extra,
    }


FEATURES: dict[str, Any] = {
    "hero-banner": {
        "defaultValue": {"title": "Welcome", "image": "/img/default.jpg"},
        "rules": [
            _experiment(
                "hero-test",
                [
                    {"title": "Welcome", "image": "/img/default.jpg"},
                    {"title": "Spring sale", "image": "/img/spring.jpg"},
                ],
                condition=TARGETING,
            )
        ],
    },
    "new-checkout": {
        "defaultValue": False,
        "rules": [{"force": True, "coverage": 0.5, "hashVersion": 2, "seed": "new-checkout"}],
    },
    "free-shipping": {
        "defaultValue": False,
        "rules": [{"condition": {"country": {"$in": ["US", "CA"]}}, "force": True}],
    },
    "pricing-test": {"defaultValue": 10, "rules": [_experiment("pricing", [10, 12, 15])]},
    "banner-copy": {"defaultValue": {"headline": "Free returns", "color": "#222"}},
    "search-v2": {"defaultValue": False, "rules": [{"condition": {"plan": "pro"}, "force": True}]},
    "recs-algo": {
        "defaultValue": "popular",
        "rules": [_experiment("recs", ["popular", "similar"], condition={"age": {"$gte": 25}})],
    },
    "dark-mode": {"defaultValue": False},
    "promo": {
        "defaultValue": None,
        "rules": [{"condition": {"id": {"$inGroup": "vip"}}, "force": {"code": "VIP10"}}],
    },
    "checkout-button": {
        "defaultValue": "blue",
        "rules": [_experiment("button-color", ["blue", "green"], namespace=["checkout", 0, 0.5])],
    },
}
SAVED_GROUPS = {"vip": [f"visitor-{i}" for i in range(0, VISITORS, 7)]}
KEYS = list(FEATURES)


def _visitors() -> list[dict[str, Any]]:
    rnd = random.Random(7)
    out = []
    for i in range(VISITORS):
        domain = rnd.choice(["example.com", "example.com", "gmail.com"])
        out.append(
            {
                "id": f"visitor-{i}",
                "country": rnd.choice(COUNTRIES),
                "age": rnd.randint(14, 70),
                "email": f"user{i}@{domain}",
                "plan": rnd.choice(["free", "pro"]),
            }
        )
    return out


ATTRIBUTES = _visitors()
#: what each side is given for a visitor: its id, and the other attributes
REQUESTS = [(a["id"], {k: v for k, v in a.items() if k != "id"}) for a in ATTRIBUTES]


class _Persona:
    """Accepts exposures as ``Persona.track`` does, and does nothing with them."""

    def track(  # noqa: PLR0917 - the same signature as Persona.track
        self,
        event: str,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Any = None,
        context: Any = None,
        consent: Any = None,
        timestamp: float | None = None,
        message_id: str | None = None,
    ) -> str:
        return "m"


ENGINE = Engine.build(Container(features=FEATURES, saved_groups=SAVED_GROUPS))
PERSONA = _Persona()


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


# -- the four workloads -------------------------------------------------------------------


def ours_one() -> Callable[[], int]:
    def run() -> int:
        hooks = HookSet()  # every round's visitors are new: first exposures are logged
        on = 0
        for visitor_id, attributes in REQUESTS:
            visitor = ENGINE.visitor(
                user_id=visitor_id, attributes=attributes, persona=PERSONA, hooks=hooks
            )
            on += visitor.feature("hero-banner").on
        return on

    return run


def theirs_one() -> Callable[[], int]:
    def run() -> int:
        gb = growthbook.GrowthBook(  # every round's visitors are new to this instance
            features=FEATURES, savedGroups=SAVED_GROUPS, on_experiment_viewed=_noop
        )
        on = 0
        for visitor_id, attributes in REQUESTS:
            gb.set_attributes({"id": visitor_id, **attributes})
            on += gb.eval_feature("hero-banner").on
        return on

    return run


def ours_request() -> Callable[[], int]:
    def run() -> int:
        hooks = HookSet()
        on = 0
        for visitor_id, attributes in REQUESTS:
            visitor = ENGINE.visitor(
                user_id=visitor_id, attributes=attributes, persona=PERSONA, hooks=hooks
            )
            for key in KEYS:
                on += visitor.feature(key).on
        return on

    return run


def theirs_request() -> Callable[[], int]:
    def run() -> int:
        on = 0
        for visitor_id, attributes in REQUESTS:
            gb = growthbook.GrowthBook(
                features=FEATURES,
                savedGroups=SAVED_GROUPS,
                attributes={"id": visitor_id, **attributes},
                on_experiment_viewed=_noop,
            )
            for key in KEYS:
                on += gb.eval_feature(key).on
        return on

    return run


# -- correctness first --------------------------------------------------------------------


def test_same_decisions_as_growthbook() -> None:
    """Every benchmark visitor gets the same value and source for every feature."""
    gb = growthbook.GrowthBook(features=FEATURES, savedGroups=SAVED_GROUPS)
    sources = set()
    for visitor_id, attributes in REQUESTS[:2000]:
        visitor = Visitor(engine=ENGINE, user_id=visitor_id, attributes=attributes)
        gb.set_attributes({"id": visitor_id, **attributes})
        for key in KEYS:
            ours, theirs = visitor.feature(key), gb.eval_feature(key)
            assert (ours.value, ours.source.value) == (theirs.value, theirs.source), key
            sources.add((key, ours.source.value))
    # the payload exercises experiments, forced values and defaults
    assert {s for _, s in sources} == {"experiment", "force", "defaultValue"}


# -- pytest-benchmark measurements --------------------------------------------------------


def _pedantic(benchmark: Any, run: Callable[[], int], rounds: int) -> None:
    benchmark.extra_info["visitors_per_round"] = VISITORS
    benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.benchmark(group="feature-new-visitor")
def test_bench_persona_one_feature(benchmark: Any) -> None:
    """persona-sdk: new visitor + one feature (targeting + experiment), 10,000 visitors."""
    _pedantic(benchmark, ours_one(), rounds=5)


@pytest.mark.benchmark(group="feature-new-visitor")
def test_bench_growthbook_one_feature(benchmark: Any) -> None:
    """growthbook: set_attributes + eval_feature on the same feature and visitors."""
    _pedantic(benchmark, theirs_one(), rounds=3)


@pytest.mark.benchmark(group="request-10-features")
def test_bench_persona_request(benchmark: Any) -> None:
    """persona-sdk: new visitor + 10 features per request, 10,000 requests."""
    _pedantic(benchmark, ours_request(), rounds=3)


@pytest.mark.benchmark(group="request-10-features")
def test_bench_growthbook_request(benchmark: Any) -> None:
    """growthbook: new GrowthBook instance + the same 10 eval_feature per request."""
    _pedantic(benchmark, theirs_request(), rounds=1)


# -- the ratios ---------------------------------------------------------------------------


def _best_ns_per_visitor(
    ours: Callable[[], int], theirs: Callable[[], int], rounds: tuple[int, int]
) -> tuple[float, float]:
    # Interleaved rounds on CPU time, best of each: other processes on a shared machine
    # neither inflate one side nor the other.
    best = [float("inf"), float("inf")]
    for i in range(max(rounds)):
        for side, (run, n) in enumerate(((ours, rounds[0]), (theirs, rounds[1]))):
            if i < n:
                t = timeit.timeit(run, number=1, timer=time.process_time)
                best[side] = min(best[side], t)
    return best[0] / VISITORS * 1e9, best[1] / VISITORS * 1e9


def _measuring(request: pytest.FixtureRequest) -> bool:
    config = request.config
    return bool(config.getoption("benchmark_enable")) or not config.getoption("benchmark_disable")


@pytest.mark.parametrize(
    ("scenario", "ours", "theirs", "repeat"),
    [
        ("one feature, new visitor", ours_one, theirs_one, (15, 5)),
        ("new visitor + 10 features", ours_request, theirs_request, (7, 3)),
    ],
)
def test_ratio_is_at_least_10x(
    request: pytest.FixtureRequest,
    scenario: str,
    ours: Callable[[], Callable[[], int]],
    theirs: Callable[[], Callable[[], int]],
    repeat: tuple[int, int],
) -> None:
    """persona-sdk decides at least 10x faster than growthbook (best of N rounds each,
    same payload and visitors, same process)."""
    if not _measuring(request):
        pytest.skip("a timing ratio: measured with --benchmark-enable")
    run_ours, run_theirs = ours(), theirs()
    assert run_ours() == run_theirs()  # same decisions, warm caches
    ns_ours, ns_theirs = _best_ns_per_visitor(run_ours, run_theirs, repeat)
    ratio = ns_theirs / ns_ours
    print(f"\n{scenario}: persona {ns_ours:,.0f} ns, growthbook {ns_theirs:,.0f} ns, {ratio:.1f}x")
    assert ratio >= 10
