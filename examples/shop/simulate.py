"""``--simulate N``: N scripted visitors drive the running shop over real HTTP, then the
results are checked against what the destinations received.

Each visitor is a small browser stand-in: its own cookie jar (it keeps ``Secure`` cookies on
``http://127.0.0.1`` as browsers do on loopback), a realistic user agent, and the JS tag's
two jobs done by hand: writing the consent cookie (``persona.consent({...})``) and posting
page views and product views to the collector. Visitors land on the home page or a product
page, answer the consent banner (accept, analytics only, reject, or ignore it; some send
``Sec-GPC: 1``), browse, add to the cart and buy.

The checks (any failure makes the exit code non-zero):

- delivery: every destination delivered what it was given, nothing dropped or dead;
- consent: gated destinations received events only from visitors who granted the purpose
  (GPC withdrawing ``advertising``), and every consenting buyer's order reached them;
- orders: the ``orders`` destination (no consent needed) got every order, with its revenue;
- exposures: at most one ``Experiment Viewed`` per visitor and experiment, naming the
  variation the visitor was shown; every visitor saw one variation throughout;
- segments: big spenders (100 EUR or more) see the VIP box on their next visit.
"""

from __future__ import annotations

import random
import time
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import msgspec
from attrs import define, field

from .catalog import PRODUCTS
from .personalize import CLICK_RATES
from .server import RunningShop

__all__ = ["Outcome", "Visitor", "check", "drive", "simulate"]

WRITE_KEY = "demo-shop"
CONSENT_COOKIE = "persona_consent"
_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
)
_CHOICES = {
    "accept": {"analytics": True, "advertising": True},
    "analytics": {"analytics": True, "advertising": False},
    "deny": {"analytics": False, "advertising": False},
}


@define
class Visitor:
    """One simulated visitor and what happened to it."""

    index: int
    user_agent: str
    choice: str  # accept | analytics | deny | ignore
    gpc: bool
    cookies: dict[str, str] = field(factory=dict)
    anonymous_id: str | None = None
    variations: set[str] = field(factory=set)
    orders: list[tuple[str, float]] = field(factory=list)
    vip_expected: bool | None = None
    vip_shown: bool | None = None
    hero_clicks: int = 0

    def granted(self, purpose: str) -> bool:
        """Whether the visitor granted ``purpose`` (GPC withdraws advertising)."""
        if purpose == "advertising" and self.gpc:
            return False
        return bool(_CHOICES.get(self.choice, {}).get(purpose, False))


class _Browser:
    """An httpx client with a per-visitor cookie jar that keeps loopback Secure cookies."""

    def __init__(self, client: httpx.Client, visitor: Visitor) -> None:
        self.client = client
        self.v = visitor

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"user-agent": self.v.user_agent, "accept-language": "en-GB,en;q=0.8"}
        if self.v.gpc:
            headers["sec-gpc"] = "1"
        if self.v.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.v.cookies.items())
        headers.update(extra or {})
        return headers

    def _keep(self, response: httpx.Response) -> None:
        for raw in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                self.v.cookies[name] = morsel.value

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self._headers(kwargs.pop("headers", None))
        response = self.client.request(method, path, headers=headers, **kwargs)
        self._keep(response)
        if response.status_code in (302, 303) and "location" in response.headers:
            return self.request("GET", response.headers["location"])
        response.raise_for_status()
        return response

    def get(self, path: str) -> str:
        text = self.request("GET", path).text
        if self.v.anonymous_id is None:
            self.v.anonymous_id = self.v.cookies.get("persona_id")
        return text

    def beacon(
        self, messages: Iterable[dict[str, Any]], page: dict[str, str] | None = None
    ) -> None:
        """What persona.js sends: a text/plain batch to ``/collect?writeKey=...``, without an
        anonymousId (the collector takes it from the visitor cookie)."""
        consent = self.v.cookies.get(CONSENT_COOKIE)
        batch = []
        for m in messages:
            context: dict[str, Any] = {"library": {"name": "persona.js", "version": "0.1.0"}}
            if page:
                context["page"] = dict(page)
            if consent:
                context["consent"] = {"categoryPreferences": msgspec.json.decode(unquote(consent))}
            batch.append({**m, "messageId": str(uuid.uuid4()), "context": context})
        self.request("POST", f"/collect?writeKey={WRITE_KEY}",
                     content=msgspec.json.encode({"batch": batch}),
                     headers={"content-type": "text/plain;charset=UTF-8"})

    def page(self, path: str, name: str, landing: str | None = None) -> None:
        """A page view; ``landing`` is the query and referrer the visit arrived with."""
        page = None
        if landing is not None:
            query, _, referrer = landing.partition(" ")
            page = {"url": f"https://shop.example{path}{query}", "referrer": referrer}
        self.beacon([{"type": "page", "name": name, "properties": {"path": path}}], page)

    def consent(self, choice: dict[str, bool]) -> None:
        """``persona.consent({...})``: the JS tag stores the choice in the consent cookie."""
        self.v.cookies[CONSENT_COOKIE] = quote(msgspec.json.encode(choice).decode(), safe="")


def _attr(html: str, name: str) -> str | None:
    marker = f'{name}="'
    start = html.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return html[start:html.index('"', start)]


# where visits come from (for attribution): a query and a referrer, picked per visitor
_LANDINGS = (
    "",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
    "?gclid=sim-click",
    " https://blog.example/best-bags",
)


def _visit(browser: _Browser, rng: random.Random) -> None:
    v = browser.v
    landing_product = rng.choice(PRODUCTS)
    lands_home = rng.random() < 0.5
    landed: list[str] = []

    def landing() -> str | None:
        # the first page view carries the campaign; chosen from the id, not from rng, so the
        # seeded visitors keep their behaviour
        if landed:
            return None
        landed.append("x")
        return _LANDINGS[zlib.crc32((v.anonymous_id or "").encode()) % len(_LANDINGS)]

    def home() -> None:
        html = browser.get("/")
        banner = _attr(html, "data-banner")
        if banner:
            v.variations.add(banner)
        browser.page("/", "Home", landing())
        # the hero's creatives have different simulated click rates (the bandit learns
        # them); whether this visitor clicks is drawn from its id, not from rng, so the
        # seeded visitors keep their behaviour
        creative, link = _attr(html, "data-creative"), _attr(html, 'id="hero-cta" href')
        if creative in CLICK_RATES and link:
            draw = zlib.crc32(f"{v.anonymous_id}:{creative}".encode()) % 1000 / 1000
            if draw < CLICK_RATES[creative]:
                browser.get(unescape(link))
                v.hero_clicks += 1
        if v.vip_expected is not None:
            v.vip_shown = 'data-segment="big_spender"' in html

    if lands_home:
        home()
    else:
        browser.get(f"/products/{landing_product.slug}")
    if v.choice != "ignore":
        browser.consent(_CHOICES[v.choice])
    if not lands_home:
        browser.page(f"/products/{landing_product.slug}", landing_product.name, landing())
    home()  # a second home view: the exposure must not be logged twice
    browser.get("/products")
    browser.page("/products", "Catalog")
    for product in rng.sample(PRODUCTS, rng.randint(1, 3)):
        browser.get(f"/products/{product.slug}")
        browser.beacon([{"type": "track", "event": "Product Viewed",
                         "properties": {"product_id": product.slug, "price": product.price}}])
        if rng.random() < 0.6:
            browser.request("POST", "/cart/add",
                            content=f"slug={product.slug}&quantity={rng.randint(1, 2)}",
                            headers={"content-type": "application/x-www-form-urlencoded"})
    if rng.random() < 0.6:
        html = browser.request("POST", "/checkout", content="email=visitor%40example.com",
                               headers={"content-type":
                                        "application/x-www-form-urlencoded"}).text
        order_id = _attr(html, "data-order-id")
        total = _attr(html, "data-order-total")
        if order_id and total:
            v.orders.append((order_id, float(total)))
            v.vip_expected = sum(t for _, t in v.orders) >= 100
            home()


@define
class Outcome:
    """The simulation's summary and the checks that failed."""

    lines: list[str] = field(factory=list)
    failures: list[str] = field(factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.failures


def _check(outcome: Outcome, ok: bool, what: str) -> None:
    outcome.lines.append(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        outcome.failures.append(what)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    return [msgspec.json.decode(line) for line in raw.splitlines() if line.strip()]


def drive(shop: RunningShop, n: int, *, seed: int = 7) -> list[Visitor]:
    """Send ``n`` scripted visitors through ``shop`` over HTTP; return what each one did."""
    rng = random.Random(seed)
    visitors = [
        Visitor(
            index=i,
            user_agent=rng.choice(_UAS),
            choice=rng.choices(["accept", "analytics", "deny", "ignore"], [5, 2, 2, 1])[0],
            gpc=rng.random() < 0.2,
        )
        for i in range(n)
    ]
    with httpx.Client(base_url=shop.url, timeout=10.0) as client:
        for v in visitors:
            _visit(_Browser(client, v), rng)
    return visitors


def simulate(
    shop: RunningShop, n: int, *, seed: int = 7, var_dir: Path, drill_visitors: int = 5000
) -> Outcome:
    """Drive ``n`` visitors through ``shop`` and check what every destination received."""
    started = time.perf_counter()
    visitors = drive(shop, n, seed=seed)
    elapsed = time.perf_counter() - started
    flushed = shop.persona.flush(timeout=15.0)
    out = check(shop, visitors, flushed=flushed, elapsed=elapsed, var_dir=var_dir)
    # after the HTTP checks: the drill's events reach the same sink
    from .personalize import drill

    lines, failures = drill(var_dir=var_dir, sink=shop.sink, sink_url=f"{shop.url}/_sink",
                            visitors=drill_visitors, seed=seed)
    out.lines.extend(lines)
    out.failures.extend(failures)
    return out


def check(shop: RunningShop, visitors: list[Visitor], *, flushed: bool, elapsed: float,
          var_dir: Path) -> Outcome:
    """Compare what the destinations received with what the visitors did and chose."""
    out = Outcome()
    by_id = {v.anonymous_id: v for v in visitors}
    received: dict[str, list[dict[str, Any]]] = dict(shop.sink.snapshot())
    received["warehouse"] = _read_jsonl(var_dir / "events.jsonl")
    received["orders"] = _read_jsonl(var_dir / "orders.jsonl")
    stats = shop.persona.stats()["destinations"]
    purchases = [o for v in visitors for o in v.orders]

    out.lines.append(f"simulated {len(visitors)} visitors in {elapsed:.1f}s "
                     f"({sum(len(v.orders) for v in visitors)} orders)")
    out.lines.append("events per destination (tracked / delivered / filtered, received):")
    for name in sorted(stats):
        s = stats[name]
        filtered = s.get("filtered", {})
        n_filtered = sum(filtered.values()) if isinstance(filtered, dict) else filtered
        out.lines.append(f"  {name:<10} {s.get('tracked', 0):>6} / {s.get('delivered', 0):>6} "
                         f"/ {n_filtered:>6}   received {len(received.get(name, []))}")
    variations = Counter(next(iter(v.variations)) for v in visitors if len(v.variations) == 1)
    out.lines.append("hero-banner variations shown: "
                     + ", ".join(f"{k} {n}" for k, n in sorted(variations.items())))
    hero_log = shop.app.state.hero_log
    overall = hero_log.history(points=1)
    share = overall[0]["share"] if overall else {}
    out.lines.append(f"home-hero (bandit, live pages): {len(hero_log)} shown, "
                     f"{sum(v.hero_clicks for v in visitors)} clicks; share "
                     + ", ".join(f"{k} {n:.0%}" for k, n in sorted(share.items())))
    out.lines.append("checks:")

    _check(out, flushed, "flush() delivered everything in time")
    bad = sorted(name for name, s in stats.items()
                 if s.get("dropped_total") or s.get("dead_lettered") or s.get("rejected_total")
                 or s.get("queued") or s.get("in_flight"))
    _check(out, not bad, f"nothing dropped, rejected, dead-lettered or left queued {bad or ''}")

    for dest, purpose in (("warehouse", "analytics"), ("analytics", "analytics"),
                          ("ads", "advertising")):
        leaks = [e for e in received.get(dest, [])
                 if e.get("anonymousId") in by_id and not by_id[e["anonymousId"]].granted(purpose)]
        _check(out, not leaks,
               f"consent respected: {dest} got no event without {purpose} ({len(leaks)} leaks)")
        expected = {oid for v in visitors if v.granted(purpose) for oid, _ in v.orders}
        got = {(e.get("properties") or {}).get("order_id") for e in received.get(dest, [])}
        _check(out, expected <= got,
               f"every order of a visitor who granted {purpose} reached {dest} "
               f"({len(expected & got)}/{len(expected)})")

    paged = {e.get("anonymousId") for e in received.get("analytics", []) if e.get("type") == "page"}
    consenting = {v.anonymous_id for v in visitors if v.granted("analytics")}
    _check(out, consenting <= paged,
           f"page views sent through the collector reached analytics, under the cookie's id "
           f"({len(consenting & paged)}/{len(consenting)} consenting visitors)")

    orders = {(e.get("properties") or {}).get("order_id"): (e.get("properties") or {})
              for e in received["orders"]}
    _check(out, len(received["orders"]) == len(purchases)
           and all(abs(orders.get(oid, {}).get("revenue", -1) - total) < 0.01
                   for oid, total in purchases),
           f"orders destination got every order once, with its revenue "
           f"({len(received['orders'])}/{len(purchases)})")

    seen: Counter[tuple[Any, Any]] = Counter()
    mismatched = 0
    for event in received.get("analytics", []):
        if event.get("event") != "Experiment Viewed":
            continue
        props = event.get("properties") or {}
        seen[(event.get("anonymousId"), props.get("experiment_id"))] += 1
        v = by_id.get(event.get("anonymousId"))
        shown = props.get("variation_name"), props.get("variation_id")
        if v is not None and not v.variations & {str(s) for s in shown}:
            mismatched += 1
    dupes = sum(1 for n in seen.values() if n > 1)
    _check(out, dupes == 0, f"exposures deduplicated ({len(seen)} exposures, {dupes} repeated)")
    _check(out, mismatched == 0, f"exposures name the variation shown ({mismatched} mismatched)")
    _check(out, all(len(v.variations) == 1 for v in visitors),
           "every visitor saw one hero variation throughout")

    big = [v for v in visitors if v.vip_expected is not None]
    wrong = [v.index for v in big if v.vip_shown != v.vip_expected]
    _check(out, not wrong, f"big spenders see the VIP box, others do not ({len(big)} buyers, "
                           f"{len(wrong)} wrong)")
    per_purpose: dict[str, int] = defaultdict(int)
    for v in visitors:
        per_purpose[v.choice + ("+gpc" if v.gpc else "")] += 1
    out.lines.insert(1, "consent choices: " + ", ".join(
        f"{k} {n}" for k, n in sorted(per_purpose.items())))
    return out
