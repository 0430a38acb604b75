"""The collector's sans-I/O core: endpoints, stamping, cookie, consent, errors and limits."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import msgspec
import pytest
from collector_helpers import BROWSER_UA, Clock, head, make_persona

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination
from persona_sdk.web import CollectorConfig, CookieSettings
from persona_sdk.web._collector import PIXEL_GIF, Collector

enc = msgspec.json.encode


def collector_for(
    world: tuple[Persona, CaptureDestination], clock: Clock | None = None, **config: Any
) -> Collector:
    return Collector(world[0], CollectorConfig(**config), clock=clock or Clock())


def delivered(world: tuple[Persona, CaptureDestination], n: int) -> list[dict[str, Any]]:
    persona, capture = world
    assert persona.flush(5)
    assert capture.wait_for(n, timeout=5)
    return capture.events


# -- Segment-compatible endpoints ---------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("track", {"event": "Order Completed", "userId": "u1", "properties": {"revenue": 9.5}}),
        ("identify", {"userId": "u1", "traits": {"plan": "pro"}}),
        ("page", {"anonymousId": "a1", "name": "Home"}),
        ("screen", {"anonymousId": "a1", "name": "Cart"}),
        ("group", {"userId": "u1", "groupId": "g1", "traits": {"seats": 5}}),
        ("alias", {"userId": "u1", "previousId": "a1"}),
    ],
)
def test_single_message_endpoints_ingest_their_type(world, endpoint, message) -> None:
    """`POST /v1/<type>` takes one message without a `type` key and ingests it as that type."""
    c = collector_for(world)
    r = c.handle(head("POST", f"/v1/{endpoint}"), enc(message))
    assert r.status == 200, r.body
    assert r.json() == {"success": True, "accepted": 1}
    (event,) = delivered(world, 1)
    assert event["type"] == endpoint
    for key, value in message.items():
        assert event[key] == value


def test_batch_endpoint_ingests_every_message_with_received_at(world) -> None:
    """`POST /v1/batch` ingests each message; `receivedAt` is the collector clock's time and
    the envelope's `sentAt`, `context` and `integrations` apply to messages lacking them."""
    clock = Clock(1_700_000_000.0)
    c = collector_for(world, clock)
    batch = {
        "batch": [
            {"type": "track", "event": f"E{i}", "anonymousId": "a1", "messageId": f"m{i}"}
            for i in range(3)
        ],
        "sentAt": "2023-11-14T22:13:20.000Z",
        "context": {"library": {"name": "analytics-python", "version": "2.4"}},
        "integrations": {"All": True},
    }
    r = c.handle(head("POST", "/v1/batch"), enc(batch))
    assert r.json() == {"success": True, "accepted": 3}
    events = delivered(world, 3)
    assert [e["messageId"] for e in events] == ["m0", "m1", "m2"]
    for e in events:
        assert e["receivedAt"] == "2023-11-14T22:13:20.000Z"
        assert e["sentAt"] == "2023-11-14T22:13:20.000Z"
        assert e["context"]["library"]["name"] == "analytics-python"
        assert e["integrations"] == {"All": True}


def test_partial_batch_is_200_with_per_message_errors(world) -> None:
    """A batch with some bad messages is accepted in part: 200, the good ones delivered, each
    bad one listed with its index and field (as Segment does, nothing is retried)."""
    c = collector_for(world)
    batch = {"batch": [{"type": "track", "event": "Ok", "userId": "u"}, {"type": "track",
             "userId": "u"}, "junk"]}
    r = c.handle(head("POST", "/v1/batch"), enc(batch))
    assert r.status == 200
    assert r.json() == {
        "success": True,
        "accepted": 1,
        "rejected": 2,
        "errors": [
            {"index": 1, "error": "a track call needs a non-empty event name",
             "field": "batch[1].event"},
            {"index": 2, "error": "expected a JSON object", "field": "batch[2]"},
        ],
    }
    assert [e["event"] for e in delivered(world, 1)] == ["Ok"]
    assert c.stats()["accepted"] == 1
    assert c.stats()["rejected"] == 2


def test_batch_with_only_bad_messages_is_400(world) -> None:
    """When no message of a batch is acceptable the answer is a 400 naming the first problem."""
    c = collector_for(world)
    r = c.handle(head("POST", "/v1/batch"), enc({"batch": [{"type": "nope", "userId": "u"}]}))
    assert r.status == 400
    doc = r.json()
    assert doc["field"] == "batch[0].type"
    assert doc["code"] == "invalid_event"
    assert len(doc["errors"]) == 1


def test_single_endpoint_rejects_a_bad_message_with_its_field(world) -> None:
    """A bad single message gets a 400 whose `field` names the offending key."""
    c = collector_for(world)
    r = c.handle(head("POST", "/v1/track"), enc({"userId": "u1", "event": 5}))
    assert r.status == 400
    assert r.json()["field"] == "event"
    r = c.handle(head("POST", "/v1/track"), enc({"type": "page", "userId": "u1"}))
    assert (r.status, r.json()["field"]) == (400, "type")


def test_gzip_bodies_are_accepted(world) -> None:
    """`Content-Encoding: gzip` bodies (as Segment's libraries send with gzip on) are read."""
    c = collector_for(world)
    body = gzip.compress(enc({"batch": [{"type": "track", "event": "Z", "userId": "u"}]}))
    r = c.handle(head("POST", "/v1/batch", headers={"content-encoding": "gzip"}), body)
    assert r.status == 200
    assert delivered(world, 1)[0]["event"] == "Z"


# -- write keys ---------------------------------------------------------------------------


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def test_write_key_from_basic_auth_body_or_query(world) -> None:
    """With write keys configured, the key is taken from Basic auth, the body's `writeKey`,
    or (beacons) the query string; a missing or wrong key is a 401 and nothing is ingested."""
    c = collector_for(world, write_keys=["wk_1", "wk_2"])
    msg = {"event": "E", "userId": "u"}
    ok = [
        c.handle(head("POST", "/v1/track", headers={"authorization": _basic("wk_2")}), enc(msg)),
        c.handle(head("POST", "/v1/track"), enc({**msg, "writeKey": "wk_1"})),
        c.handle(head("POST", "/collect", query="writeKey=wk_1"), enc({**msg, "type": "track"})),
    ]
    assert [r.status for r in ok] == [200, 200, 200]
    bad = [
        c.handle(head("POST", "/v1/track"), enc(msg)),
        c.handle(head("POST", "/v1/track", headers={"authorization": _basic("nope")}), enc(msg)),
        c.handle(head("POST", "/collect", query="writeKey=wk_3"), enc({**msg, "type": "track"})),
    ]
    assert [r.status for r in bad] == [401, 401, 401]
    assert bad[0].json()["field"] == "writeKey"
    events = delivered(world, 3)
    assert len(events) == 3
    assert all("writeKey" not in e for e in events)


# -- beacons and the pixel ----------------------------------------------------------------


def test_collect_takes_text_plain_single_or_batch(world) -> None:
    """`POST /collect` accepts a `text/plain` JSON body: one message or a batch."""
    c = collector_for(world)
    plain = {"content-type": "text/plain;charset=UTF-8"}
    r1 = c.handle(head("POST", "/collect", headers=plain),
                  enc({"type": "track", "event": "One"}))
    r2 = c.handle(head("POST", "/collect", headers=plain),
                  enc({"batch": [{"type": "page", "name": "P"}, {"type": "track", "event": "T"}]}))
    assert (r1.status, r2.status) == (200, 200)
    assert r2.json()["accepted"] == 2
    assert sorted(e["type"] for e in delivered(world, 3)) == ["page", "track", "track"]


def test_pixel_returns_a_gif_and_ingests_query_params(world) -> None:
    """`GET /p.gif` ingests the event from plain query params and answers a 1x1 GIF."""
    c = collector_for(world)
    q = ("event=Email%20Opened&userId=u9&properties=%7B%22campaign%22%3A%22nov%22%7D"
         "&url=https%3A%2F%2Fshop.example%2F&title=Home")
    r = c.handle(head("GET", "/p.gif", query=q, json_body=False))
    assert r.status == 200
    assert r.header("content-type") == "image/gif"
    assert r.body == PIXEL_GIF
    assert r.body[:6] == b"GIF89a"
    (e,) = delivered(world, 1)
    assert (e["type"], e["event"], e["userId"]) == ("track", "Email Opened", "u9")
    assert e["properties"] == {"campaign": "nov"}
    assert e["context"]["page"] == {"url": "https://shop.example/", "title": "Home"}


def test_pixel_takes_segment_style_base64_data(world) -> None:
    """`GET /p.gif?data=<base64 JSON>` works as Segment's pixel API does (key inside)."""
    c = collector_for(world, write_keys=["wk"])
    data = base64.urlsafe_b64encode(
        enc({"type": "track", "event": "Viewed", "userId": "u", "writeKey": "wk"})
    ).decode().rstrip("=")
    r = c.handle(head("GET", "/p.gif", query=f"data={data}", json_body=False))
    assert r.status == 200
    assert delivered(world, 1)[0]["event"] == "Viewed"


# -- request facts: cookie, consent, GPC, IP, user agent -----------------------------------


def test_visitor_cookie_is_minted_set_and_reused(world) -> None:
    """A beacon without ids gets a new anonymous id, set as a first-party cookie (Secure,
    HttpOnly, SameSite=Lax, at most 400 days, configured domain); a later request with that
    cookie reuses it and refreshes the cookie."""
    c = collector_for(world, cookie=CookieSettings(domain="shop.example"))
    r = c.handle(head("POST", "/collect"), enc({"type": "page"}))
    cookie = r.header("set-cookie")
    assert cookie is not None
    name_value, *attrs = [p.strip() for p in cookie.split(";")]
    name, _, visitor = name_value.partition("=")
    assert name == "persona_id"
    assert set(attrs) == {"Max-Age=34560000", "Path=/", "Domain=shop.example", "Secure",
                          "HttpOnly", "SameSite=Lax"}
    r2 = c.handle(head("POST", "/collect", headers={"cookie": f"x=1; persona_id={visitor}"}),
                  enc({"type": "track", "event": "Again"}))
    assert r2.header("set-cookie") == cookie
    events = delivered(world, 2)
    assert [e["anonymousId"] for e in events] == [visitor, visitor]


def test_cookie_flags_follow_config(world) -> None:
    """HttpOnly, SameSite, lifetime and Secure are configurable; a body's own anonymousId wins
    over the cookie; a malformed cookie value is ignored (a new id is minted)."""
    c = collector_for(world, cookie=CookieSettings(httponly=False, secure=False, samesite="Strict",
                                                   max_age_days=30, name="vid"))
    r = c.handle(head("POST", "/collect", headers={"cookie": "vid=<script>"}),
                 enc({"type": "page"}))
    cookie = r.header("set-cookie") or ""
    assert "HttpOnly" not in cookie
    assert "Secure" not in cookie
    assert "SameSite=Strict" in cookie
    assert "Max-Age=2592000" in cookie
    assert "<script>" not in cookie
    c.handle(head("POST", "/collect", headers={"cookie": "vid=abc"}),
             enc({"type": "page", "anonymousId": "mine"}))
    events = delivered(world, 2)
    assert events[1]["anonymousId"] == "mine"
    with pytest.raises(ValueError, match="max_age_days"):
        CookieSettings(max_age_days=401)
    with pytest.raises(ValueError, match="samesite"):
        CookieSettings(samesite="lax-ish")


def test_server_calls_with_a_user_id_get_no_minted_id(world) -> None:
    """A message that has a userId and no cookie is not given a made-up anonymous id."""
    c = collector_for(world)
    r = c.handle(head("POST", "/v1/track"), enc({"event": "E", "userId": "u1"}))
    assert r.header("set-cookie") is None
    assert "anonymousId" not in delivered(world, 1)[0]


def test_consent_cookie_and_gpc_are_stamped(world) -> None:
    """The consent cookie becomes `context.consent.categoryPreferences` when the message has
    none, `Sec-GPC: 1` sets `context.gpc`; a message's own consent is kept."""
    c = collector_for(world)
    h = {"cookie": "persona_consent=%7B%22analytics%22%3Atrue%2C%22ads%22%3Afalse%7D",
         "sec-gpc": "1"}
    c.handle(head("POST", "/collect", headers=h), enc({"type": "page"}))
    own = {"consent": {"categoryPreferences": {"analytics": False}}}
    c.handle(head("POST", "/collect", headers=h), enc({"type": "page", "context": own}))
    c.handle(head("POST", "/collect", headers={"cookie": "persona_consent=garbage"}),
             enc({"type": "page"}))
    first, second, third = delivered(world, 3)
    assert first["context"]["consent"] == {"categoryPreferences": {"analytics": True,
                                                                   "ads": False}}
    assert first["context"]["gpc"] is True
    assert second["context"]["consent"] == {"categoryPreferences": {"analytics": False}}
    assert "consent" not in third["context"]
    assert "gpc" not in third["context"]


def test_ip_is_truncated_and_user_agent_stamped(world) -> None:
    """`context.ip` comes from the client address, truncated (IPv4 /24, IPv6 /48), also when
    the sender gave one; `context.userAgent` comes from the request unless present."""
    c = collector_for(world)
    c.handle(head("POST", "/collect"), enc({"type": "page"}))
    c.handle(head("POST", "/collect", client="2001:db8:85a3:8d3:1319:8a2e:370:7348"),
             enc({"type": "page", "context": {"userAgent": "custom"}}))
    c.handle(head("POST", "/v1/track"),
             enc({"event": "E", "userId": "u", "context": {"ip": "198.51.100.23"}}))
    c.handle(head("POST", "/v1/track"),
             enc({"event": "E", "userId": "u", "context": {"ip": "not an ip"}}))
    a, b, d, e = delivered(world, 4)
    assert (a["context"]["ip"], a["context"]["userAgent"]) == ("203.0.113.0", BROWSER_UA)
    assert (b["context"]["ip"], b["context"]["userAgent"]) == ("2001:db8:85a3::", "custom")
    assert d["context"]["ip"] == "198.51.100.0"
    assert "ip" not in e["context"]


def test_full_ip_and_trusted_proxy_header(world) -> None:
    """With truncation off the address is kept whole; with `client_ip_header` the right-most
    valid address of that header is the client (what the trusted proxy appended)."""
    c = collector_for(world, truncate_ip=False, client_ip_header="X-Forwarded-For")
    c.handle(head("POST", "/collect", headers={"x-forwarded-for": "1.1.1.1, 198.51.100.9"},
                  client="10.0.0.2"), enc({"type": "page"}))
    c.handle(head("POST", "/collect", headers={"x-forwarded-for": "bogus"}, client="10.0.0.2"),
             enc({"type": "page"}))
    a, b = delivered(world, 2)
    assert a["context"]["ip"] == "198.51.100.9"
    assert b["context"]["ip"] == "10.0.0.2"


def test_bots_are_dropped_quietly_when_filtering(world) -> None:
    """With `filter_bots`, a crawler gets the usual 200 but nothing is ingested (counted)."""
    c = collector_for(world, filter_bots=True)
    bot = {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
    r = c.handle(head("POST", "/collect", headers=bot), enc({"type": "page"}))
    assert r.status == 200
    c.handle(head("POST", "/collect"), enc({"type": "track", "event": "Human"}))
    assert [e["event"] for e in delivered(world, 1)] == ["Human"]
    assert c.stats()["bots"] == 1


# -- routing, CORS and the rate limit -------------------------------------------------------


def test_unknown_paths_and_methods(world) -> None:
    """Unknown paths are 404 and wrong methods 405 with `Allow`, both as JSON errors."""
    c = collector_for(world)
    r = c.handle(head("POST", "/v2/batch"), b"{}")
    assert (r.status, r.json()["field"]) == (404, "path")
    r = c.handle(head("GET", "/v1/batch"))
    assert r.status == 405
    assert r.header("allow") == "POST, OPTIONS"


def test_path_prefix_mounts_the_collector(world) -> None:
    """With `path_prefix="/t"` the endpoints live under `/t` only."""
    c = collector_for(world, path_prefix="/t")
    assert c.handle(head("POST", "/t/collect"), enc({"type": "page"})).status == 200
    assert c.handle(head("POST", "/collect"), enc({"type": "page"})).status == 404


def test_cors_preflight_and_requests(world) -> None:
    """Allowed origins (exact or `*.` wildcard) get a preflight with credentials and CORS
    headers on responses; other origins get 403 and nothing is ingested; same-origin and
    origin-less requests are always allowed; `null` only when listed."""
    c = collector_for(world, cors_origins=["https://shop.example", "https://*.brand.example"])
    for origin in ("https://shop.example", "https://www.brand.example"):
        r = c.handle(head("OPTIONS", "/v1/batch", headers={
            "origin": origin, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, x-evil"}))
        assert r.status == 204
        assert r.header("access-control-allow-origin") == origin
        assert r.header("access-control-allow-credentials") == "true"
        assert r.header("access-control-allow-headers") == "content-type"
        assert "POST" in (r.header("access-control-allow-methods") or "")
        assert r.header("vary") == "Origin"
    for origin in ("https://evil.example", "https://brand.example", "null",
                   "https://shop.example.evil.example"):
        r = c.handle(head("OPTIONS", "/collect", headers={"origin": origin}))
        assert r.status == 403, origin
        assert r.header("access-control-allow-origin") is None
        r = c.handle(head("POST", "/collect", headers={"origin": origin}),
                     enc({"type": "track", "event": "Forged"}))
        assert r.status == 403, origin
    r = c.handle(head("POST", "/collect", headers={"origin": "https://www.brand.example"}),
                 enc({"type": "track", "event": "Cross"}))
    assert r.status == 200
    assert r.header("access-control-allow-origin") == "https://www.brand.example"
    same = c.handle(head("POST", "/collect", headers={"origin": "https://shop.example",
                                                       "host": "shop.example"}),
                    enc({"type": "track", "event": "Same"}))
    none = c.handle(head("POST", "/collect"), enc({"type": "track", "event": "Server"}))
    assert (same.status, none.status) == (200, 200)
    assert sorted(e["event"] for e in delivered(world, 3)) == ["Cross", "Same", "Server"]


def test_rate_limit_is_a_per_ip_token_bucket(world) -> None:
    """Each client IP gets `burst` requests, then 429 with `Retry-After` until tokens refill
    at `rate_limit_per_second`; other IPs are unaffected."""
    clock = Clock()
    c = collector_for(world, clock, rate_limit_per_second=2, rate_limit_burst=3)
    body = enc({"type": "page"})
    statuses = [c.handle(head("POST", "/collect"), body).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = c.handle(head("POST", "/collect"), body)
    assert r.header("retry-after") == "1"
    assert r.json()["code"] == "rate_limited"
    assert c.handle(head("POST", "/collect", client="198.51.100.1"), body).status == 200
    clock.now += 0.5  # one token back
    assert c.handle(head("POST", "/collect"), body).status == 200
    assert c.handle(head("POST", "/collect"), body).status == 429
    ipv6 = [c.handle(head("POST", "/collect", client=f"2001:db8::{i}"), body).status
            for i in range(4)]
    assert ipv6 == [200, 200, 200, 429]  # one /64 is one client
    unlimited = collector_for(world, clock, rate_limit_per_second=0)
    assert all(unlimited.handle(head("POST", "/collect"), body).status == 200 for _ in range(300))


# -- bad input: always a clear 4xx ----------------------------------------------------------


BAD_BODIES = [
    ("invalid_json", b"{not json", "body"),
    ("empty", b"", "body"),
    ("array", b"[1, 2]", "body"),
    ("invalid_utf8", b'{"type":"page","name":"\xff\xfe"}', "body"),
    ("lone_surrogate", b'{"type":"page","name":"\\ud800"}', "body"),
    ("duplicate_key", b'{"type":"page","name":"a","name":"b"}', "name"),
    ("nested_duplicate", b'{"type":"page","properties":{"a":1,"a":2}}', "a"),
    ("deep_nesting", b'{"type":"page","properties":' + b'{"a":' * 40 + b"1" + b"}" * 41, "body"),
    ("very_deep", b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}", "body"),
    ("wrong_type", b'{"type":"track","event":"E","userId":"u","properties":[1]}', "properties"),
    ("batch_not_list", b'{"batch":{"type":"page"}}', "batch"),
    ("bom", b'\xef\xbb\xbf{"type":"page"}', "body"),
    ("nan", b'{"type":"page","properties":{"x":NaN}}', "body"),
    ("huge_number", b'{"type":"page","properties":{"x":1e999}}', "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_bodies_get_a_4xx_json_error_naming_the_field(world, case, body, field) -> None:
    """Malformed bodies get a 4xx `{"error", "field"}` (never a 5xx) and ingest nothing."""
    c = collector_for(world, max_beacon_bytes=500_000)
    path = "/v1/batch" if case == "batch_not_list" else "/collect"
    r = c.handle(head("POST", path), body)
    assert 400 <= r.status < 500, r.body
    doc = r.json()
    assert doc["error"]
    assert doc["field"] == field, doc
    persona, capture = world
    assert persona.flush(5)
    assert capture.events == []


def test_unescaped_colon_spelling_does_not_fool_the_duplicate_check(world) -> None:
    """A colon written as `\\u003a` inside a string is not a duplicate; a real duplicate
    next to one still is."""
    c = collector_for(world)
    ok = c.handle(head("POST", "/collect"), b'{"type":"page","name":"a\\u003ab"}')
    assert ok.status == 200
    bad = c.handle(head("POST", "/collect"), b'{"type":"page","name":"a\\u003ab","type":"x"}')
    assert (bad.status, bad.json()["field"]) == (400, "type")
    assert delivered(world, 1)[0]["name"] == "a:b"


@pytest.mark.parametrize(
    ("headers", "status", "field"),
    [
        ({"content-type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
        ({"content-type": "multipart/form-data; boundary=x"}, 415, "Content-Type"),
        ({"content-encoding": "br"}, 415, "Content-Encoding"),
        ({"content-encoding": "gzip"}, 400, "Content-Encoding"),
        ({"content-length": "ten"}, 400, "Content-Length"),
    ],
)
def test_wrong_content_headers_are_refused(world, headers, status, field) -> None:
    """Unsupported content types and encodings are 415; a body that is not gzip despite
    saying so, or a malformed Content-Length, is 400."""
    c = collector_for(world)
    r = c.handle(head("POST", "/collect", headers=headers), enc({"type": "page"}))
    assert (r.status, r.json()["field"]) == (status, field)


@pytest.mark.parametrize(
    ("path", "limit_key", "default"),
    [("/collect", "max_beacon_bytes", 64 * 1024), ("/v1/batch", "max_batch_bytes", 500 * 1024),
     ("/v1/track", "max_message_bytes", 32 * 1024)],
)
def test_body_caps(world, path, limit_key, default) -> None:
    """Each endpoint has its body cap (64 KB beacons, 500 KB batches, 32 KB single messages):
    a body one byte over is 413, by declared Content-Length or by actual size, and so is a
    gzip body that inflates past the cap; exactly at the cap is read."""
    assert getattr(CollectorConfig(), limit_key) == default
    c = collector_for(world, **{limit_key: 2000})

    def body_of(size: int) -> bytes:
        msg = {"type": "track", "event": "E", "userId": "u", "properties": {"pad": ""}}
        if path == "/v1/batch":
            msg = {"batch": [msg]}
        base = len(enc(msg))
        if path == "/v1/batch":
            msg["batch"][0]["properties"]["pad"] = "x" * (size - base)
        else:
            msg["properties"]["pad"] = "x" * (size - base)
        out = enc(msg)
        assert len(out) == size
        return out

    assert c.handle(head("POST", path), body_of(2000)).status == 200
    over = body_of(2001)
    r = c.handle(head("POST", path, headers={"content-length": str(len(over))}), over)
    assert (r.status, r.json()["code"]) == (413, "too_large")
    assert c.handle(head("POST", path), over).status == 413
    bomb = gzip.compress(over)
    assert len(bomb) < 2000
    assert c.handle(head("POST", path, headers={"content-encoding": "gzip"}), bomb).status == 413


def test_per_event_cap_is_32kb(world) -> None:
    """Within a batch, a message over 32 KB is rejected on its own; its neighbours pass."""
    c = collector_for(world)
    big = {"type": "track", "event": "Big", "userId": "u", "properties": {"x": "y" * 33_000}}
    small = {"type": "track", "event": "Small", "userId": "u"}
    r = c.handle(head("POST", "/v1/batch"), enc({"batch": [big, small]}))
    assert r.status == 200
    doc = r.json()
    assert doc["accepted"] == 1
    assert doc["errors"][0]["field"] == "batch[0]"
    assert "32768" in doc["errors"][0]["error"]


def test_pixel_query_errors_and_cap(world) -> None:
    """Pixel queries that are over 64 KB, not UTF-8, repeat a parameter, or carry bad data
    get a 4xx JSON error."""
    c = collector_for(world)
    cases = [
        ("event=" + "x" * (64 * 1024), 413),
        ("event=%ff%fe", 400),
        ("event=a&event=b", 400),
        ("data=***", 400),
        ("properties=%5B1%5D", 400),
        ("data=" + base64.b64encode(b'{"type":"page","type":"x"}').decode(), 400),
    ]
    for query, status in cases:
        r = c.handle(head("GET", "/p.gif", query=query, json_body=False))
        assert r.status == status, (query[:40], r.body)
        assert r.json()["error"]


# -- the script -----------------------------------------------------------------------------


def test_script_is_served_with_caching_headers(world) -> None:
    """`/persona.js` is served with Cache-Control, an ETag (304 when it matches), gzip when
    accepted, and nosniff; HEAD gets the headers only."""
    c = collector_for(world, script_max_age=600)
    r = c.handle(head("GET", "/persona.js", json_body=False))
    assert r.status == 200
    assert r.header("content-type") == "text/javascript; charset=utf-8"
    assert r.header("cache-control") == "public, max-age=600"
    assert r.header("x-content-type-options") == "nosniff"
    assert b"persona" in r.body
    etag = r.header("etag")
    assert etag
    z = c.handle(head("GET", "/persona.js", headers={"accept-encoding": "gzip, br"},
                      json_body=False))
    assert z.header("content-encoding") == "gzip"
    assert gzip.decompress(z.body) == r.body
    again = c.handle(head("GET", "/persona.js", headers={"if-none-match": etag},
                          json_body=False))
    assert (again.status, again.body) == (304, b"")
    h = c.handle(head("HEAD", "/persona.js", json_body=False))
    assert (h.status, h.body, h.header("content-length")) == (200, b"", str(len(r.body)))


def test_collector_follows_the_container_on_reload() -> None:
    """Without an explicit config the collector uses the container's `[collector]` table and
    picks up a reloaded one."""
    persona, _capture = make_persona({"write_keys": ["one"]})
    try:
        c = Collector(persona)
        msg = enc({"type": "page", "writeKey": "two"})
        assert c.handle(head("POST", "/collect"), msg).status == 401
        persona.reload({"tags": [{"name": "all", "destination": "capture"}],
                        "collector": {"write_keys": ["two"]}})
        assert c.handle(head("POST", "/collect"), msg).status == 200
        assert c.config.write_keys == ["two"]
    finally:
        persona.close()


def test_closed_persona_answers_503_not_a_crash() -> None:
    """After `persona.close()` the collector answers 503 (retry later), never raises."""
    persona, _ = make_persona()
    c = Collector(persona)
    persona.close()
    r = c.handle(head("POST", "/collect"), enc({"type": "page"}))
    assert (r.status, r.json()["code"]) == (503, "unavailable")


def test_analytics_js_short_paths(world) -> None:
    """analytics.js posts `text/plain` bodies to `/v1/t`, `/v1/p`, ... and `/v1/b`, with the
    write key in the body; these map to the same endpoints."""
    c = collector_for(world, write_keys=["wk"])
    plain = {"content-type": "text/plain"}
    for path, body in [("/v1/t", {"event": "T", "anonymousId": "a"}),
                       ("/v1/p", {"name": "P", "anonymousId": "a"}),
                       ("/v1/b", {"batch": [{"type": "identify", "userId": "u"}]})]:
        r = c.handle(head("POST", path, headers=plain), enc({**body, "writeKey": "wk"}))
        assert r.status == 200, (path, r.body)
    assert sorted(e["type"] for e in delivered(world, 3)) == ["identify", "page", "track"]


def test_wrong_key_is_refused_before_the_body_and_batches_only_where_expected(world) -> None:
    """A wrong Basic-auth or query key is a 401 even when the body is unreadable (it is not
    read); a `batch` sent to a single-message endpoint or inside a pixel is a 400."""
    c = collector_for(world, write_keys=["wk"])
    r = c.handle(head("POST", "/v1/batch", headers={"authorization": _basic("bad")}), b"{")
    assert r.status == 401
    r = c.handle(head("POST", "/collect", query="writeKey=bad"), b"{")
    assert r.status == 401
    batch = enc({"batch": [{"type": "track", "event": "E", "userId": "u"}], "writeKey": "wk"})
    r = c.handle(head("POST", "/v1/track"), batch)
    assert (r.status, r.json()["field"]) == (400, "batch")
    data = base64.urlsafe_b64encode(batch).decode()
    r = c.handle(head("GET", "/p.gif", query=f"data={data}", json_body=False))
    assert (r.status, r.json()["field"]) == (400, "batch")
    assert c.handle(head("POST", "/collect", headers={"content-length": "-1"}), b"{}").status == 400
