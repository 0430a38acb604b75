"""Memory stays bounded under an outage, and every drop is counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from delivery_helpers import identity_holds

APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for RSS")
def test_million_events_against_a_dead_destination() -> None:
    """1,000,000 events tracked against a dead destination with the default caps: RSS grows
    by at most 64 MB and every event is accounted for (queued, in flight or dropped)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(APPS / "memory_child.py"), "1000000"],
                         check=True, capture_output=True, env=env, timeout=120)
    report = json.loads(out.stdout)
    s = report["stats"]
    print(f"rss_growth={report['rss_growth'] / 2**20:.1f} MiB "
          f"peak={report['peak_growth'] / 2**20:.1f} MiB "
          f"enqueue+build={report['seconds']:.2f}s dropped={s['dropped']}")
    assert report["peak_growth"] <= 64 * 2**20
    assert s["tracked"] == report["n"] == 1_000_001
    assert s["delivered"] == 0
    assert s["queued"] + s["in_flight"] <= 10_000 + 2 * 100
    assert s["dropped_total"] == s["tracked"] - s["queued"] - s["in_flight"] - s["dead_lettered"]
    assert set(s["dropped"]) == {"queue_full"}
    assert identity_holds(s)
