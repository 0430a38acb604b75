"""Live flag definitions: ``Persona.from_growthbook(api_host=..., client_key=...)`` against a
loopback server speaking GrowthBook's SDK API (features endpoint with ETags, and server-sent
events), with faults: 5xx, bad JSON, stalls, dropped streams. Waits are on conditions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.growthbook_api import GrowthBookApi

import persona_sdk as ps
from persona_sdk.decisions._feed import FeedPolicy, SseParser
from persona_sdk.testing import CaptureDestination


def _payload(hero: str, **more: Any) -> dict[str, Any]:
    return {"features": {"hero": {"defaultValue": hero}, **more}}


class Changes:
    """Records ``on_features_change`` calls; ``wait(pred)`` waits on a condition."""

    def __init__(self) -> None:
        self.seen: list[frozenset[str]] = []
        self._cond = threading.Condition()

    def __call__(self, keys: frozenset[str]) -> None:
        with self._cond:
            self.seen.append(keys)
            self._cond.notify_all()

    def wait(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.seen) >= n, timeout)


def _wait(pred: Any, timeout: float = 10.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if pred():
            return True
        done.wait(0.01)
    return bool(pred())


@pytest.fixture
def api() -> Iterator[GrowthBookApi]:
    server = GrowthBookApi(_payload("v1"))
    yield server
    server.close()


@pytest.fixture
def stream_api() -> Iterator[GrowthBookApi]:
    server = GrowthBookApi(_payload("v1"), streaming=True)
    yield server
    server.close()


def _live(server: GrowthBookApi, **kwargs: Any) -> ps.Persona:
    kwargs.setdefault("poll_interval", 0.02)
    return ps.Persona.from_growthbook(api_host=server.url, client_key=server.client_key, **kwargs)


def test_fetches_then_polls_with_etags_and_swaps_changes(api: GrowthBookApi) -> None:
    """The first fetch makes the flags ready; later polls send If-None-Match (304s), and a
    changed payload swaps in and tells the listeners which keys changed."""
    with _live(api) as persona:
        assert persona.wait_until_ready(10)
        changes = Changes()
        persona.on_features_change(changes)
        assert persona.visitor(anonymous_id="a").feature("hero").value == "v1"
        assert _wait(lambda: api.not_modified >= 2)
        api.set_payload(_payload("v2", extra={"defaultValue": 1}))
        assert changes.wait(1)
        assert changes.seen[0] == {"hero", "extra"}
        assert persona.visitor(anonymous_id="a").feature("hero").value == "v2"
        stats = persona.stats()["flags"]
        assert stats["ready"] is True
        assert stats["applied"] == 2


def test_faults_keep_the_last_good_flags_and_recover(api: GrowthBookApi) -> None:
    """500s and a 200 that is not JSON keep the last good flags, are counted, and the feed
    picks up the next good payload."""
    with _live(api) as persona:
        assert persona.wait_until_ready(10)
        api.fail_next(3, 500)
        api.bad_json_next(1)
        api.set_payload(_payload("v3"))
        changes = Changes()
        persona.on_features_change(changes)
        assert changes.wait(1)
        assert persona.visitor(anonymous_id="a").feature("hero").value == "v3"
        stats = persona.stats()["flags"]
        assert stats["errors"] >= 4
        assert stats["last_error"]


def test_a_refused_payload_keeps_the_last_good_flags(api: GrowthBookApi) -> None:
    """A payload that does not compile (features not an object) is refused and counted."""
    with _live(api) as persona:
        assert persona.wait_until_ready(10)
        api.set_payload({"features": ["not", "an", "object"]})
        assert _wait(lambda: persona.stats()["flags"]["refused"] >= 1)
        assert persona.visitor(anonymous_id="a").feature("hero").value == "v1"


def test_cold_start_from_the_file_cache_while_the_api_stalls(
    api: GrowthBookApi, tmp_path: Path
) -> None:
    """The file cache written by one process serves the next one's cold start while the
    API hangs; the stalled fetch then completes and is applied."""
    cache = tmp_path / "flags" / "growthbook.json"
    with _live(api, cache_path=cache) as persona:
        assert persona.wait_until_ready(10)
        assert _wait(cache.exists)
    assert cache.stat().st_mode & 0o777 == 0o600
    api.set_payload(_payload("fresh"))
    api.stall_next(1)
    with _live(api, cache_path=cache) as persona:
        assert persona.wait_until_ready(0)  # ready from the cache, before any fetch answered
        assert persona.visitor(anonymous_id="a").feature("hero").value == "v1"
        assert persona.stats()["flags"]["cache_loads"] == 1
        changes = Changes()
        persona.on_features_change(changes)
        api.release()
        assert changes.wait(1)
        assert persona.visitor(anonymous_id="a").feature("hero").value == "fresh"


def test_not_ready_while_the_api_is_down(api: GrowthBookApi) -> None:
    """With no cache and the API failing, wait_until_ready times out (False) and the
    visitor still answers, from no flags."""
    api.fail_next(10_000, 503)
    with _live(api) as persona:
        assert not persona.wait_until_ready(0.2)
        result = persona.visitor(anonymous_id="a").feature("hero")
        assert result.source is ps.FeatureSource.UNKNOWN_FEATURE


async def test_aready_waits_without_blocking_the_loop(api: GrowthBookApi) -> None:
    """``aready`` resolves once the first fetch lands."""
    persona = _live(api)
    try:
        assert await persona.aready(10)
    finally:
        await persona.aclose()


def test_server_sent_events_push_payloads_and_ask_for_fetches(
    stream_api: GrowthBookApi,
) -> None:
    """With ``x-sse-support: enabled`` the feed follows ``/sub/{key}``: a ``features`` event
    carries a payload, ``features-updated`` triggers a fetch, bad JSON is counted, and a
    dropped stream is reopened."""
    with _live(stream_api) as persona:
        assert persona.wait_until_ready(10)
        changes = Changes()
        persona.on_features_change(changes)
        assert stream_api.wait_for_stream(1)
        stream_api.push("features", json.dumps(_payload("pushed")))
        assert changes.wait(1)
        assert persona.visitor(anonymous_id="a").feature("hero").value == "pushed"
        stream_api.push("features", "{not json")
        assert _wait(lambda: persona.stats()["flags"]["errors"] >= 1)
        stream_api.set_payload(_payload("fetched"))
        stream_api.push("features-updated")
        assert changes.wait(2)
        assert persona.visitor(anonymous_id="a").feature("hero").value == "fetched"
        stream_api.drop_streams()
        assert stream_api.wait_for_stream(2)
        stream_api.push("features", json.dumps(_payload("after-drop")))
        assert changes.wait(3)
        assert persona.visitor(anonymous_id="a").feature("hero").value == "after-drop"


def test_reload_flags_leaves_destinations_and_tags_alone() -> None:
    """``reload_flags`` swaps features only: tracking keeps flowing to the destinations."""
    capture = CaptureDestination()
    base = {"tags": [{"name": "all", "destination": "capture"}]}
    with ps.Persona.from_growthbook(
        _payload("v1"), base=base, destinations={"capture": capture}
    ) as persona:
        persona.reload_flags(json.dumps(_payload("v2")))
        assert persona.visitor(anonymous_id="a").feature("hero").value == "v2"
        persona.track("Ping", anonymous_id="a")
        assert persona.flush(5)
        assert [e["event"] for e in capture.events] == ["Ping"]
        with pytest.raises(ps.ConfigError):
            persona.reload_flags({"features": 7})
        assert persona.visitor(anonymous_id="a").feature("hero").value == "v2"


def test_reload_refuses_a_container_that_drops_every_destination(tmp_path: Path) -> None:
    """Reloading to a container with no destinations is refused unless asked explicitly."""
    container = {
        "destinations": {"lake": {"type": "jsonl", "options": {"path": str(tmp_path / "x")}}},
        "tags": [{"name": "all", "destination": "lake"}],
    }
    with ps.Persona(container) as persona:
        with pytest.raises(ps.ConfigError, match="would stop all tracking"):
            persona.reload({"features": {"hero": {"defaultValue": 1}}})
        assert persona.container.destinations
        persona.reload({"features": {"hero": {"defaultValue": 1}}}, allow_no_destinations=True)
        assert not persona.container.destinations


def test_from_growthbook_needs_a_payload_or_an_api() -> None:
    """Neither a payload nor an API, or half of the API's settings, is a ConfigError."""
    with pytest.raises(ps.ConfigError, match="pass a payload"):
        ps.Persona.from_growthbook()
    with pytest.raises(ps.ConfigError, match="go together"):
        ps.Persona.from_growthbook(api_host="http://127.0.0.1:9")
    with pytest.raises(ps.ConfigError, match="client_key"):
        ps.Persona.from_growthbook(api_host="http://127.0.0.1:9", client_key="a/b")


def test_policy_backs_off_with_jitter_and_sends_etags() -> None:
    """After failures the delay doubles from the poll interval up to the cap (equal
    jitter); a good answer resets it and its ETag is sent next time."""
    policy = FeedPolicy(poll_interval=1.0, max_backoff=8.0, rand=lambda: 1.0)
    assert policy.next_delay() == 1.0
    delays = []
    for _ in range(5):
        policy.failed()
        delays.append(policy.next_delay())
    assert delays == [2.0, 4.0, 8.0, 8.0, 8.0]
    low = FeedPolicy(poll_interval=1.0, max_backoff=8.0, rand=lambda: 0.0)
    low.failed()
    assert low.next_delay() == 1.0  # never below half the ceiling
    assert policy.answer(200, '"e1"', b'{"features": {}}') == {"features": {}}
    assert policy.next_delay() == 1.0
    assert policy.headers()["If-None-Match"] == '"e1"'
    assert policy.answer(304, None, b"") is None
    with pytest.raises(ValueError, match="HTTP 502"):
        policy.answer(502, None, b"")
    with pytest.raises(ValueError, match="not a JSON object"):
        policy.answer(200, None, b"[1]")


def test_sse_parser_follows_the_event_stream_rules() -> None:
    """Comments are skipped, multi-line data is joined with newlines, a blank line ends an
    event, an event without data still counts, and oversized data is refused."""
    parser = SseParser(max_bytes=16)
    lines = [": hi", "event: features", "data: {", "data: }", "", "event: features-updated", ""]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert events == [("features", "{\n}"), ("features-updated", "")]
    with pytest.raises(ValueError, match="larger than"):
        parser.feed("data: " + "x" * 17)
