"""Content sources: JSON and CSV feeds over HTTP (a real loopback server) and from files.

Polled with ETag / If-None-Match, the last good items kept on any failure (counted), the
catalog swapped whole.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from servers.sink import Reply, Request, Sink

import persona_sdk as ps
from persona_sdk.plugins import ContentSource, FeedResult

PLACEMENT = {"promo": {"strategy": "first_match", "select": {"type": "promo"}}}


class Feed:
    """A feed server on top of a Sink: serves ``body`` with an ETag, 304 on a match."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.body = b"[]"
        self.etag = '"v1"'
        self.override: Reply | None = None
        sink.responder = self._respond

    def _respond(self, request: Request) -> Reply | None:
        if self.override is not None:
            return self.override
        if request.headers.get("if-none-match") == self.etag:
            return Reply(status=304, body=b"")
        return Reply(status=200, body=self.body, headers={"ETag": self.etag})

    def publish(self, items: list[dict[str, Any]], etag: str) -> None:
        self.body = json.dumps(items).encode()
        self.etag = etag


@pytest.fixture
def feed(sink: Sink) -> Feed:
    return Feed(sink)


def _promo(item_id: str, priority: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "type": "promo", "priority": priority, "payload": {"t": item_id},
            **extra}


def _decide(persona: ps.Persona, visitor: str = "v-1") -> list[str]:
    return persona.visitor(anonymous_id=visitor).decide("promo").ids()


def test_http_json_feed_loads_then_polls_with_etag(
    feed: Feed, make_persona: Callable[..., Any]
) -> None:
    """A JSON feed's items join the catalog; the next poll sends If-None-Match and a 304
    changes nothing; a new ETag swaps the catalog."""
    feed.publish([_promo("p1", 1), _promo("p2", 2)], '"v1"')
    persona, _ = make_persona(
        {"placements": PLACEMENT,
         "content_sources": {"cms": {"kind": "http", "url": f"{feed.sink.url}/promos.json"}}}
    )
    assert persona.refresh_content() == {"cms": "updated"}
    assert _decide(persona, "v-2") == ["p2"]
    assert persona.refresh_content() == {"cms": "not_modified"}
    assert feed.sink.requests[-1].headers["if-none-match"] == '"v1"'
    feed.publish([_promo("p1", 1), _promo("p3", 9)], '"v2"')
    assert persona.refresh_content() == {"cms": "updated"}
    assert _decide(persona, "v-3") == ["p3"]
    stats = persona.stats()["content"]
    assert stats["sources"]["cms"] | {"last_error": ""} == {
        "polls": 3, "updates": 2, "not_modified": 1, "failures": 0, "refused": 0,
        "items": 2, "failing": False, "last_error": "",
    }
    assert stats["catalog"]["version"] == 2


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=200, body=b"<html>oops</html>"), "not valid JSON"),
        (Reply(status=200, body=b'{"items": 3}'), "expected an array"),
        (Reply(status=503), "HTTP 503"),
        (Reply(status=200, body=b"[]", delay=2.0), "Timeout"),
        (Reply(reset=True), "Error"),
    ],
)
def test_a_failing_feed_keeps_the_last_good_catalog(
    feed: Feed, make_persona: Callable[..., Any], reply: Reply, reason: str
) -> None:
    """Garbage, an error status, a timeout or a reset keeps the last good items, counted."""
    feed.publish([_promo("p1")], '"v1"')
    persona, _ = make_persona(
        {"placements": PLACEMENT,
         "content_sources": {"cms": {"url": f"{feed.sink.url}/f.json", "timeout": 0.3}}}
    )
    assert persona.refresh_content() == {"cms": "updated"}
    feed.override = reply
    outcome = persona.refresh_content()["cms"]
    assert outcome.startswith("failed: ")
    assert reason in outcome
    assert _decide(persona, "v-9") == ["p1"]
    sources = persona.stats()["content"]["sources"]["cms"]
    assert sources["failures"] == 1
    assert sources["failing"] is True
    assert sources["items"] == 1
    feed.override = None  # recovery: the next poll clears the failing state
    feed.publish([_promo("p2")], '"v2"')
    assert persona.refresh_content() == {"cms": "updated"}
    assert persona.stats()["content"]["sources"]["cms"]["failing"] is False


def test_a_feed_item_with_a_bad_condition_is_refused_the_rest_load(
    feed: Feed, make_persona: Callable[..., Any]
) -> None:
    """A bad feed item is refused (counted); the feed's other items load."""
    feed.publish(
        [_promo("good", 1), _promo("bad", 5, condition={"country": {"$nope": 1}})], '"v1"'
    )
    persona, _ = make_persona(
        {"placements": PLACEMENT, "content_sources": {"cms": {"url": f"{feed.sink.url}/f"}}}
    )
    assert persona.refresh_content() == {"cms": "updated"}
    assert _decide(persona) == ["good"]
    assert persona.stats()["content"]["sources"]["cms"]["refused"] == 1


def test_a_feed_cannot_replace_a_container_item(
    feed: Feed, make_persona: Callable[..., Any]
) -> None:
    """An id already defined by the container keeps the container's item."""
    feed.publish([_promo("p1", 1, payload={"t": "feed"})], '"v1"')
    persona, _ = make_persona(
        {"content": [_promo("p1", 1)], "placements": PLACEMENT,
         "content_sources": {"cms": {"url": f"{feed.sink.url}/f"}}}
    )
    persona.refresh_content()
    assert persona.visitor(anonymous_id="v").decide("promo").payload == {"t": "p1"}


def test_csv_file_feed_and_partial_csv(tmp_path: Path, make_persona: Callable[..., Any]) -> None:
    """A CSV file feed builds items (tags split on |, payload.* columns, JSON conditions);
    a partial CSV keeps the last good items; an unchanged file is not re-read."""
    path = tmp_path / "promos.csv"
    path.write_text(
        "id,type,priority,tags,condition,payload.title\n"
        'p1,promo,1,a|b,,One\n'
        'p2,promo,5,b,"{""country"": ""FR""}",Two\n'
    )
    persona, _ = make_persona(
        {"placements": PLACEMENT,
         "content_sources": {"files": {"kind": "file", "path": str(path)}}}
    )
    assert persona.refresh_content() == {"files": "updated"}
    fr = persona.visitor(anonymous_id="v", attributes={"country": "FR"}).decide("promo")
    assert fr.ids() == ["p2"]
    assert fr.payload == {"title": "Two"}
    assert persona.visitor(anonymous_id="w").decide("promo").ids() == ["p1"]
    assert persona.refresh_content() == {"files": "not_modified"}
    path.write_text("id,type,priority\np3,promo,9\np4,pro")  # cut short
    outcome = persona.refresh_content()["files"]
    assert outcome.startswith("failed: partial CSV")
    assert persona.visitor(anonymous_id="x").decide("promo").ids() == ["p1"]
    path.write_text("id,type,priority\np3,promo,9\np4\n")  # a short row
    assert "line 3 has 1 fields" in persona.refresh_content()["files"]


def test_csv_over_http(feed: Feed, make_persona: Callable[..., Any]) -> None:
    """format = "csv" reads a CSV body over HTTP."""
    feed.body = b"id,type\nc1,promo\n"
    persona, _ = make_persona(
        {"placements": PLACEMENT,
         "content_sources": {"pim": {"url": f"{feed.sink.url}/export", "format": "csv"}}}
    )
    assert persona.refresh_content() == {"pim": "updated"}
    assert _decide(persona) == ["c1"]


def test_the_poller_thread_polls_on_first_use(
    feed: Feed, make_persona: Callable[..., Any]
) -> None:
    """The first decide starts the poller, which loads the feed in the background; close
    stops it."""
    feed.publish([_promo("p1")], '"v1"')
    persona, _ = make_persona(
        {"placements": PLACEMENT,
         "content_sources": {"cms": {"url": f"{feed.sink.url}/f", "interval": 0.05}}}
    )
    assert not any(t.name == "persona-content-feeds" for t in threading.enumerate())
    persona.visitor(anonymous_id="v").decide("promo")
    assert feed.sink.wait_for(lambda s: len(s.requests) >= 3, timeout=10)
    assert _decide(persona, "v-2") == ["p1"]
    persona.close()
    assert not any(t.name == "persona-content-feeds" for t in threading.enumerate())


def test_a_plugin_content_source(make_persona: Callable[..., Any]) -> None:
    """A ContentSource passed as a factory by kind name feeds the catalog; its exceptions
    keep the last good items."""

    class Static:
        interval = 60.0

        def __init__(self, *, name: str, options: dict[str, Any]) -> None:
            self.name = name
            self.items = options["items"]
            self.fail = False

        def fetch(self, etag: str | None) -> FeedResult:
            if self.fail:
                raise RuntimeError("CMS down")
            return FeedResult(items=self.items, etag="x")

        def close(self) -> None:
            pass

    made: list[Static] = []

    def factory(*, name: str, options: dict[str, Any]) -> Static:
        made.append(Static(name=name, options=options))
        return made[-1]

    persona, _ = make_persona(
        {"placements": PLACEMENT,
         "content_sources": {"mine": {"kind": "static", "options": {"items": [_promo("s1")]}}}},
        content_sources={"static": factory},
    )
    assert isinstance(made[0], ContentSource)
    assert persona.refresh_content() == {"mine": "updated"}
    made[0].fail = True
    assert persona.refresh_content() == {"mine": "failed: CMS down"}
    assert _decide(persona) == ["s1"]


def test_bad_source_config_names_its_path() -> None:
    """A source without a URL, or of an unknown kind, is a ConfigError with its path."""
    with pytest.raises(ps.ConfigError) as info:
        ps.Persona(
            {"placements": PLACEMENT,
             "content_sources": {"a": {"kind": "http"}, "b": {"kind": "nope"},
                                 "c": {"kind": "file", "path": "x", "format": "xml"}}}
        )
    errors = info.value.errors
    assert "content_sources.a.url: expected an http:// or https:// URL" in errors
    assert any(e.startswith("content_sources.b.kind: no plugin 'nope'") for e in errors)
    assert 'content_sources.c.format: expected "json" or "csv"' in errors


def test_a_file_source_path_is_relative_to_the_container_file(tmp_path: Path) -> None:
    """A relative content source path in a container file resolves against its folder."""
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "promos.json").write_text(json.dumps([_promo("f1")]))
    (tmp_path / "persona.toml").write_text(
        '[placements.promo]\nstrategy = "first_match"\nselect = { type = "promo" }\n'
        '[content_sources.local]\nkind = "file"\npath = "feeds/promos.json"\n'
    )
    with ps.Persona.from_file(tmp_path / "persona.toml") as persona:
        assert persona.refresh_content() == {"local": "updated"}
        assert _decide(persona) == ["f1"]


def _reload_doc(url: str, **source: Any) -> dict[str, Any]:
    return {
        "tags": [{"name": "all", "destination": "capture"}],
        "placements": PLACEMENT,
        "content_sources": {"cms": {"kind": "http", "url": url, "interval": 3600, **source}},
    }


def test_reload_keeps_an_unchanged_sources_items_and_etag(
    feed: Feed, make_persona: Callable[..., Any]
) -> None:
    """After ``reload`` with the source configured as before, the feed's items are there at
    once (no poll in between), and the next poll sends the carried ETag: a 304."""
    feed.publish([_promo("p1", 1), _promo("p2", 2)], '"v1"')
    url = f"{feed.sink.url}/promos.json"
    persona, _ = make_persona(_reload_doc(url))
    assert persona.refresh_content() == {"cms": "updated"}
    assert _decide(persona, "v-1") == ["p2"]
    polls = len(feed.sink.requests)
    doc = _reload_doc(url)
    doc["placements"] = {"promo": {**PLACEMENT["promo"], "n": 2}}  # something else changed
    persona.reload(doc)
    assert _decide(persona, "v-2") == ["p2", "p1"]
    assert persona.stats()["content"]["catalog"]["items"] == 2
    assert persona.refresh_content() == {"cms": "not_modified"}
    assert feed.sink.requests[polls].headers["if-none-match"] == '"v1"'
    # and it goes on following the feed
    feed.publish([_promo("p3", 5)], '"v2"')
    assert persona.refresh_content() == {"cms": "updated"}
    assert _decide(persona, "v-3") == ["p3"]


def test_reload_with_a_changed_source_polls_it_again(
    feed: Feed, make_persona: Callable[..., Any]
) -> None:
    """A source whose configuration changed does not keep the old items; when the process
    was polling, the new source is polled at once (in the background), without an ETag."""
    feed.publish([_promo("p1", 1)], '"v1"')
    persona, _ = make_persona(_reload_doc(f"{feed.sink.url}/a.json"))
    assert persona.refresh_content() == {"cms": "updated"}
    persona.reload(_reload_doc(f"{feed.sink.url}/a.json", headers={"X-Env": "2"}))
    assert persona.stats()["content"]["catalog"]["items"] == 0  # not polling yet: empty
    assert persona.refresh_content() == {"cms": "updated"}
    assert _decide(persona, "v-1") == ["p1"]  # the first decide starts the poller
    polls = len(feed.sink.requests)
    feed.publish([_promo("p9", 1)], '"v9"')
    persona.reload(_reload_doc(f"{feed.sink.url}/b.json"))
    assert feed.sink.wait_for(lambda s: len(s.requests) > polls, timeout=10)
    first = feed.sink.requests[polls]
    assert first.path.startswith("/b.json")
    assert "if-none-match" not in first.headers
    assert _wait(lambda: persona.stats()["content"]["sources"]["cms"]["updates"] == 1)
    assert _decide(persona, "v-2") == ["p9"]


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    done = threading.Event()
    while not predicate():
        if not timeout > 0:
            return False
        done.wait(0.01)
        timeout -= 0.01
    return True
