"""The public path against its peers, same run: the rows of ``scripts/bench``.

Decide: ``Persona.from_growthbook(payload)`` with exposures routed to one HTTP destination,
``persona.visitor(anonymous_id=..., attributes=...).feature("hero")`` on never-seen visitors,
against growthbook's warm instance, a new ``GrowthBook`` per request, and 10 features per
request. Write: a burst of ``track()`` to one HTTP destination until a sink in another process
has every event, against segment-analytics-python. The workloads live in ``public_path.py``
(``scripts/bench`` runs the same ones and prints the table).

In the normal suite (``--benchmark-disable``) each runs small, untimed, and checks what the
figures rest on: the same decisions as growthbook, every exposure and every event delivered.
``pytest tests/benchmarks/test_bench_public_path.py --benchmark-enable -s`` runs them at full
size and prints the figures; the goals are reported by ``scripts/bench``, not asserted (a
loaded machine would make such a test fail on noise).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("growthbook", reason="growthbook (test extra) is the peer")
pytest.importorskip("segment.analytics", reason="segment-analytics-python (test extra) is the peer")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_path as pp
from servers.sink import SinkProcess


@pytest.fixture(scope="module")
def sink() -> Iterator[SinkProcess]:
    with pp.sink_process() as sp:
        yield sp


def _measuring(benchmark: Any) -> bool:
    return not benchmark.disabled


@pytest.mark.parametrize("mode", ["warm", "new", "ten"])
def test_decide_public_path(benchmark: Any, sink: SinkProcess, mode: str) -> None:
    """On never-seen visitors, ``persona.visitor(...).feature(...)`` decides what growthbook
    decides for every visitor and feature, and every exposure it logs reaches the destination
    through the tag layer, as many as growthbook's ``on_experiment_viewed`` sees."""
    n, rounds = (10_000, 5) if _measuring(benchmark) else (100, 1)
    results: list[pp.DecideResult] = []
    benchmark.pedantic(lambda: results.append(pp.decide(sink, mode, n, rounds)),
                       rounds=1, iterations=1)
    [res] = results
    assert res.disagreements == 0, res
    assert res.exposures_ours > 0
    assert res.exposures_ours == res.exposures_peer == res.delivered, res
    benchmark.extra_info.update(ours_us=res.ours_us, peer_us=res.peer_us, ratio=res.ratio)
    print(f"\ndecide {mode}: ours {res.ours_us:.2f} µs, growthbook {res.peer_us:.2f} µs, "
          f"{res.ratio:.1f}x")


def test_write_public_path(benchmark: Any, sink: SinkProcess) -> None:
    """A burst of ``persona.track()`` calls all reaches a sink in another process, as the
    same burst of segment-analytics-python ``track()`` calls does."""
    n = 30_000 if _measuring(benchmark) else 500
    results: list[pp.WriteSide] = []
    benchmark.pedantic(lambda: results.append(pp.write_ours(sink, n)), rounds=1, iterations=1)
    [ours] = results
    peer = pp.write_segment(sink, n)
    assert ours.delivered == peer.delivered == n
    benchmark.extra_info.update(ours_cpu_us=ours.cpu_us, peer_cpu_us=peer.cpu_us,
                                ours_events_per_s=ours.events_per_s,
                                ours_caller_us=ours.caller_us, peer_caller_us=peer.caller_us)
    print(f"\nwrite: CPU/event ours {ours.cpu_us:.2f} µs, segment {peer.cpu_us:.2f} µs; "
          f"{ours.events_per_s:,.0f}/s vs {peer.events_per_s:,.0f}/s; caller "
          f"{ours.caller_us:.2f} µs vs {peer.caller_us:.2f} µs")
