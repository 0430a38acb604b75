"""Headless Chromium drives the demo shop (served by a real uvicorn on a free port): it
accepts or refuses consent, browses and buys, and the sink shows what reached each vendor.

The browser is Debian's ``chromium`` driven by Playwright for Python; the tests skip, saying
why, when either is missing (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
import pytest

from examples.shop.server import RunningShop, start

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
COLLECTOR_PATHS = ("/collect", "/v1/", "/p.gif")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} "
                       "(apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    running = start(var_dir=tmp_path_factory.mktemp("shop"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Visit:
    """One browser context (a visitor), recording every request it makes."""

    def __init__(self, browser: Any, shop: RunningShop, **context: Any) -> None:
        self.shop = shop
        # visits run one at a time: the collector's count so far is not this visit's
        self.baseline = shop.app.state.collector.count
        self.context = browser.new_context(**context)
        self.requests: list[str] = []
        self.beacons = 0
        self.context.on("request", self._started)
        self.page = self.context.new_page()

    def _started(self, request: Any) -> None:
        self.requests.append(request.url)
        if any(p in request.url for p in COLLECTOR_PATHS):
            self.beacons += 1

    def go(self, path: str) -> None:
        self.page.goto(self.shop.url + path)

    def cookie(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.context.cookies() if c["name"] == name), None)

    @property
    def anonymous_id(self) -> str:
        found = self.cookie("persona_id")
        assert found is not None
        return str(found["value"])

    def settle(self) -> None:
        """Send what the JS tag still queues, wait until the collector answered every beacon,
        then flush the SDK: afterwards the sink holds everything this visitor caused.

        (Chromium hands keepalive fetches and beacons to the browser process, so Playwright
        never sees them finish; the shop counts what its collector answered instead.)
        """
        self.page.evaluate("window.persona.flush()")
        answered = self.shop.app.state.collector
        assert answered.wait_for(self.baseline + self.beacons, timeout=10.0)
        assert self.shop.persona.flush(timeout=10.0)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any, shop: RunningShop) -> Iterator[Callable[..., Visit]]:
    made: list[Visit] = []

    def make(**context: Any) -> Visit:
        made.append(Visit(browser, shop, **context))
        return made[-1]

    yield make
    for v in made:
        v.close()


def _buy(v: Visit, slug: str) -> str:
    v.go(f"/products/{slug}")
    v.page.click("#add-to-cart")
    v.page.wait_for_url("**/cart")
    v.page.click("#checkout")
    v.page.wait_for_url("**/orders/*")
    order_id = v.page.get_attribute("[data-order-id]", "data-order-id")
    assert order_id
    return order_id


def _mine(events: list[dict[str, Any]], anonymous_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("anonymousId") == anonymous_id]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines() if line]


def _var(shop: RunningShop) -> Path:
    return Path(shop.persona.container.destinations["orders"].options["path"]).parent


def test_an_accepting_visitor_browses_and_buys(visit: Callable[..., Visit],
                                               shop: RunningShop) -> None:
    """Consent accepted: the cookie is first-party, Secure, HttpOnly, Lax and at most 400
    days; page views, product views, cart and order reach analytics and ads; the strap line's
    exposure reaches analytics once, naming the variation shown; no other origin is asked."""
    v = visit()
    v.go("/products/trail-runner")  # land on a product: no experiment before consent
    cookie = v.cookie("persona_id")
    assert cookie is not None
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Lax")
    assert cookie["expires"] - time.time() <= 400 * 86400 + 60
    assert cookie["domain"] == "127.0.0.1"

    v.page.click("#consent-accept")
    assert v.page.is_hidden("#consent-banner")
    consent = v.cookie("persona_consent")
    assert consent is not None
    assert msgspec.json.decode(unquote(consent["value"])) == {
        "analytics": True, "advertising": True,
    }

    v.go("/")
    hero = v.page.get_attribute("[data-banner]", "data-banner")
    assert v.page.evaluate("window.__persona.features['hero-banner'].value") == hero
    v.go("/")  # seen again: still one exposure
    assert v.page.get_attribute("[data-banner]", "data-banner") == hero
    order_id = _buy(v, "rain-shell")
    v.settle()

    me = v.anonymous_id
    analytics = _mine(shop.sink.events("analytics"), me)
    names = [e.get("event") or e["type"] for e in analytics]
    assert names.count("Experiment Viewed") == 1
    exposure = next(e for e in analytics if e.get("event") == "Experiment Viewed")
    assert exposure["properties"]["variation_id"] == hero
    assert {"page", "Product Viewed", "Product Added", "Order Completed"} <= set(names)
    page_paths = {e["context"]["page"]["path"] for e in analytics if e["type"] == "page"}
    assert {"/", "/cart", "/products/rain-shell"} <= page_paths
    ads = {e["event"] for e in _mine(shop.sink.events("ads"), me)}
    assert ads == {"AddToCart", "Purchase"}
    orders = _mine(_jsonl(_var(shop) / "orders.jsonl"), me)
    assert [o["properties"]["order_id"] for o in orders] == [order_id]

    foreign = [u for u in v.requests if not u.startswith(shop.url + "/")]
    assert foreign == []


def test_a_refusing_visitor_reaches_no_vendor(visit: Callable[..., Visit],
                                              shop: RunningShop) -> None:
    """Consent refused: analytics, ads and the warehouse get nothing from the visitor (its
    page views and exposure included); the order is still recorded, as it must be."""
    v = visit()
    v.go("/")
    v.page.click("#consent-deny")
    consent = v.cookie("persona_consent")
    assert consent is not None
    assert msgspec.json.decode(unquote(consent["value"])) == {
        "analytics": False, "advertising": False,
    }
    v.go("/products")
    order_id = _buy(v, "day-pack")
    v.settle()

    me = v.anonymous_id
    assert _mine(shop.sink.events("analytics"), me) == []
    assert _mine(shop.sink.events("ads"), me) == []
    assert _mine(_jsonl(_var(shop) / "events.jsonl"), me) == []
    orders = _mine(_jsonl(_var(shop) / "orders.jsonl"), me)
    assert [o["properties"]["order_id"] for o in orders] == [order_id]
    assert shop.exposures.snapshot()["hero-test"]  # exposed, only never sent anywhere
    assert [u for u in v.requests if not u.startswith(shop.url + "/")] == []


def test_global_privacy_control_keeps_ads_out(visit: Callable[..., Visit],
                                              shop: RunningShop) -> None:
    """Accept all with Sec-GPC: 1: analytics gets the order, ads (a sale/sharing purpose)
    gets nothing."""
    v = visit(extra_http_headers={"Sec-GPC": "1"})
    v.go("/products/camp-mug")
    v.page.click("#consent-accept")
    order_id = _buy(v, "camp-mug")
    v.settle()

    me = v.anonymous_id
    analytics = _mine(shop.sink.events("analytics"), me)
    assert order_id in {(e.get("properties") or {}).get("order_id") for e in analytics}
    assert _mine(shop.sink.events("ads"), me) == []
