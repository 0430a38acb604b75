"""The JS tag (`persona.js`): its size, and its behaviour in headless Chromium against the
collector on a minimal same-origin page."""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from collector_helpers import make_persona, uvicorn_server

from persona_sdk.config import CollectorConfig
from persona_sdk.testing import CaptureDestination
from persona_sdk.web._collector import Collector
from persona_sdk.web._script import script_source

WRITE_KEY = "wk_browser"
MAX_GZIP_BYTES = 3 * 1024


def test_tag_is_at_most_3kb_gzipped_and_self_contained() -> None:
    """The tag is ≤ 3 KB gzipped, loads nothing else (no imports, no absolute URLs) and uses
    no syntax newer than ES2017 (no `?.`, `??`, object spread)."""
    src = script_source()
    size = len(gzip.compress(src, compresslevel=9))
    assert size <= MAX_GZIP_BYTES, size
    text = src.decode()
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    assert "import(" not in code
    assert not re.search(r"https?://", code)
    assert "?." not in code
    assert "??" not in code
    assert not re.search(r"\{\s*\.\.\.", code)


# -- the browser ------------------------------------------------------------------------------


class Site:
    """A same-origin page plus the collector; can fail the next beacons with a 503."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.fail_next = 0
        self.beacons: list[str] = []
        self._lock = threading.Lock()

    def page(self, extra: str = "", attrs: str = "") -> bytes:
        return (
            "<!doctype html><html><head><title>Shop</title>"
            f"{extra}<script async src='/persona.js' data-write-key='{WRITE_KEY}' "
            f"data-flush-ms='50' data-retry-ms='40' {attrs}></script>"
            "</head><body><h1>Shop</h1><a id='next' href='/next'>next</a></body></html>"
        ).encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/collect":
            with self._lock:
                self.beacons.append(scope["method"])
                failing = scope["method"] == "POST" and self.fail_next > 0
                if failing:
                    self.fail_next -= 1
            if failing:
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"error":"down"}'})
                return
        if scope["type"] == "http" and scope["path"] in ("/", "/next", "/stub", "/manual"):
            q = scope.get("query_string", b"").decode()
            extra = ""
            attrs = ""
            if scope["path"] == "/stub":
                extra = ("<script>window.persona={q:[]};['track','identify','consent']"
                         ".forEach(function(m){persona[m]=function(){persona.q.push([m,"
                         "[].slice.call(arguments)])}});persona.track('Early',{n:1});</script>")
            if scope["path"] == "/manual" or "slow" in q:
                attrs = "data-auto-page='false'" + (" data-flush-ms='60000'" if "slow" in q
                                                    else "")
            body = self.page(extra, attrs)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.collector.asgi(scope, receive, send)




@pytest.fixture
def site() -> Iterator[tuple[str, Site, CaptureDestination]]:
    persona, capture = make_persona()
    collector = Collector(persona, CollectorConfig(write_keys=[WRITE_KEY]))
    app = Site(collector)
    with uvicorn_server(app) as url:
        # "localhost" is a secure context, so Secure cookies and crypto.randomUUID work on http
        yield url.replace("127.0.0.1", "localhost"), app, capture
    persona.close()


@pytest.fixture
def page(browser: Any, site: Any) -> Iterator[tuple[Any, list[str]]]:
    """A fresh browser context and page; also records every URL the page requested."""
    context = browser.new_context()
    pg = context.new_page()
    requested: list[str] = []
    pg.on("request", lambda r: requested.append(r.url))
    yield pg, requested
    context.close()


def _events(capture: CaptureDestination, n: int) -> list[dict[str, Any]]:
    assert capture.wait_for(n, timeout=10), capture.events
    return capture.events


@pytest.mark.e2e
def test_auto_page_view_track_identify_and_the_cookie(page, site) -> None:
    """Loading the page sends a page view by itself; `persona.track` and `persona.identify`
    reach the collector; every event carries the server-set HttpOnly cookie's id, the page
    context, the browser's user agent; and the page requests nothing from another origin."""
    pg, requested = page
    url, _app, capture = site
    pg.goto(url + "/")
    (view,) = _events(capture, 1)
    assert view["type"] == "page"
    assert view["context"]["page"]["path"] == "/"
    assert view["context"]["page"]["title"] == "Shop"
    assert view["context"]["library"]["name"] == "persona.js"
    assert "HeadlessChrome" in view["context"]["userAgent"] or "Chrome" in view["context"][
        "userAgent"]
    cookies = {c["name"]: c for c in pg.context.cookies()}
    visitor = cookies["persona_id"]
    assert visitor["httpOnly"] is True
    assert visitor["sameSite"] == "Lax"
    assert visitor["secure"] is True
    assert view["anonymousId"] == visitor["value"]
    assert pg.evaluate("document.cookie").find("persona_id") == -1  # not readable by scripts

    pg.evaluate("persona.track('Added to Cart', {sku: 'A-1', price: 12.5})")
    pg.evaluate("persona.identify('user-7', {plan: 'pro'})")
    pg.evaluate("persona.track('Checkout Started')")
    events = _events(capture, 4)
    by_name = {e.get("event") or e["type"]: e for e in events}
    assert by_name["Added to Cart"]["properties"] == {"sku": "A-1", "price": 12.5}
    assert by_name["identify"]["userId"] == "user-7"
    assert by_name["identify"]["traits"] == {"plan": "pro"}
    assert by_name["Checkout Started"]["userId"] == "user-7"
    assert {e["anonymousId"] for e in events} == {visitor["value"]}
    assert len({e["messageId"] for e in events}) == 4
    assert all(u.startswith(url + "/") for u in requested), requested


@pytest.mark.e2e
def test_consent_is_recorded_once_and_rides_on_events(page, site) -> None:
    """`persona.consent({...})` writes the consent cookie (URL-encoded JSON) and later events
    carry `context.consent.categoryPreferences`, also after a reload (read back from the
    cookie); before any choice, events carry no consent."""
    pg, _ = page
    url, _app, capture = site
    pg.goto(url + "/")
    first = _events(capture, 1)[0]
    assert "consent" not in first["context"]
    got = pg.evaluate("persona.consent({analytics: true, advertising: false, bogus: 'yes'})")
    assert got == {"analytics": True, "advertising": False}
    cookie = {c["name"]: c["value"] for c in pg.context.cookies()}["persona_consent"]
    assert cookie == "%7B%22analytics%22%3Atrue%2C%22advertising%22%3Afalse%7D"
    pg.evaluate("persona.track('After Consent')")
    after = _events(capture, 2)[1]
    assert after["context"]["consent"] == {
        "categoryPreferences": {"analytics": True, "advertising": False}}
    pg.reload()
    again = _events(capture, 3)[2]
    assert again["type"] == "page"
    assert again["context"]["consent"]["categoryPreferences"]["analytics"] is True


@pytest.mark.e2e
def test_failed_sends_are_retried(page, site) -> None:
    """When the collector answers 503, the tag retries with backoff until it is accepted, and
    the event is delivered once."""
    pg, _ = page
    url, app, capture = site
    app.fail_next = 2
    pg.goto(url + "/manual")
    pg.evaluate("persona.track('Persistent')")
    (event,) = _events(capture, 1)
    assert event["event"] == "Persistent"
    assert app.beacons.count("POST") >= 3
    assert app.fail_next == 0


@pytest.mark.e2e
def test_leaving_the_page_sends_the_queue_by_beacon(page, site) -> None:
    """An event still queued when the visitor navigates away is sent on `pagehide` (through
    `sendBeacon`), not lost."""
    pg, _ = page
    url, _app, capture = site
    pg.goto(url + "/manual?slow=1")
    pg.evaluate("persona.track('Leaving')")
    assert capture.events == []
    pg.click("#next")
    events = _events(capture, 2)
    assert "Leaving" in [e.get("event") for e in events]


@pytest.mark.e2e
def test_snippet_calls_made_before_the_tag_loads_are_replayed(page, site) -> None:
    """Calls queued by the inline stub (`persona.q`) before the tag loaded are sent."""
    pg, _ = page
    url, _app, capture = site
    pg.goto(url + "/stub")
    events = _events(capture, 2)
    assert sorted(e.get("event") or e["type"] for e in events) == ["Early", "page"]


@pytest.mark.e2e
def test_pixel_fallback_loads_as_an_image(page, site) -> None:
    """`<img src="/p.gif?...">` loads a 1x1 GIF and records the event."""
    pg, _ = page
    url, _app, capture = site
    pg.goto(url + "/manual")
    width = pg.evaluate(
        """() => new Promise((ok) => { const i = new Image();
             i.onload = () => ok(i.naturalWidth); i.onerror = () => ok(-1);
             i.src = '/p.gif?writeKey=wk_browser&event=Email%20Opened'; })"""
    )
    assert width == 1
    (event,) = _events(capture, 1)
    assert event["event"] == "Email Opened"
