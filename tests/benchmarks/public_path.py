"""The public path as a user writes it, against its peers in the same run.

Shared by ``tests/benchmarks/test_bench_public_path.py`` (a quick smoke run in the normal
suite, the measurement with ``--benchmark-enable``) and ``scripts/bench`` (every row, one
table, JSON). See ``docs/performance.md`` for the method.

Decide rows: ``Persona.from_growthbook(payload, base=...)`` with one HTTP destination that
receives the exposures through a tag (``Experiment Viewed``), then for each never-seen
visitor ``persona.visitor(anonymous_id=..., attributes=...).feature("hero")``; growthbook
4.x on the same payload and visitors, with an ``on_experiment_viewed`` callback. Timed as
CPU time of the calling thread (``time.thread_time``), so the exposures' delivery (another
thread) and other processes on a loaded machine are not counted against either side; rounds
alternate between the sides and the best round of each is kept.

Write rows: a burst of ``track()`` calls to one HTTP destination, then wait until a loopback
sink in another process has every event; process CPU time (``time.process_time``, all
threads) per delivered event, events per second (wall clock, tracking included) and the
caller's mean time per ``track()``; segment-analytics-python does the same to the same kind
of sink. Both clients keep their defaults (batch size, compression), as a new user would.
Bursts alternate between the sides and each side's best is kept (``write``).
"""

from __future__ import annotations

import gc
import http.client
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servers.sink import SinkProcess

from persona_sdk import Persona

COUNTRIES = ["US", "CA", "FR", "DE", "GB", "ES", "IT", "BR", "JP", "IN"]


def _experiment(key: str, variations: list[Any], **extra: Any) -> dict[str, Any]:
    n = len(variations)
    return {
        "key": key,
        "seed": key,
        "hashAttribute": "id",
        "hashVersion": 2,
        "variations": variations,
        "weights": [1 / n] * n,
        "coverage": 1,
        "meta": [{"key": str(i), "name": f"Variation {i}"} for i in range(n)],
        "phase": "1",
        "name": key.replace("-", " ").title(),
        **extra,
    }


#: ``hero``: one targeting rule (forced for some countries) and one experiment rule; nine more
#: features of the usual kinds for the 10-features-per-request row.
FEATURES: dict[str, Any] = {
    "hero": {
        "defaultValue": "default",
        "rules": [
            {"id": "fr-hero", "condition": {"country": "FR", "age": {"$gte": 18}},
             "force": "bonjour"},
            {"id": "hero-test", **_experiment("hero-test", ["control", "spring"])},
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
    "pricing": {"defaultValue": 10, "rules": [_experiment("pricing", [10, 12, 15])]},
    "banner-copy": {"defaultValue": {"headline": "Free returns", "color": "#222"}},
    "search-v2": {"defaultValue": False, "rules": [{"condition": {"plan": "pro"}, "force": True}]},
    "recs-algo": {
        "defaultValue": "popular",
        "rules": [_experiment("recs", ["popular", "similar"], condition={"age": {"$gte": 25}})],
    },
    "dark-mode": {"defaultValue": False},
    "promo": {
        "defaultValue": None,
        "rules": [{"condition": {"email": {"$regex": "@example\\.com$"}},
                   "force": {"code": "EX10"}}],
    },
    "checkout-button": {
        "defaultValue": "blue",
        "rules": [_experiment("button-color", ["blue", "green"], namespace=["checkout", 0, 0.5])],
    },
}
PAYLOAD: dict[str, Any] = {"features": FEATURES, "savedGroups": {}}
KEYS = list(FEATURES)
PROPS = {"revenue": 42.0, "currency": "EUR", "sku": "SKU-0001"}


def visitors(n: int, round_: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` visitors never seen before (ids unique to ``round_``), with their attributes."""
    rnd = random.Random(round_)
    out = []
    for i in range(n):
        domain = rnd.choice(["example.com", "gmail.com"])
        out.append((f"r{round_}-v{i}", {
            "country": rnd.choice(COUNTRIES), "age": rnd.randint(14, 70),
            "email": f"user{i}@{domain}", "plan": rnd.choice(["free", "pro"]),
        }))
    return out


def base_container(url: str) -> dict[str, Any]:
    """One HTTP destination; one tag sends it the exposures (and, for the write rows, every
    track)."""
    return {
        # a burst far faster than any sink drains: keep it all queued
        "delivery": {"max_queue_events": 200_000, "max_queue_bytes": 1 << 30},
        "destinations": {"collect": {"type": "http", "options": {"url": url,
                                                                 "write_key": "bench"}}},
        "tags": [{"name": "every track", "destination": "collect",
                  "trigger": {"type": "track"}}],
    }


def quiet_peers() -> None:
    """The peers log every retry and failure at INFO/ERROR; nothing here is about that."""
    for name in ("segment", "growthbook", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextmanager
def sink_process() -> Iterator[SinkProcess]:
    """A counting sink in a child process (it does not share our GIL)."""
    with SinkProcess() as sp:
        yield sp


class _SinkPoller:
    """Reads the sink's counters over one kept-alive connection, keeping the CPU time it
    spends so the write rows can leave it out."""

    def __init__(self, sink: SinkProcess) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
        self.cpu = 0.0

    def events(self) -> int:
        t = time.thread_time()
        self._conn.request("GET", "/_sink/stats")
        resp = self._conn.getresponse()
        body = resp.read()
        self.cpu += time.thread_time() - t
        return int(json.loads(body)["events"])

    def wait_for(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.events() >= n:
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self._conn.close()


# -- decide ------------------------------------------------------------------------------


@dataclass
class DecideResult:
    """CPU µs of the calling thread per visitor, both sides, and what was checked."""

    ours_us: float
    peer_us: float
    visitors: int
    disagreements: int
    #: decisions that differ only because the visitor's hash equals a rollout's coverage
    #: exactly: growthbook-python 4.0 excludes that bucket (``n < coverage``), persona-sdk
    #: includes it (``n <= coverage``, as growthbook-python < 4.0 did); 1 in 10,000
    boundary: int
    exposures_ours: int
    exposures_peer: int
    delivered: int

    @property
    def ratio(self) -> float:
        return self.peer_us / self.ours_us


def _ours_runner(persona: Persona, keys: list[str]) -> Callable[[list[Any]], list[Any]]:
    visitor = persona.visitor
    if len(keys) == 1:
        [key] = keys

        def one(batch: list[Any]) -> list[Any]:
            out = []
            append = out.append
            for vid, attrs in batch:
                append(visitor(anonymous_id=vid, attributes=attrs).feature(key).value)
            return out
        return one

    def many(batch: list[Any]) -> list[Any]:
        out = []
        append = out.append
        for vid, attrs in batch:
            v = visitor(anonymous_id=vid, attributes=attrs)
            for key in keys:
                append(v.feature(key).value)
        return out
    return many


def _peer_runner(mode: str, keys: list[str], seen: list[Any]) -> Callable[[list[Any]], list[Any]]:
    from growthbook import GrowthBook

    def on_viewed(experiment: Any, result: Any, user_context: Any = None) -> None:
        seen.append((experiment.key, result.variationId))

    if mode == "warm":
        gb = GrowthBook(features=FEATURES, savedGroups={}, on_experiment_viewed=on_viewed)
        set_attributes, eval_feature = gb.set_attributes, gb.eval_feature
        [key] = keys

        def warm(batch: list[Any]) -> list[Any]:
            out = []
            append = out.append
            for vid, attrs in batch:
                set_attributes({"id": vid, **attrs})
                append(eval_feature(key).value)
            return out
        return warm

    def per_request(batch: list[Any]) -> list[Any]:
        out = []
        append = out.append
        for vid, attrs in batch:
            gb = GrowthBook(features=FEATURES, savedGroups={}, attributes={"id": vid, **attrs},
                            on_experiment_viewed=on_viewed)
            for key in keys:
                append(gb.eval_feature(key).value)
        return out
    return per_request


def _on_coverage_boundary(key: str, vid: str) -> bool:
    from growthbook.core import gbhash

    for rule in FEATURES[key].get("rules", ()):
        coverage = rule.get("coverage")
        if "force" in rule and coverage is not None and "range" not in rule:
            seed = rule.get("seed") or key
            if gbhash(seed, vid, rule.get("hashVersion") or 1) == coverage:
                return True
    return False


def decide(sink: SinkProcess, mode: str, n: int, rounds: int) -> DecideResult:
    """One decide row: ``mode`` is ``warm`` (one feature; growthbook instance reused),
    ``new`` (one feature; a new ``GrowthBook`` per request) or ``ten`` (10 features per
    request; a new ``GrowthBook`` per request)."""
    quiet_peers()
    sink.reset()
    keys = ["hero"] if mode in ("warm", "new") else KEYS
    persona = Persona.from_growthbook(PAYLOAD, base=base_container(f"{sink.url}/v1/batch"))
    seen: list[Any] = []
    ours, peer = _ours_runner(persona, keys), _peer_runner(mode, keys, seen)
    # warm both (imports, caches, delivery thread, connection), on visitors of their own
    warmup = visitors(min(n, 200), 10_000 + n)
    if ours(warmup) != peer(warmup):
        raise AssertionError("persona-sdk and growthbook disagree on the warm-up visitors")
    best = [float("inf"), float("inf")]
    disagreements = boundary = 0
    clock = time.thread_time
    for r in range(rounds):
        batch = visitors(n, r)  # never seen by either side
        gc.collect()
        t = clock()
        got_ours = ours(batch)
        best[0] = min(best[0], clock() - t)
        gc.collect()
        t = clock()
        got_peer = peer(batch)
        best[1] = min(best[1], clock() - t)
        for i, (a, b) in enumerate(zip(got_ours, got_peer, strict=True)):
            if a != b:
                vid = batch[i // len(keys)][0]
                if _on_coverage_boundary(keys[i % len(keys)], vid):
                    boundary += 1
                else:
                    disagreements += 1
    persona.flush(60)
    stats = persona.stats()
    persona.close()
    exposures = stats["decisions"].get("exposures", 0)
    poller = _SinkPoller(sink)
    delivered = poller.events()
    poller.close()
    return DecideResult(best[0] / n * 1e6, best[1] / n * 1e6, n * rounds, disagreements,
                        boundary, exposures, len(seen), delivered)


# -- write -------------------------------------------------------------------------------


@dataclass
class WriteSide:
    """One client's burst: CPU µs per delivered event, events/s, caller µs per call."""

    cpu_us: float
    events_per_s: float
    caller_us: float
    delivered: int


def _burst(sink: SinkProcess, n: int, track: Callable[[int], Any],
           done: Callable[[], None] = lambda: None) -> WriteSide:
    poller = _SinkPoller(sink)
    sink.reset()
    gc.collect()
    p0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        track(i)
    caller = time.perf_counter() - w0
    done()
    ok = poller.wait_for(n, timeout=120)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - p0 - poller.cpu
    delivered = poller.events()
    poller.close()
    if not ok:
        raise AssertionError(f"the sink got {delivered} of {n} events")
    return WriteSide(cpu / n * 1e6, n / wall, caller / n * 1e6, delivered)


def write_ours(sink: SinkProcess, n: int) -> WriteSide:
    """``persona.track`` × n to one HTTP destination, until the sink has them all."""
    persona = Persona(base_container(f"{sink.url}/v1/batch"))
    track = persona.track
    for i in range(100):  # the delivery thread, client and connection up
        track("Order Completed", anonymous_id=f"w-{i}", properties=PROPS)
    if not persona.flush(30):
        raise AssertionError("warm-up events not delivered")

    def one(i: int) -> None:
        track("Order Completed", anonymous_id=f"a-{i}", properties=PROPS)

    try:
        return _burst(sink, n, one)
    finally:
        persona.close()


def write_segment(sink: SinkProcess, n: int) -> WriteSide:
    """segment-analytics-python's ``Client.track`` × n, defaults, until the sink has them."""
    from segment.analytics import Client

    quiet_peers()
    client = Client(write_key="bench", host=sink.url, max_queue_size=n + 1000)
    for i in range(100):
        client.track(anonymous_id=f"w-{i}", event="Order Completed", properties=PROPS)
    client.flush()

    def one(i: int) -> None:
        client.track(anonymous_id=f"a-{i}", event="Order Completed", properties=PROPS)

    try:
        return _burst(sink, n, one)
    finally:
        client.shutdown()


def write(sink: SinkProcess, n: int, bursts: int = 2) -> tuple[WriteSide, WriteSide]:
    """The write rows, ours and the peer's: ``bursts`` bursts of ``n`` each, alternating
    between the sides, each figure the best of its side's bursts (as the decide rows keep
    each side's best round).

    Why more than one: the first burst of that size in a process touches memory the process
    has never used (about 7,000 minor page faults for 30,000 events here, against a few
    hundred in later bursts) and costs the side that goes first a fifth more CPU; taking
    each side's best of alternating bursts measures both on memory they have used before.
    """
    ours: list[WriteSide] = []
    peer: list[WriteSide] = []
    for _ in range(bursts):
        ours.append(write_ours(sink, n))
        peer.append(write_segment(sink, n))
    return _best(ours), _best(peer)


def _best(sides: list[WriteSide]) -> WriteSide:
    return WriteSide(
        min(s.cpu_us for s in sides), max(s.events_per_s for s in sides),
        min(s.caller_us for s in sides), min(s.delivered for s in sides),
    )
