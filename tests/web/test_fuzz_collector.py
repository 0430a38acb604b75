"""Fuzzing the collector: hostile inputs across every endpoint.

Each Hypothesis example carries a list of inputs (to keep generation overhead small). In the
normal suite the quotas below add up to 2,000 inputs, a few seconds per test;
``PERSONA_FUZZ=full`` multiplies them by five, to the 10,000-input campaign. Invariants checked
on every one: no answer is ≥ 500, every error is a JSON `{"error", "field"}`, and afterwards
events accepted before, during and after the fuzzing are all delivered, unchanged, and nothing
else is.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from collector_helpers import call_asgi, head, make_persona
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_sdk.config import CollectorConfig
from persona_sdk.web._collector import Collector
from persona_sdk.web._collector_http import CollectorResponse, RequestHead

PATHS = ["/v1/batch", "/v1/import", "/v1/track", "/v1/identify", "/v1/page", "/v1/screen",
         "/v1/group", "/v1/alias", "/collect", "/p.gif", "/persona.js", "/", "/v1/",
         "/collect/", "/P.GIF", "/v1/batch?x"]
METHODS = ["POST", "GET", "OPTIONS", "HEAD", "PUT", "DELETE", "post"]
HOSTILE = [
    "", "\x00", "\\", '"', "\ud800", "\udfff", "\ufeff", "\u202e", "<script>alert(1)</script>",
    "' OR 1=1 --", "../../etc/passwd", "%00", "%ff", "\r\nSet-Cookie: x=1", "𝕏" * 300,
    "a" * 40_000, "null", "NaN", "1e309", "-0", "[]", "{}", "__proto__", "constructor",
    "Infinity", "\u0085", "\t", "true",
]
TYPES = ["track", "identify", "page", "screen", "group", "alias", "TRACK", "", "x", None, 1]

def _encode(doc: Any, ascii_only: bool) -> bytes:
    # json.dumps writes lone surrogates as \\ud800 escapes: msgspec must refuse them cleanly
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), hostile_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=5,
)
message = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={
        "event": hostile_text, "userId": json_scalar, "anonymousId": hostile_text,
        "properties": json_value, "context": json_value, "messageId": json_scalar,
        "timestamp": st.one_of(hostile_text, st.just("2024-01-01T00:00:00Z")),
        "writeKey": hostile_text, "groupId": json_scalar, "previousId": json_scalar,
    },
)
base_body = st.one_of(
    st.builds(_encode, message, st.booleans()),
    st.builds(lambda ms, a: _encode({"batch": ms}, a), st.lists(message, max_size=4),
              st.booleans()),
    st.builds(_encode, json_value, st.booleans()),
    st.binary(max_size=120),
)


TOKENS = [t.encode("utf-8", "surrogatepass") for t in HOSTILE[:-6]] + [
    b'"', b"{", b"}", b"[", b"]", b":", b",", b"\\", b"\\u0000", b"\\ud800", b"\xff", b"\x00",
    b'"type":"x",', b'"a":1,"a":2,', b"1e999", b"NaN", b"-", b"\xef\xbb\xbf",
]


def mutate(body: bytes, rnd: random.Random) -> bytes:
    """One cheap, seeded mutation of ``body``: the fuzzer's variety without a Hypothesis draw
    per input."""
    op = rnd.randrange(10)
    if op == 0 or not body:
        return body
    if op == 1:
        data = bytearray(body)
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        return bytes(data)
    if op == 2:
        return body[: rnd.randrange(len(body))]
    if op == 3:
        at = rnd.randrange(len(body) + 1)
        return body[:at] + rnd.choice(TOKENS) + body[at:]
    if op == 4:
        return body.replace(b'":', b'":"dup","' + rnd.choice([b"type", b"a", b"event"]) + b'":', 1)
    if op == 5:
        depth = rnd.choice([30, 33, 200, 1500, 5000])
        return b'{"type":"page","properties":{"x":' + b"[" * depth + b"]" * depth + b"}}"
    if op == 6:
        return gzip.compress(body)
    if op == 7:
        return body.replace(b'"', b'"' + b"x" * rnd.choice([10, 33_000, 70_000]), 1)
    if op == 8:
        return rnd.randbytes(rnd.randrange(64))
    return body * rnd.randint(2, 3)


header_values = st.one_of(st.sampled_from(HOSTILE[:-6]), st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40))
headers_strategy = st.dictionaries(
    st.sampled_from(["content-type", "content-encoding", "content-length", "cookie", "origin",
                     "authorization", "sec-gpc", "user-agent", "x-forwarded-for", "host",
                     "if-none-match", "accept-encoding", "access-control-request-headers"]),
    st.one_of(header_values, st.sampled_from([
        "application/json", "text/plain", "gzip", "1", "0", "-1", "99999999999999999999",
        "persona_consent=%7B%22a%22%3Atrue%7D", "persona_id=abc", "Basic d2s6",
        "Basic !!!", "https://evil.example", "https://ok.example", "null"])),
    max_size=5,
)
query_strategy = st.one_of(
    st.text(max_size=80),
    st.builds(lambda d: "data=" + base64.urlsafe_b64encode(d).decode(), st.binary(max_size=80)),
    st.builds(lambda m: "data=" + base64.b64encode(_encode(m, False)).decode(), message),
    st.lists(st.tuples(st.sampled_from(["event", "type", "userId", "properties", "url",
                                        "writeKey", "data", "x"]), hostile_text), max_size=5)
    .map(lambda kv: "&".join(f"{k}={v}" for k, v in kv)),
)


def mutate_query(query: str, rnd: random.Random) -> str:
    """A seeded mutation of a query string (percent-escapes, bytes, repeats, length)."""
    op = rnd.randrange(6)
    if op == 0 or not query:
        return query
    if op == 1:
        at = rnd.randrange(len(query) + 1)
        return query[:at] + rnd.choice(["%", "%ff", "%00", "&", "=", "&&==", "%C3%28", "+"]) + \
            query[at:]
    if op == 2:
        return query + "&" + query
    if op == 3:
        return query[: rnd.randrange(len(query))]
    if op == 4:
        return query + "&p" + "=x" * rnd.choice([10, 40_000])
    return "&".join(f"k{i}=v" for i in range(rnd.choice([10, 70, 200])))


class Fuzzed:
    """The collector under fuzz, and the events its JSON answers said it accepted (pixels
    answer a GIF either way; the collector's own counter covers them)."""

    def __init__(self) -> None:
        self.persona, self.capture = make_persona()
        config = CollectorConfig(rate_limit_per_second=0, cors_origins=["https://ok.example"],
                                 filter_bots=True)
        self.collector = Collector(self.persona, config)
        self.accepted = 0
        self.inputs = 0
        self.known: dict[str, dict[str, Any]] = {}
        self.loop = asyncio.new_event_loop()

    def check(self, r: CollectorResponse) -> None:
        self.inputs += 1
        assert r.status < 500, (r.status, r.body)
        if r.status >= 400:
            doc = msgspec.json.decode(r.body)
            assert isinstance(doc["error"], str)
            assert doc["error"]
            assert "field" in doc
        elif r.status == 200 and r.header("content-type") == "application/json":
            self.accepted += msgspec.json.decode(r.body)["accepted"]

    def send_known(self, tag: str) -> None:
        batch = [
            {"type": "track", "event": f"Known {tag} {i}", "messageId": f"known-{tag}-{i}",
             "anonymousId": f"a-{i}", "properties": {"i": i, "text": "é ✓ \"q\"", "n": [1, 2]}}
            for i in range(20)
        ]
        for m in batch:
            self.known[m["messageId"]] = m
        r = self.collector.handle(head("POST", "/v1/batch"), msgspec.json.encode({"batch": batch}))
        assert r.status == 200
        self.check(r)

    def verify(self) -> None:
        """Every accepted event was delivered once, known ones unchanged, nothing else."""
        assert self.persona.flush(10)
        total = self.collector.stats()["accepted"]
        assert total >= self.accepted
        assert self.capture.wait_for(total, timeout=10), self.persona.stats()
        events = self.capture.events
        assert len(events) == total
        by_id = {}
        for e in events:
            by_id.setdefault(e["messageId"], e)
        for mid, sent in self.known.items():
            got = by_id[mid]
            assert (got["event"], got["anonymousId"], got["properties"]) == (
                sent["event"], sent["anonymousId"], sent["properties"])

    def close(self) -> None:
        self.loop.close()
        self.persona.close()


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    f = Fuzzed()
    f.send_known("before")
    yield f
    f.close()


def _request(path: str, method: str, headers: dict[str, str], query: str) -> RequestHead:
    path, _, extra = path.partition("?")
    return RequestHead(method, path, query=query or extra, headers=headers,
                       client="198.51.100.7")


FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# Each example = one Hypothesis draw + PER_EXAMPLE seeded mutations of it; quotas sum to 2,000
# (10,000 with PERSONA_FUZZ=full).
PER_EXAMPLE = 10
SCALE = 5 if os.environ.get("PERSONA_FUZZ") == "full" else 1


request_parts = st.tuples(st.sampled_from(PATHS), st.sampled_from(METHODS), headers_strategy,
                          query_strategy, base_body)


@settings(FUZZ, max_examples=100 * SCALE)
@given(request_parts, st.randoms(use_true_random=False))
def test_fuzz_sans_io_core(fuzzed: Fuzzed, parts, rnd) -> None:
    """1,000 (full: 5,000) random requests (path, method, headers, query, body and mutations
    of it) through the sans-I/O core: never ≥ 500, errors always JSON with a field."""
    path, method, headers, query, body = parts
    for _ in range(PER_EXAMPLE):
        req = _request(path, method, headers, query)
        fuzzed.check(fuzzed.collector.handle(req, mutate(body, rnd)))


@settings(FUZZ, max_examples=40 * SCALE)
@given(st.sampled_from(["/v1/batch", "/collect", "/v1/track"]), base_body,
       st.randoms(use_true_random=False))
def test_fuzz_bodies_with_valid_headers(fuzzed: Fuzzed, path, body, rnd) -> None:
    """400 (full: 2,000) random and hostile bodies (random bytes and JSON, message-shaped JSON, huge
    nesting, duplicate keys, truncation, oversize, gzip) with plausible headers."""
    for _ in range(PER_EXAMPLE):
        data = mutate(body, rnd)
        headers = {"content-type": "text/plain", "host": "shop.example",
                   "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"}
        if data[:2] == b"\x1f\x8b":
            headers["content-encoding"] = "gzip"
        fuzzed.check(fuzzed.collector.handle(head("POST", path, headers=headers), data))


@settings(FUZZ, max_examples=40 * SCALE)
@given(query_strategy, headers_strategy, st.randoms(use_true_random=False))
def test_fuzz_pixel_queries(fuzzed: Fuzzed, query, headers, rnd) -> None:
    """400 (full: 2,000) random pixel query strings (and mutations) with random headers on
    `/p.gif`."""
    for _ in range(PER_EXAMPLE):
        req = RequestHead("GET", "/p.gif", query=mutate_query(query, rnd), headers=headers,
                          client="192.0.2.1")
        fuzzed.check(fuzzed.collector.handle(req))


@settings(FUZZ, max_examples=20 * SCALE)
@given(request_parts, st.randoms(use_true_random=False))
def test_fuzz_through_the_asgi_adapter(fuzzed: Fuzzed, parts, rnd) -> None:
    """200 (full: 1,000) random requests through the ASGI app itself, bodies split in random
    chunks."""
    path, method, headers, query, body = parts
    for _ in range(PER_EXAMPLE):
        req = _request(path, method, headers, query)
        fuzzed.check(call_asgi(fuzzed.collector.asgi, req, mutate(body, rnd),
                               chunk=rnd.randint(1, 64), loop=fuzzed.loop))


def test_queued_data_is_intact_after_fuzzing(fuzzed: Fuzzed) -> None:
    """After the fuzzing (2,000 inputs when the whole module runs; full: 10,000), events sent
    before and after are delivered unchanged, and exactly the accepted ones were delivered."""
    fuzzed.send_known("after")
    fuzzed.verify()
    print(f"fuzzed inputs: {fuzzed.inputs}, accepted events: {fuzzed.accepted}")


def test_hostile_traffic_over_real_http_leaves_the_server_serving() -> None:
    """Over a real uvicorn server, 300 mutated requests plus raw non-HTTP garbage get no
    answer ≥ 500, and the server then still accepts a good event."""
    import http.client
    import socket

    from collector_helpers import connection, uvicorn_server

    persona, capture = make_persona()
    collector = Collector(persona, CollectorConfig(rate_limit_per_second=0))
    rnd = random.Random(20240601)
    seed = json.dumps({"batch": [{"type": "track", "event": "E", "userId": "u"}]}).encode()
    try:
        with uvicorn_server(collector.asgi) as url:
            port = int(url.rsplit(":", 1)[1])
            conn = connection(url)
            for i in range(300):
                body = mutate(seed, rnd)
                path = rnd.choice(["/v1/batch", "/collect", "/v1/track", "/p.gif?event=x"])
                headers = {"Content-Type": rnd.choice(["text/plain", "application/json"])}
                if body[:2] == b"\x1f\x8b":
                    headers["Content-Encoding"] = "gzip"
                try:
                    conn.request("POST" if i % 7 else "GET", path, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    assert resp.status < 500, (resp.status, body[:80])
                except (http.client.HTTPException, ConnectionError):
                    # the server may close a connection after refusing a large body unread
                    conn.close()
                    conn = connection(url)
            conn.close()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                raw.sendall(b"\x00\xff GARBAGE \r\n\r\n" + bytes(range(256)))
                raw.recv(1024)
            good = connection(url)
            good.request("POST", "/collect", body=b'{"type":"track","event":"Alive"}',
                         headers={"Content-Type": "text/plain"})
            assert good.getresponse().status == 200
            good.close()
        assert persona.flush(5)
        assert any(e.get("event") == "Alive" for e in capture.events)
    finally:
        persona.close()
