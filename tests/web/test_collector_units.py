"""The collector's small parts: user-agent parser, rate limiter, cookies, consent, CORS."""

from __future__ import annotations

import pytest

from persona_sdk.web import CookieSettings, read_consent_cookie, write_consent_cookie
from persona_sdk.web._collector_http import CorsPolicy, basic_auth_user
from persona_sdk.web._cookie import parse_cookies, valid_visitor_id
from persona_sdk.web._ratelimit import TokenBucketLimiter
from persona_sdk.web._ua import is_bot, parse_user_agent

UAS = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
     ("mobile", "Safari", "17.1", "iOS", "17.1")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", ("desktop", "Chrome", "120.0", "Windows", "10")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
     ("desktop", "Edge", "120.0", "Windows", "10")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.2 Safari/605.1.15", ("desktop", "Safari", "17.2", "macOS", "10.15.7")),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
     ("desktop", "Firefox", "121.0", "Linux", None)),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
     ("mobile", "Samsung Internet", "23.0", "Android", "14")),
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", ("tablet", "Chrome", "120.0", "Android", "13")),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
     ("tablet", "Chrome", "120.0", "iPadOS", "16.6")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0", ("desktop", "Opera", "106.0", "Windows",
                                                     "10")),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", ("desktop", "Chrome", "120.0", "ChromeOS", None)),
    ("Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
     ("desktop", "Internet Explorer", "11.0", "Windows", "7")),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     ("bot", None, None, None, None)),
    ("", ("unknown", None, None, None, None)),
]


@pytest.mark.parametrize(("ua", "expected"), UAS, ids=[e[0][:40] or "empty" for e in UAS])
def test_user_agent_parser(ua, expected) -> None:
    """Common user agents give device type, browser (major.minor) and OS."""
    got = parse_user_agent(ua)
    assert (got["device"], got["browser"], got["browser_version"], got["os"],
            got["os_version"]) == expected
    assert got["bot"] is (expected[0] == "bot")


def test_user_agent_parser_returns_fresh_dicts_and_bounds_input() -> None:
    """Results are new dicts (a caller mutating one cannot corrupt the cache) and hostile,
    huge headers are cheap; bots, HTTP libraries and headless browsers count as bots."""
    a = parse_user_agent(UAS[0][0])
    a["device"] = "x"
    assert parse_user_agent(UAS[0][0])["device"] == "mobile"
    assert parse_user_agent("Mozilla/5.0 " + "(" * 100_000)["device"] in ("unknown", "desktop")
    assert parse_user_agent(None)["device"] == "unknown"
    for ua in ("curl/8.4.0", "python-requests/2.31", "Mozilla/5.0 HeadlessChrome/120.0",
               "", None):
        assert is_bot(ua), ua
    assert not is_bot(UAS[1][0])


def test_token_bucket_refills_and_survives_clock_steps() -> None:
    """The bucket refills at `rate`, caps at `burst`, and a clock that steps back refills
    nothing; memory is bounded by `max_keys`."""
    now = [100.0]
    limiter = TokenBucketLimiter(10, 2, max_keys=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]
    now[0] = 50.0  # back in time
    assert limiter.acquire("a") == pytest.approx(0.1)
    now[0] = 100.15
    assert limiter.acquire("a") == 0.0
    now[0] = 1000.0
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]
    for key in "bcdef":
        limiter.acquire(key)
    assert len(limiter) == 3
    with pytest.raises(ValueError):
        TokenBucketLimiter(0, 1)


def test_cookie_helpers() -> None:
    """Cookie headers parse leniently (first value wins, quotes stripped, junk skipped); only
    plain ids are valid; Set-Cookie carries the configured flags."""
    assert parse_cookies('a=1; junk; b="two"; a=3; =x; c=') == {"a": "1", "b": "two", "c": ""}
    assert parse_cookies(None) == {}
    assert valid_visitor_id("6f0c-AB_1.2:3") == "6f0c-AB_1.2:3"
    for bad in ("", "-lead", "a b", "<x>", "x" * 200, None):
        assert valid_visitor_id(bad) is None
    cookie = CookieSettings(samesite="None", secure=False, httponly=False).header("v1")
    assert cookie == "persona_id=v1; Max-Age=34560000; Path=/; Secure; SameSite=None"


def test_consent_cookie_format() -> None:
    """The consent cookie is URL-encoded JSON of booleans; anything else reads as absent
    (grants nothing), including the JS tag's encodeURIComponent spelling being read back."""
    value = write_consent_cookie({"analytics": True, "ads": False})
    assert value == "%7B%22analytics%22%3Atrue%2C%22ads%22%3Afalse%7D"
    assert read_consent_cookie(value) == {"analytics": True, "ads": False}
    assert read_consent_cookie('{"analytics":true}') == {"analytics": True}
    for bad in (None, "", "%7B", "[true]", '{"a":"yes"}', '{"a":1}', "%ff%fe",
                "x" * 5000, '{"": true}'):
        assert read_consent_cookie(bad) is None, bad


def test_cors_policy_matching() -> None:
    """Exact origins and `*.` wildcards match; the bare domain, look-alikes, other schemes and
    ports do not; the request's own host always does; `*` allows any but `null`."""
    policy = CorsPolicy(["https://shop.example/", "https://*.brand.example"])
    assert policy.allowed("https://SHOP.example", None)
    assert policy.allowed("https://a.brand.example", None)
    assert policy.allowed("https://a.b.brand.example", None)
    for origin in ("http://shop.example", "https://brand.example", "https://evilbrand.example",
                   "https://a.brand.example:8443", "null", "https://shop.example\r\nx: y"):
        assert not policy.allowed(origin, None), origin
    assert policy.allowed("http://localhost:8000", "localhost:8000")
    anyone = CorsPolicy(["*"])
    assert anyone.allowed("https://x.example", None)
    assert not anyone.allowed("null", None)


def test_basic_auth_user() -> None:
    """The user part of Basic auth is the write key; malformed headers give None."""
    assert basic_auth_user("Basic d2tfMTo=") == "wk_1"
    assert basic_auth_user("basic d2tfMQ==") == "wk_1"
    for bad in (None, "", "Bearer x", "Basic !!!", "Basic Og=="):
        assert basic_auth_user(bad) is None
