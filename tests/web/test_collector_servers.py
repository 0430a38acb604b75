"""The collector on real servers (uvicorn for ASGI, a threaded WSGI server), fed by Segment's
own Python library and by plain HTTP."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import msgspec
import pytest
from collector_helpers import (
    call_asgi,
    connection,
    head,
    make_persona,
    uvicorn_server,
    wsgi_server,
)

from persona_sdk.web import CollectorConfig, CookieSettings
from persona_sdk.web._collector import Collector

WRITE_KEY = "wk_test_123"

Serve = Callable[[Collector], AbstractContextManager[str]]


def _serve_asgi(c: Collector) -> AbstractContextManager[str]:
    return uvicorn_server(c.asgi)


def _serve_wsgi(c: Collector) -> AbstractContextManager[str]:
    return wsgi_server(c.wsgi)


@pytest.fixture(params=[_serve_asgi, _serve_wsgi], ids=["uvicorn", "wsgi"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Collector, Any]]:
    """The collector (write key required) on a real server; yields (url, collector, capture)."""
    persona, capture = make_persona()
    collector = Collector(persona, CollectorConfig(write_keys=[WRITE_KEY]))
    with request.param(collector) as url:
        yield url, collector, capture
    persona.close()


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str],
                                                                             bytes]:
    conn = connection(url)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_segment_python_library_delivers_through_the_collector(served, use_gzip) -> None:
    """Segment's own `segment-analytics-python` client, pointed at the collector, delivers
    track/identify/page/screen/group/alias unchanged into `persona.ingest` (Basic-auth write
    key, `/v1/batch`, gzip or not), with `receivedAt` stamped."""
    from segment.analytics import Client

    url, collector, capture = served
    errors: list[Any] = []
    client = Client(WRITE_KEY, host=url, gzip=use_gzip, upload_interval=0.05,
                    on_error=lambda e, batch: errors.append(e), max_retries=0)
    try:
        client.track("u-1", "Order Completed", {"revenue": 42.5, "currency": "EUR"},
                     anonymous_id="a-1")
        client.identify("u-1", {"email": "x@example.com", "plan": "pro"})
        client.page("u-1", category="Docs", name="Collector", properties={"path": "/docs"})
        client.screen("u-1", category="App", name="Home")
        client.group("u-1", "g-9", {"seats": 3})
        client.alias("a-1", "u-1")
        client.flush()
    finally:
        client.shutdown()
    assert errors == []
    assert capture.wait_for(6, timeout=10)
    events = {e["type"]: e for e in capture.events}
    assert set(events) == {"track", "identify", "page", "screen", "group", "alias"}
    track = events["track"]
    assert (track["event"], track["userId"], track["anonymousId"]) == (
        "Order Completed", "u-1", "a-1")
    assert track["properties"] == {"revenue": 42.5, "currency": "EUR"}
    assert track["context"]["library"]["name"] == "analytics-python"
    assert track["context"]["ip"] == "127.0.0.0"
    assert "receivedAt" in track
    assert "sentAt" in track
    assert events["identify"]["traits"]["plan"] == "pro"
    assert (events["page"]["name"], events["page"]["category"]) == ("Collector", "Docs")
    assert events["group"]["groupId"] == "g-9"
    assert (events["alias"]["previousId"], events["alias"]["userId"]) == ("a-1", "u-1")
    assert collector.stats()["accepted"] == 6


def test_segment_library_with_a_wrong_key_gets_a_4xx_it_does_not_retry(served) -> None:
    """A wrong write key is a 401 carrying Segment's `code`/`message`, so the library reports
    it once instead of retrying."""
    from segment.analytics import Client
    from segment.analytics.request import APIError

    url, _collector, capture = served
    errors: list[Any] = []
    client = Client("wrong", host=url, upload_interval=0.05, max_retries=3,
                    on_error=lambda e, batch: errors.append(e))
    try:
        client.track("u-1", "Nope")
        client.flush()
    finally:
        client.shutdown()
    assert len(errors) == 1
    assert isinstance(errors[0], APIError)
    assert (errors[0].status, errors[0].code) == (401, "unauthorized")
    assert capture.events == []


def test_beacon_cookie_and_errors_over_http(served) -> None:
    """Over real HTTP a text/plain beacon sets the visitor cookie; an oversized body gets 413
    and a malformed one 400, both as JSON, and the server keeps serving."""
    url, _collector, capture = served
    body = msgspec.json.encode({"type": "track", "event": "Beacon"})
    status, headers, _ = _post(url, f"/collect?writeKey={WRITE_KEY}", body,
                               {"Content-Type": "text/plain;charset=UTF-8"})
    assert status == 200
    assert headers["set-cookie"].startswith("persona_id=")
    assert "HttpOnly" in headers["set-cookie"]
    big = b'{"type":"page","properties":{"x":"' + b"y" * 70_000 + b'"}}'
    status, _, raw = _post(url, f"/collect?writeKey={WRITE_KEY}", big,
                           {"Content-Type": "text/plain"})
    assert status == 413
    assert msgspec.json.decode(raw)["field"] == "body"
    status, _, raw = _post(url, f"/collect?writeKey={WRITE_KEY}", b'{"a":1,"a":2}',
                           {"Content-Type": "text/plain"})
    assert (status, msgspec.json.decode(raw)["field"]) == (400, "a")
    status, _, _ = _post(url, f"/collect?writeKey={WRITE_KEY}", body,
                         {"Content-Type": "text/plain"})
    assert status == 200
    assert capture.wait_for(2, timeout=10)


def test_asgi_reads_chunked_bodies_and_stops_at_the_cap() -> None:
    """The ASGI adapter assembles a body sent in many chunks and answers 413 as soon as the
    chunks pass the cap (without a Content-Length to go by)."""
    persona, capture = make_persona()
    try:
        c = Collector(persona, CollectorConfig(max_beacon_bytes=1000))
        body = msgspec.json.encode({"type": "track", "event": "Chunks", "properties": {"p": "q"}})
        r = call_asgi(c.asgi, head("POST", "/collect"), body, chunk=7)
        assert r.status == 200
        big = b'{"type":"page","name":"' + b"n" * 2000 + b'"}'
        r = call_asgi(c.asgi, head("POST", "/collect"), big, chunk=100)
        assert r.status == 413
        gz = gzip.compress(body)
        r = call_asgi(c.asgi, head("POST", "/collect", headers={"content-encoding": "gzip"}),
                      gz, chunk=5)
        assert r.status == 200
        assert persona.flush(5)
        assert capture.wait_for(2)
    finally:
        persona.close()


def test_asgi_mounted_under_a_root_path() -> None:
    """Mounted in Starlette under `/t` (served by uvicorn), the collector answers
    `/t/collect` and `/t/persona.js`."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    persona, capture = make_persona()
    try:
        c = Collector(persona, CollectorConfig(cookie=CookieSettings(secure=False)))
        app = Starlette(routes=[Mount("/t", app=c)])  # the collector is an ASGI app
        with uvicorn_server(app) as url:
            status, _, _ = _post(url, "/t/collect", b'{"type":"track","event":"Mounted"}',
                                 {"Content-Type": "text/plain"})
            assert status == 200
            conn = connection(url)
            conn.request("GET", "/t/persona.js")
            resp = conn.getresponse()
            assert (resp.status, resp.read()[:3]) == (200, b"/*!")
            conn.close()
        assert persona.flush(5)
        assert capture.wait_for(1)
        assert capture.events[0]["event"] == "Mounted"
    finally:
        persona.close()
