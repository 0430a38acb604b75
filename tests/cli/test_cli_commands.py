"""The ``persona`` command, run for real in a subprocess (``python -m persona_sdk.cli``),
against real files, a real SQLite spool, loopback sinks and a real collector."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from servers.sink import Reply, Sink

import persona_sdk as ps


def run_persona(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``persona`` command in a subprocess (text output)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "persona_sdk.cli", *args], capture_output=True, text=True,
        timeout=timeout, env=env, check=False,
    )


def persona(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``persona ARGS`` in this process (the same entry point as the command, with
    stdout and stderr captured): subprocesses cost seconds each on a loaded machine."""
    from persona_sdk.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, stdout.getvalue(), stderr.getvalue())


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


FEATURES = {
    "banner": {"defaultValue": "plain", "rules": [{"condition": {"country": "FR"},
                                                   "force": "bonjour"}]},
    "cta": {"defaultValue": "blue", "rules": [{"key": "cta-test", "variations": ["blue", "green"],
                                               "weights": [0.5, 0.5], "coverage": 1.0}]},
}


def test_help_lists_every_command_with_its_purpose() -> None:
    """``persona --help`` names every command with a one-line purpose; --version works."""
    done = run_persona("--help")
    assert done.returncode == 0
    for command in ("validate", "version", "eval", "explain", "send", "import", "tail",
                    "serve", "report", "spool"):
        assert f" {command} " in done.stdout, command
    assert run_persona("--version").stdout.strip() == persona("version").stdout.strip()
    assert json.loads(persona("version", "--json").stdout)["version"]


def test_validate_reports_ok_and_every_problem(tmp_path: Path) -> None:
    """A good container prints ok with counts; a bad one exits 1 naming each path; --json
    gives the same as a document."""
    good = _write(tmp_path / "good.json", {"features": FEATURES})
    done = persona("validate", str(good))
    assert done.returncode == 0
    assert "ok (0 destinations, 0 tags, 2 features, 0 segments)" in done.stdout
    bad = _write(tmp_path / "bad.json", {"tags": [{"name": "t", "destination": "nowhere"},
                                                  {"name": "u", "destination": "elsewhere"}]})
    done = persona("validate", str(bad))
    assert done.returncode == 1
    assert "tags[0]" in done.stderr
    doc = json.loads(persona("validate", str(bad), "--json").stdout)
    assert doc["ok"] is False
    assert len(doc["errors"]) >= 2


def test_validate_env_file_and_placeholders(tmp_path: Path) -> None:
    """``${env:...}`` secrets come from --env-file; with --placeholders a missing one is
    filled with <NAME> so a container can be checked without its secrets."""
    doc = {"destinations": {"sink": {"type": "http", "options": {
        "url": "http://127.0.0.1:9/v1/batch", "write_key": "${env:PERSONA_TEST_KEY}"}}}}
    path = _write(tmp_path / "c.json", doc)
    missing = persona("validate", str(path))
    assert missing.returncode == 1
    assert "PERSONA_TEST_KEY" in missing.stderr
    env_file = tmp_path / ".env"
    env_file.write_text("# secrets\nPERSONA_TEST_KEY=wk_123\n", encoding="utf-8")
    assert persona("validate", str(path), "--env-file", str(env_file)).returncode == 0
    assert persona("validate", str(path), "--placeholders").returncode == 0


def test_validate_growthbook_and_unleash_payloads(tmp_path: Path) -> None:
    """GrowthBook payloads are read leniently with their warnings printed; Unleash payloads
    are compiled and their never-matching parts listed."""
    gb = _write(tmp_path / "gb.json", {"features": {"f": {"defaultValue": 1, "rules": [
        {"condition": {"x": {"$bogus": 1}}, "force": 2}]}}, "savedGroups": {}})
    done = persona("validate", str(gb))
    assert done.returncode == 0
    assert "ok (0 destinations, 0 tags, 1 features, 0 segments, 1 warnings)" in done.stdout
    assert "features.f.rules[0].condition" in done.stderr
    un = _write(tmp_path / "un.json", {"version": 2, "features": [
        {"name": "t", "enabled": True, "strategies": [{"name": "nope"}]}]})
    doc = json.loads(persona("validate", str(un), "--json").stdout)
    assert doc["kind"] == "unleash"
    assert doc["toggles"] == 1
    assert any("unknown strategy" in w for w in doc["warnings"])


def test_eval_and_explain_show_decisions_with_reasons(tmp_path: Path) -> None:
    """Attributes in, every decision out; explain gives one feature's reasons."""
    path = _write(tmp_path / "c.json", {"features": FEATURES})
    doc = json.loads(persona("eval", str(path), "-a", "country=FR", "--json").stdout)
    assert doc["features"]["banner"]["value"] == "bonjour"
    assert doc["features"]["banner"]["source"] == "force"
    assert doc["features"]["cta"]["experiment"] == "cta-test"
    other = json.loads(persona("eval", str(path), "-a", "country=DE", "--json").stdout)
    assert other["features"]["banner"]["value"] == "plain"
    explained = json.loads(persona("explain", str(path), "banner", "-a", "country=FR",
                                   "--json").stdout)
    assert explained["reasons"] == ["targeting_match"]
    table = persona("eval", str(path), "-a", "country=FR")
    assert table.returncode == 0
    assert "bonjour" in table.stdout


def test_send_shows_each_destination_answer(tmp_path: Path, sink: Sink) -> None:
    """A test event reaches a real loopback destination; a destination answering 400 makes
    the command exit 1 with its error."""
    doc = {"destinations": {"ok": {"type": "http", "options": {"url": sink.url + "/v1/batch",
                                                               "gzip": False}}},
           "tags": [{"name": "all", "destination": "ok"}]}
    path = _write(tmp_path / "c.json", doc)
    done = persona("send", str(path), "--event", "Hello", "-p", "n=3", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["destinations"]["ok"]["delivered"] == 1
    (event,) = sink.events()
    assert event["event"] == "Hello"
    assert event["properties"] == {"n": 3}
    assert event["messageId"] == result["message_id"]
    sink.set_default(Reply(status=400, body=b'{"error":"bad"}'))
    failed = persona("send", str(path), "--json")
    assert failed.returncode == 1
    row = json.loads(failed.stdout)["destinations"]["ok"]
    assert row["delivered"] == 0
    assert row["last_error"]


def test_spool_stats_dead_letters_and_replay(tmp_path: Path, sink: Sink) -> None:
    """An event dead-lettered by a 400 shows in ``spool stats`` and ``dead-letters``;
    ``replay`` moves it back, and the next Persona on the spool delivers it."""
    spool = tmp_path / "spool.sqlite3"
    doc = {"delivery": {"spool": "sync", "spool_path": str(spool)},
           "destinations": {"ok": {"type": "http", "options": {"url": sink.url + "/v1/batch",
                                                               "gzip": False}}},
           "tags": [{"name": "all", "destination": "ok"}]}
    sink.set_default(Reply(status=400))
    with ps.Persona(doc) as p:
        mid = p.track("Lost", anonymous_id="a")
        p.flush(5)
    stats = json.loads(persona("spool", "stats", str(spool), "--json").stdout)
    assert stats["destinations"]["ok"]["dead_lettered"] == 1
    dead = json.loads(persona("spool", "dead-letters", str(spool), "--json").stdout)
    assert [d["message_id"] for d in dead] == [mid]
    assert dead[0]["payload"]["event"] == "Lost"
    assert json.loads(persona("spool", "replay", str(spool), "--json").stdout) == {"replayed": 1}
    sink.set_default(Reply())
    with ps.Persona(doc) as p:
        assert p.flush(10)
    assert mid in sink.message_ids()
    after = json.loads(persona("spool", "stats", str(spool), "--json").stdout)
    assert after["destinations"].get("ok", {}).get("dead_lettered", 0) == 0
    assert persona("spool", "stats", str(tmp_path / "c.json")).returncode == 2  # no such file


def test_import_csv_stitches_by_hashed_email_and_reports_rejects(tmp_path: Path) -> None:
    """Offline rows go through ingest to the destinations; an email becomes a hashed user
    id; a bad row is rejected with its reason and makes the command exit 1."""
    out_file = tmp_path / "events.jsonl"
    doc = {"destinations": {"lake": {"type": "jsonl", "options": {"path": str(out_file)}}},
           "tags": [{"name": "all", "destination": "lake"}]}
    path = _write(tmp_path / "c.json", doc)
    rows = tmp_path / "orders.csv"
    rows.write_text(
        "event,email,userId,properties.revenue,timestamp\n"
        "Order Completed,Ada@Example.com ,,42.5,2026-01-02T10:00:00Z\n"
        "Order Completed,,u-9,10,2026-01-03T10:00:00Z\n"
        ",,u-9,1,2026-01-03T10:00:00Z\n",
        encoding="utf-8",
    )
    done = persona("import", str(path), str(rows), "--json")
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["rows"] == 3
    assert summary["accepted"] == 2
    assert sum(summary["rejected"].values()) == 1
    events = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [e["properties"]["revenue"] for e in events] == [42.5, 10]
    assert events[0]["userId"].startswith("email:")
    assert len(events[0]["userId"]) == len("email:") + 64
    assert events[1]["userId"] == "u-9"


def _exposures(path: Path, counts: dict[str, tuple[int, int]]) -> None:
    lines = []
    n = 0
    for variation, (visitors, converted) in counts.items():
        for i in range(visitors):
            n += 1
            who = f"v{n}"
            lines.append({"type": "track", "event": "Experiment Viewed", "anonymousId": who,
                          "timestamp": "2026-01-01T10:00:00Z",
                          "properties": {"experiment_id": "cta-test", "variation_id": variation}})
            if i < converted:
                lines.append({"type": "track", "event": "Order Completed", "anonymousId": who,
                              "timestamp": "2026-01-01T11:00:00Z"})
    # a conversion before the exposure does not count
    lines.append({"type": "track", "event": "Order Completed", "anonymousId": "v1",
                  "timestamp": "2025-12-31T11:00:00Z"})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")


def test_report_counts_rates_uplift_srm_and_writes_charts(tmp_path: Path) -> None:
    """Per variation: visitors, conversions and rate; the treatment's uplift with an interval;
    a balanced split passes the SRM check, a skewed one fails it; PNG and HTML charts."""
    events = tmp_path / "events.jsonl"
    _exposures(events, {"0": (1000, 100), "1": (1000, 150)})
    png = tmp_path / "chart.png"
    done = persona("report", str(events), "--experiment", "cta-test",
                   "--conversion", "Order Completed", "--chart", str(png), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    control, treatment = doc["variations"]["0"], doc["variations"]["1"]
    assert (control["visitors"], control["conversions"]) == (1000, 100)
    assert (treatment["visitors"], treatment["conversions"]) == (1000, 150)
    assert treatment["uplift"] == pytest.approx(0.5)
    low, high = treatment["uplift_interval"]
    assert 0 < low < 0.5 < high
    assert treatment["p_value"] < 0.01
    assert doc["srm"]["mismatch"] is False
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    skewed = tmp_path / "skewed.jsonl"
    _exposures(skewed, {"0": (1000, 100), "1": (800, 80)})
    html = tmp_path / "chart.html"
    doc = json.loads(persona("report", str(skewed), "--experiment", "cta-test",
                             "--conversion", "Order Completed", "--chart", str(html),
                             "--json").stdout)
    assert doc["srm"]["mismatch"] is True
    assert "<svg" in html.read_text()
    table = persona("report", str(skewed), "--experiment", "cta-test",
                    "--conversion", "Order Completed")
    assert "MISMATCH" in table.stdout


def test_tail_prints_and_follows_events(tmp_path: Path) -> None:
    """``tail --no-follow`` prints what is there (filtered by event); following, it prints
    lines appended later and stops after --count."""
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"type": "track", "event": "A", "anonymousId": "x"}) + "\n"
                    + json.dumps({"type": "page", "name": "Home", "anonymousId": "x"}) + "\n")
    done = persona("tail", str(path), "--no-follow", "--json", "--event", "A")
    assert [json.loads(line)["event"] for line in done.stdout.splitlines()] == ["A"]
    env = {**os.environ, "COLUMNS": "200"}
    with subprocess.Popen(
        [sys.executable, "-m", "persona_sdk.cli", "tail", str(path), "--json", "-n", "3",
         "--poll", "0.05"], stdout=subprocess.PIPE, text=True, env=env,
    ) as proc:
        assert proc.stdout is not None
        first = [proc.stdout.readline(), proc.stdout.readline()]
        assert [json.loads(line)["type"] for line in first] == ["track", "page"]
        with path.open("a") as fh:
            fh.write(json.dumps({"type": "track", "event": "Later", "anonymousId": "y"}) + "\n")
        assert json.loads(proc.stdout.readline())["event"] == "Later"
        assert proc.wait(timeout=30) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_collector(tmp_path: Path) -> None:
    """``persona serve`` answers /v1/track and delivers to the container's destination."""
    out_file = tmp_path / "events.jsonl"
    doc = {"destinations": {"lake": {"type": "jsonl", "options": {"path": str(out_file)}}},
           "tags": [{"name": "all", "destination": "lake"}]}
    path = _write(tmp_path / "c.json", doc)
    port = _free_port()
    with subprocess.Popen([sys.executable, "-m", "persona_sdk.cli", "serve", str(path),
                           "--port", str(port)], stderr=subprocess.PIPE, text=True) as proc:
        _post_when_up(proc, port)
    lines = out_file.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["Served"]


def _post_when_up(proc: subprocess.Popen[str], port: int) -> None:
    try:
        stderr = proc.stderr
        assert stderr is not None
        ready = threading.Event()
        threading.Thread(target=lambda: (stderr.readline(), ready.set()), daemon=True).start()
        assert ready.wait(60)
        body = json.dumps({"type": "track", "event": "Served", "anonymousId": "s-1"})
        status = 0
        for _ in range(200):  # the port opens just after the banner
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                    conn.sendall((f"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                  f"application/json\r\nContent-Length: {len(body)}\r\n"
                                  f"Connection: close\r\n\r\n{body}").encode())
                    status = int(conn.recv(100).split()[1])
                break
            except OSError:
                time.sleep(0.05)
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_report_placements_counts_exposures_clicks_and_ctr(tmp_path: Path) -> None:
    """``report --placements`` reads Promotion Viewed / Clicked events: exposures, clicks,
    CTR and conversions per placement and item, with a chart."""
    lines = []
    for i in range(10):
        item = "hero-a" if i < 6 else "hero-b"
        who = f"p{i}"
        props = {"placement": "home-hero", "promotion_id": item, "creative": item}
        lines.append({"type": "track", "event": "Promotion Viewed", "anonymousId": who,
                      "timestamp": "2026-01-01T10:00:00Z", "properties": props})
        if i % 2 == 0:
            lines.append({"type": "track", "event": "Promotion Clicked", "anonymousId": who,
                          "timestamp": "2026-01-01T10:01:00Z", "properties": props})
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    chart = tmp_path / "content.svg"
    done = persona("report", str(events), "--placements", "--chart", str(chart), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    rows = {row["item"]: row for row in doc["rows"]}
    assert (rows["hero-a"]["exposures"], rows["hero-a"]["clicks"]) == (6, 3)
    assert (rows["hero-b"]["exposures"], rows["hero-b"]["clicks"]) == (4, 2)
    assert rows["hero-a"]["ctr"] == pytest.approx(0.5)
    assert "<svg" in chart.read_text()
    assert persona("report", str(events)).returncode == 2  # neither --experiment nor --placements


def test_tail_in_process_reads_filters_and_stops(tmp_path: Path) -> None:
    """``tail`` prints each complete line once (human and JSON forms), skips bad lines and a
    half-written last line, filters by event and stops after --count."""
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps({"type": "track", "event": "A", "anonymousId": "x", "properties": {"n": 1}})
        + "\nnot json\n"
        + json.dumps({"type": "identify", "userId": "u", "traits": {"plan": "pro"}}) + "\n"
        + '{"type": "track", "event": "half"',  # no newline yet: not read
        encoding="utf-8",
    )
    done = persona("tail", str(path), "--no-follow")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert "track" in lines[0]
    assert '{"n": 1}' in lines[0]
    assert "identify" in lines[1]
    assert "plan" in lines[1]
    only = persona("tail", str(path), "--no-follow", "--json", "--event", "A")
    assert [json.loads(line)["event"] for line in only.stdout.splitlines()] == ["A"]
    first = persona("tail", str(path), "--json", "-n", "1")  # follows, but stops at 1
    assert len(first.stdout.splitlines()) == 1
    missing = persona("tail", str(tmp_path / "none.jsonl"), "--no-follow")
    assert (missing.returncode, missing.stdout) == (0, "")


def test_cli_errors_are_reported_not_raised(tmp_path: Path) -> None:
    """Bad inputs give exit 1 or 2 with a message, never a traceback: a file that is not a
    spool, an unknown --kind, a bad --attribute, a bad --weights, an unreadable export."""
    not_spool = tmp_path / "x.sqlite3"
    import sqlite3

    sqlite3.connect(not_spool).close()
    done = persona("spool", "stats", str(not_spool), "--json")
    assert done.returncode == 1
    assert "not a persona-sdk spool" in json.loads(done.stdout)["error"]
    container = _write(tmp_path / "c.json", {"features": FEATURES})
    assert persona("validate", str(container), "--kind", "weird").returncode == 1
    bad_attr = persona("eval", str(container), "-a", "novalue", "--json")
    assert bad_attr.returncode == 1
    assert "expected key=value" in json.loads(bad_attr.stdout)["error"]
    events = tmp_path / "e.jsonl"
    _exposures(events, {"0": (10, 1), "1": (10, 2)})
    weights = persona("report", str(events), "--experiment", "cta-test", "--conversion",
                      "Order Completed", "--weights", "1,2,3", "--json")
    assert weights.returncode == 1
    assert "3 weights for 2 variations" in json.loads(weights.stdout)["error"]
    unreadable = persona("report", str(tmp_path / "missing.jsonl"), "--experiment", "x",
                         "--conversion", "y")
    assert unreadable.returncode == 1
    assert "Traceback" not in unreadable.stderr


def test_explain_and_eval_tables_and_an_unknown_feature(tmp_path: Path) -> None:
    """``explain`` prints the decision and its reasons; ``eval --feature`` of a key that is
    not in the container reports it as unknown."""
    container = _write(tmp_path / "c.json", {"features": FEATURES})
    done = persona("explain", str(container), "cta", "--user-id", "u-1")
    assert done.returncode == 0
    assert "experiment: cta-test" in done.stdout
    assert "reasons:" in done.stdout
    unknown = json.loads(persona("eval", str(container), "-f", "nope", "--json").stdout)
    assert unknown["features"]["nope"]["source"] == "unknownFeature"


def test_report_attribution_reads_the_event_files(tmp_path: Path) -> None:
    """``report --attribution`` replays the events a ``jsonl`` destination wrote: touchpoints
    before a login count toward the conversion after it, as the profile's ``attribution``
    trait counts them; a conversion without a touchpoint is ``direct``; a table or JSON."""
    events = tmp_path / "events.jsonl"
    shop = "https://shop.example/"
    container = {
        "destinations": {"lake": {"type": "jsonl", "options": {"path": str(events)}}},
        "tags": [{"name": "all", "destination": "lake"}],
        "computed_traits": {"attribution": {"kind": "attribution",
                                            "conversion": "Order Completed"}},
    }
    with ps.Persona(container) as p:
        p.page(anonymous_id="a-1", timestamp=1_000.0, context={"page": {
            "url": shop + "?utm_source=google&utm_medium=cpc"}})
        p.identify(user_id="u-1", anonymous_id="a-1", timestamp=1_010.0)
        p.page(user_id="u-1", timestamp=1_020.0, context={"page": {
            "url": shop + "?utm_source=newsletter&utm_medium=email"}})
        p.track("Order Completed", user_id="u-1", timestamp=1_030.0,
                properties={"revenue": 100.0})
        p.track("Order Completed", anonymous_id="a-2", timestamp=1_040.0,
                properties={"revenue": 20.0})
        p.flush()
        in_process = p.attribution_report()
    done = persona("report", str(events), "--attribution", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["conversions"], doc["value"], doc["people"], doc["people_converted"]) == (
        2, 120.0, 2, 2)
    assert doc["credit"]["first"] == {"google / cpc": 100.0, "direct": 20.0}
    assert doc["credit"]["last"] == {"newsletter / email": 100.0, "direct": 20.0}
    assert doc["credit"]["linear"] == {"google / cpc": 50.0, "newsletter / email": 50.0,
                                       "direct": 20.0}
    assert doc["credit"] == in_process["credit"]
    table = persona("report", str(events), "--attribution")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "google / cpc" in line)
    cells = [c for c in row.split() if c[:1].isdigit()]
    assert cells == ["100.00", "0.00", "50.00", "50.00"]  # first, last, linear, position
    assert "2 conversions worth 120.00 from 2 of 2 people" in table.stdout
    missing = persona("report", str(tmp_path / "none.jsonl"), "--attribution", "--json")
    assert missing.returncode == 1
