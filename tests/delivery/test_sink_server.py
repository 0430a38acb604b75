"""The loopback sink itself: recording, gzip, scripted failures (other suites rely on it)."""

from __future__ import annotations

import gzip
import json
import threading

import httpx
import pytest
from servers.sink import Reply, Sink, SinkProcess


def test_records_method_path_headers_and_gunzipped_json(sink: Sink) -> None:
    """A gzip POST is recorded with lower-case headers, the gunzipped body and its items."""
    body = gzip.compress(json.dumps({"batch": [{"messageId": "m1"}, {"messageId": "m2"}]}).encode())
    r = httpx.post(
        f"{sink.url}/v1/batch?x=1", content=body,
        headers={"Content-Encoding": "gzip", "X-Key": "K"},
    )
    assert r.status_code == 200
    (req,) = sink.requests
    assert (req.method, req.path, req.query) == ("POST", "/v1/batch", "x=1")
    assert req.headers["x-key"] == "K"
    assert req.raw_body == body
    assert sink.message_ids() == ["m1", "m2"]
    assert sink.stats()["events"] == 2


def test_scripted_replies_then_default(sink: Sink) -> None:
    """Scripted replies are used in order (per path first), then the default reply."""
    sink.reply_with(Reply(status=503, retry_after=7), Reply(status=400))
    sink.reply_with(Reply(status=202), path="/special")
    with httpx.Client() as c:
        r1 = c.post(f"{sink.url}/a", json=[1])
        r2 = c.post(f"{sink.url}/special", json=[2])
        r3 = c.post(f"{sink.url}/a", json=[3])
        r4 = c.post(f"{sink.url}/a", json=[4])
        sink.set_default(Reply(status=500))
        r5 = c.post(f"{sink.url}/a", json=[5])
    assert [r.status_code for r in (r1, r2, r3, r4, r5)] == [503, 202, 400, 200, 500]
    assert r1.headers["retry-after"] == "7"
    assert sink.events() == [2, 4]
    assert sink.events(include_failed=True) == [1, 2, 3, 4, 5]


def test_reset_and_drip(sink: Sink) -> None:
    """``reset`` aborts the connection; ``drip`` still delivers the whole body."""
    body = b'{"ok":"' + b"x" * 100 + b'"}'
    sink.reply_with(Reply(reset=True), Reply(body=body, drip=(16, 0.001)))
    with httpx.Client() as c:
        with pytest.raises(httpx.TransportError):
            c.post(f"{sink.url}/x", json={})
        assert c.post(f"{sink.url}/x", json={}).content == body
    assert [r.status for r in sink.requests] == [None, 200]


def test_hang_until_released(sink: Sink) -> None:
    """A hung request is recorded on arrival and answered once released."""
    sink.reply_with(Reply(hang=True))
    out: list[int] = []

    def call() -> None:
        out.append(httpx.post(sink.url + "/h", json={}).status_code)

    t = threading.Thread(target=call)
    t.start()
    assert sink.wait_for(lambda s: len(s.requests) == 1)
    assert out == []
    sink.release()
    t.join(5)
    assert out == [200]


def test_sink_process_counts() -> None:
    """The child-process sink counts requests and events."""
    with SinkProcess() as sp:
        httpx.post(f"{sp.url}/v1/batch", json={"batch": [{}, {}, {}]})
        assert sp.stats()["events"] == 3
        sp.reset()
        assert sp.stats()["events"] == 0
