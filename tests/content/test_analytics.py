"""Content analytics from the JSONL files the tag layer writes: exposures, clicks and
conversions by dimension, and the uplift against the holdout with an interval."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import pytest

import persona_sdk as ps
from persona_sdk.cli import main
from persona_sdk.content import content_report


def _run_shop(tmp_path: Path, visitors: int) -> Path:
    """Visitors see a placement with a 20% holdout; treated visitors convert at 20%, held
    ones at 5%; half the treated click."""
    path = tmp_path / "events.jsonl"
    container = {
        "destinations": {"lake": {"type": "jsonl", "options": {"path": str(path)}}},
        "tags": [{"name": "all", "destination": "lake"}],
        "content": [{"id": "a", "priority": 2}, {"id": "b", "priority": 1,
                                                 "condition": {"country": "DE"}},
                    {"id": "base"}],
        "placements": {"hero": {"items": ["a", "b"], "fallback": "base", "holdout": 0.2}},
    }
    rng = random.Random(3)
    with ps.Persona(container) as persona:
        for i in range(visitors):
            country = "DE" if i % 2 else "FR"
            v = persona.visitor(anonymous_id=f"v{i}", attributes={"country": country})
            d = v.decide("hero")
            if not d.holdout and rng.random() < 0.5:
                v.click(d)
            if rng.random() < (0.05 if d.holdout else 0.20):
                v.track("Order Completed", properties={"revenue": 10})
        persona.track("Order Completed", anonymous_id="never-exposed")
        assert persona.flush(10)
    return path


def test_report_counts_and_uplift(tmp_path: Path) -> None:
    """Rows count exposures, clicks and conversions per placement and item; the uplift's
    interval holds the true difference (0.15) and excludes zero."""
    path = _run_shop(tmp_path, 3000)
    report = content_report(path, by=("placement", "item", "holdout"))
    rows = {(r["item"], r["holdout"]): r for r in report.rows}
    assert set(rows) == {("a", False), ("base", True)}  # "a" outranks "b" everywhere
    treated, held = rows[("a", False)], rows[("base", True)]
    assert treated["exposures"] + held["exposures"] == 3000
    assert 0.45 < treated["ctr"] < 0.55
    assert held["clicks"] == 0
    assert 0.17 < treated["conversion_rate"] < 0.23
    assert 0.02 < held["conversion_rate"] < 0.08
    (uplift,) = report.uplift
    assert uplift["treated_visitors"] == treated["exposures"]
    assert uplift["diff_low"] < 0.15 < uplift["diff_high"]
    assert uplift["diff_low"] > 0
    assert "uplift hero" in report.to_text()


def test_report_by_hour_and_unknown_dimension(tmp_path: Path) -> None:
    """Rows can be grouped by hour; an unknown dimension is a ValueError."""
    path = _run_shop(tmp_path, 50)
    report = content_report([str(path)], by=("hour",))
    assert sum(r["exposures"] for r in report.rows) == 50
    assert all(len(r["hour"]) == 13 for r in report.rows)
    with pytest.raises(ValueError, match="unknown dimension"):
        content_report(path, by=("colour",))


def test_conversions_count_once_per_visitor_and_only_after_exposure() -> None:
    """A visitor's conversions before the exposure, or after the first, do not count."""
    def ev(name: str, t: float, **props: object) -> dict[str, object]:
        return {"type": "track", "event": name, "anonymousId": "v", "timestamp": t,
                "properties": props}

    events = [
        ev("Order Completed", 1.0),
        ev("Promotion Viewed", 2.0, placement="p", promotion_id="x"),
        ev("Order Completed", 3.0),
        ev("Order Completed", 4.0),
    ]
    (row,) = content_report(events).rows
    assert (row["exposures"], row["conversions"]) == (1, 1)


def test_uplift_per_segment_and_country(tmp_path: Path) -> None:
    """A bandit placement with a VIP segment and a 30% holdout: the placement works for
    VIPs only (30% vs 5%), not for the others (10% vs 10%). The per-segment uplift says so
    with its intervals; per country, every visitor is counted once, held ones included
    (their exposures carry the country and segment too); the CLI prints both."""
    path = tmp_path / "events.jsonl"
    container = {
        "destinations": {"lake": {"type": "jsonl", "options": {"path": str(path)}}},
        "tags": [{"name": "all", "destination": "lake"}],
        "segments": {"vip": {"condition": {"tier": "vip"}}},
        "content": [{"id": "a"}, {"id": "b"}, {"id": "base"}],
        "placements": {"hero": {"strategy": "bandit", "items": ["a", "b"], "fallback": "base",
                                "holdout": 0.3, "bandit": {"segments": ["vip"]}}},
    }
    rng = random.Random(7)
    with ps.Persona(container) as persona:
        for i in range(4000):
            vip = i % 2 == 0
            v = persona.visitor(anonymous_id=f"v{i}", attributes={
                "tier": "vip" if vip else "basic", "country": rng.choice(["FR", "DE"])})
            d = v.decide("hero")
            rate = (0.05 if d.holdout else 0.30) if vip else 0.10
            if rng.random() < rate:
                v.track("Order Completed")
        assert persona.flush(10)
    report = content_report(path)
    (overall,) = report.uplift
    by_segment = {u["segment"]: u for u in report.uplift_by_segment}
    assert set(by_segment) == {"vip", "*"}
    vip, rest = by_segment["vip"], by_segment["*"]
    assert vip["diff_low"] > 0.15
    assert vip["diff_low"] < 0.25 < vip["diff_high"]
    assert rest["diff_low"] < 0 < rest["diff_high"]
    assert vip["diff_high"] - vip["diff_low"] > overall["diff_high"] - overall["diff_low"]
    by_country = {u["country"]: u for u in report.uplift_by_country}
    assert set(by_country) == {"FR", "DE"}
    for split in (by_segment, by_country):
        assert sum(u["treated_visitors"] + u["holdout_visitors"] for u in split.values()) == 4000
        assert sum(u["holdout_visitors"] for u in split.values()) == overall["holdout_visitors"]
    assert "uplift hero segment=vip" in report.to_text()

    for args in ([], ["--json"]):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["report", str(path), "--placements", *args]) == 0
        if args:
            doc = json.loads(buf.getvalue())
            assert {u["country"] for u in doc["uplift_by_country"]} == {"FR", "DE"}
        else:
            text = buf.getvalue()
            assert "uplift against the holdout" in text
            assert "segment=vip" in text
            assert "country=FR" in text
