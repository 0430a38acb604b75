"""The demo's personalization drill: the bandit finds the best hero creative, the promo
cap holds, every abandoned cart fires exactly one webhook; the dashboard charts the bandit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from examples.shop.personalize import drill
from examples.shop.server import RunningShop, start


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[RunningShop]:
    running = start(var_dir=tmp_path)
    yield running
    running.stop()


@pytest.mark.slow
def test_the_drill_passes_at_5000_visitors(shop: RunningShop, tmp_path: Path) -> None:
    """After 5,000 simulated visitors the best creative gets >= 70% of the hero's traffic,
    no visitor saw the promo over its cap, and every abandoned cart fired one signed webhook
    to the shop's sink; the dashboard shows the bandit's share per creative."""
    lines, failures = drill(var_dir=tmp_path, sink=shop.sink, sink_url=f"{shop.url}/_sink",
                            visitors=5000, seed=11)
    text = "\n".join(lines)
    assert failures == [], text
    assert "[ok] the best hero creative got >= 70%" in text
    history = json.loads((tmp_path / "bandit.json").read_text())
    assert history[-1]["visitors"] == 5000
    assert max(history[-1]["share"].values()) >= 0.7
    page = httpx.get(f"{shop.url}/dashboard", timeout=10).text
    assert "Home hero bandit" in page
    assert "<polyline" in page


def test_the_drill_catches_a_broken_cap(
    shop: RunningShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap check fails when the promo is shown more often than its cap."""
    from examples.shop import personalize

    monkeypatch.setattr(personalize, "_CAP", 1)
    _, failures = drill(var_dir=tmp_path, sink=shop.sink, sink_url=f"{shop.url}/_sink",
                        visitors=100, seed=3)
    assert failures == ["no visitor saw the promo over its cap"]
