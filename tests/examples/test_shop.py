"""The demo shop: its simulation passes, its checks catch violations, its command serves it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from examples.shop.server import RunningShop, start
from examples.shop.simulate import check, drive, simulate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[RunningShop]:
    running = start(var_dir=tmp_path)
    yield running
    running.stop()


def test_the_simulation_passes_every_check(shop: RunningShop, tmp_path: Path) -> None:
    """Simulated visitors browse, consent, buy; every destination got what it should."""
    outcome = simulate(shop, 12, seed=3, var_dir=tmp_path, drill_visitors=200)
    assert outcome.ok, "\n".join(outcome.lines)
    text = "\n".join(outcome.lines)
    for name in ("warehouse", "orders", "analytics", "ads"):
        assert name in text
    assert "hero-banner variations shown" in text


def test_the_dashboard_shows_counts_per_destination_and_variation(shop: RunningShop) -> None:
    """After some traffic /dashboard.json (and its HTML page) show persona.stats() per
    destination, exposures per variation, and what the sink received."""
    drive(shop, 6, seed=2)
    assert shop.persona.flush(timeout=10.0)
    data = httpx.get(f"{shop.url}/dashboard.json").json()
    assert set(data["destinations"]) == {"warehouse", "orders", "analytics", "ads", "shop_webhook"}
    assert all("delivered" in s and "tracked" in s for s in data["destinations"].values())
    assert sum(data["exposures"]["hero-test"].values()) == 6
    assert set(data["exposures"]["hero-test"]) <= {"classic", "summer-sale", "new-arrivals"}
    assert data["collector_requests"] > 0
    html = httpx.get(f"{shop.url}/dashboard").text
    assert "persona.stats()" in html
    assert "hero-test" in html


def test_the_dashboard_shows_lifecycle_stages_and_an_attribution_line(
    shop: RunningShop,
) -> None:
    """Every simulated visitor is in a lifecycle stage (new, on a first visit), and the
    orders are credited to the channels the visits came from."""
    visitors = drive(shop, 8, seed=2)
    assert shop.persona.flush(timeout=10.0)
    data = httpx.get(f"{shop.url}/dashboard.json").json()
    assert data["lifecycle"]["new"] == len(visitors)
    report = data["attribution"]
    orders = sum(len(v.orders) for v in visitors)
    assert report["conversions"] == orders > 0
    assert sum(report["credit"]["last"].values()) == pytest.approx(report["value"])
    assert set(report["credit"]["last"]) <= {
        "newsletter / email / spring", "google / cpc", "blog.example / referral", "direct",
    }  # fmt: skip
    html = httpx.get(f"{shop.url}/dashboard").text
    assert "Lifecycle stage: new " in html
    assert f"Attribution of {orders} orders" in html


def test_the_checks_catch_a_consent_leak(shop: RunningShop, tmp_path: Path) -> None:
    """An event from a visitor who refused analytics, found in the analytics sink, fails the
    run (the checker is not vacuous)."""
    visitors = drive(shop, 8, seed=5)
    refused = next(v for v in visitors if not v.granted("analytics"))
    leaked = {"type": "track", "event": "Leak", "anonymousId": refused.anonymous_id}
    httpx.post(f"{shop.url}/_sink/analytics", content=msgspec.json.encode([leaked]))
    assert shop.persona.flush(timeout=10.0)
    outcome = check(shop, visitors, flushed=True, elapsed=0.0, var_dir=tmp_path)
    assert not outcome.ok
    assert any("analytics got no event without analytics" in f for f in outcome.failures)


def test_the_checks_catch_a_duplicate_exposure(shop: RunningShop, tmp_path: Path) -> None:
    """A second Experiment Viewed for the same visitor and experiment fails the run."""
    visitors = drive(shop, 8, seed=11)
    assert shop.persona.flush(timeout=10.0)
    exposures = [e for e in shop.sink.events("analytics") if e.get("event") == "Experiment Viewed"]
    assert exposures, "some consenting visitor saw the hero after consenting"
    httpx.post(f"{shop.url}/_sink/analytics", content=msgspec.json.encode([exposures[0]]))
    outcome = check(shop, visitors, flushed=True, elapsed=0.0, var_dir=tmp_path)
    assert any("exposures deduplicated" in f for f in outcome.failures)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
def test_the_demo_command_prints_the_url_and_serves_the_shop(tmp_path: Path) -> None:
    """scripts/demo starts the shop, prints its URL, serves pages and stops on Ctrl-C."""
    with subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--port", "0", "--var", str(tmp_path)],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "running at http://127.0.0.1:" in line, line
            url = line.split("running at ", 1)[1].strip()
            response = httpx.get(url)
            assert response.status_code == 200
            assert "Persona Outdoor" in response.text
            assert "persona_id=" in response.headers["set-cookie"]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=15)
    assert proc.returncode == 0


@pytest.mark.slow
def test_simulate_exits_zero_with_a_summary(tmp_path: Path) -> None:
    """scripts/demo --simulate N prints the summary and exits 0 when every check passes."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--simulate", "6", "--drill", "200",
         "--var", str(tmp_path)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
    assert "events per destination" in done.stdout
    assert (tmp_path / "orders.jsonl").exists()


def test_the_module_runs_with_python_dash_m() -> None:
    """``python -m examples.shop --help`` documents the options (the package is importable)."""
    done = subprocess.run(
        [sys.executable, "-m", "examples.shop", "--help"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 0
    assert "--simulate" in done.stdout
