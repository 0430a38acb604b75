"""The demo shop's real pages use the placements, over real HTTP (uvicorn): the home hero
is the ``home-hero`` bandit's creative and its link teaches the bandit, "recommended for
you" follows the visitor's category affinity, the promo banner stops at its cap, an
abandoned cart sends one signed webhook to the shop's sink, and the dashboard charts the
live hero's share per creative."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from examples.shop.personalize import CLICK_RATES
from examples.shop.server import RunningShop, start


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shop(tmp_path: Path, clock: Clock) -> Iterator[RunningShop]:
    running = start(var_dir=tmp_path, clock=clock)
    yield running
    running.stop()


class Browser(httpx.Client):
    """A client with a browser's cookie jar for loopback: it keeps ``Secure`` cookies too
    (httpx's jar would not send them over http://127.0.0.1) and sends them on every
    request, redirects included. ``jar`` holds them by name."""

    def __init__(self, url: str) -> None:
        self.jar: dict[str, str] = {}
        super().__init__(base_url=url, follow_redirects=True, timeout=30,
                         event_hooks={"request": [self._send], "response": [self._keep]})

    def _send(self, request: httpx.Request) -> None:
        request.headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def _keep(self, response: httpx.Response) -> None:
        for raw in response.headers.get_list("set-cookie"):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(raw)
            for name, morsel in parsed.items():
                self.jar[name] = morsel.value


def _browser(shop: RunningShop, consent: bool = True) -> Browser:
    client = Browser(shop.url)
    if consent:
        choice = json.dumps({"analytics": True, "advertising": True})
        client.jar["persona_consent"] = quote(choice, safe="")
    return client


def _all(html: str, attr: str) -> list[str]:
    return re.findall(rf'{attr}="([^"]*)"', html)


def test_home_renders_the_bandit_hero_recommendations_and_a_capped_promo(
    shop: RunningShop,
) -> None:
    """The hero is one of the four creatives, with the decision's id; two recommended
    products; the promo banner on the first three pages of the day, then no more."""
    with _browser(shop) as browser:
        home = browser.get("/")
        assert home.status_code == 200
        (creative,) = _all(home.text, "data-creative")
        assert creative in CLICK_RATES
        assert len(_all(home.text, "data-decision")) == 1
        assert len(_all(home.text, "data-recommended")) == 2
        assert "Recommended for you" in home.text
        assert _all(home.text, "data-banner")  # the hero-banner experiment's strap line
        promos = [len(_all(home.text, "data-promo"))]
        for path in ("/products", "/products/day-pack", "/cart", "/products"):
            promos.append(len(_all(browser.get(path).text, "data-promo")))
        assert promos == [1, 1, 1, 0, 0]


def test_recommended_follows_the_category_affinity(shop: RunningShop) -> None:
    """After adding a bag to the cart, the bag leads "recommended for you"."""
    with _browser(shop) as browser:
        assert browser.post("/cart/add", data={"slug": "day-pack"}).status_code == 200
        assert _all(browser.get("/").text, "data-recommended")[0] == "day-pack"
    with _browser(shop) as other:
        assert other.post("/cart/add", data={"slug": "rain-shell"}).status_code == 200
        assert _all(other.get("/").text, "data-recommended")[0] == "rain-shell"


def test_the_hero_link_teaches_the_bandit_once_and_redirects(shop: RunningShop) -> None:
    """Following the hero's link logs one Promotion Clicked (a reward for the creative
    shown) and lands on the creative's page; a second click of the same decision does not
    reward again; a link leaving the site lands on the home page instead."""
    with _browser(shop) as browser:
        home = browser.get("/").text
        (creative,) = _all(home, "data-creative")
        (link,) = re.findall(r'id="hero-cta" href="([^"]*)"', home)
        landed = browser.get(unescape(link))
        assert landed.status_code == 200
        assert landed.url.path != "/promo/click"
        browser.get(unescape(link))
        stats = shop.persona.counter_store.get_all("bandit:home-hero:*")
        assert stats[f"{creative}|n"] == 1.0
        assert stats[f"{creative}|s"] == 1.0
        outside = browser.get("/promo/click?to=//evil.example/x")
        assert outside.url.path == "/"
    assert shop.persona.stats()["content"]["clicks"] == 2


def test_an_abandoned_cart_sends_one_webhook_to_the_sink(
    shop: RunningShop, clock: Clock
) -> None:
    """A consenting visitor adds to the cart and leaves; 30 minutes later (the injected
    clock) the action fires once: one signed Cart Abandoned reaches the shop's webhook
    sink. A buyer's cart fires nothing."""
    with _browser(shop) as leaver, _browser(shop) as buyer:
        leaver.post("/cart/add", data={"slug": "trail-runner"})
        buyer.post("/cart/add", data={"slug": "camp-mug"})
        buyer.post("/checkout", data={})
        leaver_id = leaver.jar["persona_id"]
        clock.now += 31 * 60
        assert shop.persona.run_actions() == 1
        assert shop.persona.run_actions() == 0
        assert shop.persona.flush(60)
        assert shop.sink.wait_for(lambda e: any(
            x.get("event") == "Cart Abandoned" for x in e.get("webhook", ())), timeout=60)
    hooks = [e for e in shop.sink.events("webhook") if e.get("event") == "Cart Abandoned"]
    assert [h["anonymousId"] for h in hooks] == [leaver_id]


def test_the_dashboard_charts_the_live_hero(shop: RunningShop) -> None:
    """After home page views, the dashboard's chart is the live hero's share per creative,
    and /dashboard.json holds it."""
    for _ in range(4):
        with _browser(shop, consent=False) as browser:
            browser.get("/")
    data = httpx.get(f"{shop.url}/dashboard.json", timeout=30).json()
    assert data["bandit_source"] == "live"
    assert data["bandit"][-1]["visitors"] == 4
    assert abs(sum(data["bandit"][-1]["share"].values()) - 1.0) < 1e-9
    page = httpx.get(f"{shop.url}/dashboard", timeout=30).text
    assert 'data-bandit="live"' in page
    assert "live home pages" in page
