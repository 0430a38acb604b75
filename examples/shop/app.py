"""The demo shop: a Starlette app that embeds persona-sdk through its middleware.

``build_persona`` loads ``persona.toml`` (destinations write into the shop's ``var`` folder
and post to the shop's own local sink); ``create_app`` wires the middleware, the first-party
collector (``/persona.js``, ``/v1/*``, ``/collect``), the shop's pages, the sink and the
dashboard.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from persona_sdk import Persona
from persona_sdk.web import Collector, render_bootstrap
from persona_sdk.web.starlette import PersonaMiddleware

from . import pages
from .catalog import Product, by_slug
from .sink import Sink

__all__ = ["CONTAINER", "Answered", "Exposures", "HeroLog", "Shop", "build_persona", "create_app"]

HERE = Path(__file__).resolve().parent
CONTAINER = HERE / "persona.toml"
CONSENT_COOKIE = "persona_consent"
#: Paths the visitor middleware skips: assets, the collector (it sets its own cookie), tools.
NO_VISITOR = ("/static/", "/persona.js", "/v1/", "/collect", "/p.gif", "/_sink", "/dashboard")


class Exposures:
    """Who saw which variation, counted by the SDK's ``on_exposure`` hook (every exposure the
    SDK logs, once per visitor, before consent gates what reaches each destination)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, Counter[str]] = defaultdict(Counter)

    def __call__(self, visitor: Any, result: Any) -> None:
        with self._lock:
            self._seen[result.experiment_key][result.variation_key] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Exposures per experiment and variation."""
        with self._lock:
            return {exp: dict(per) for exp, per in self._seen.items()}


def build_persona(
    *, var_dir: Path, sink_url: str, exposures: Exposures | None = None, **kwargs: Any
) -> Persona:
    """The shop's ``Persona``: ``persona.toml`` with the data folder and sink URL filled in."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SHOP_VAR": str(var_dir), "SHOP_SINK_URL": sink_url.rstrip("/")}
    return Persona.from_file(CONTAINER, env=env, on_exposure=exposures, **kwargs)


class Shop:
    """Carts and orders, in memory (one event loop touches them)."""

    def __init__(self) -> None:
        self.carts: dict[str, Counter[str]] = defaultdict(Counter)
        self.orders: dict[str, dict[str, Any]] = {}

    def lines(self, visitor_id: str) -> list[tuple[Product, int]]:
        out = []
        for slug, quantity in self.carts.get(visitor_id, Counter()).items():
            product = by_slug(slug)
            if product is not None:
                out.append((product, quantity))
        return out


async def _form(request: Request) -> dict[str, str]:
    # urlencoded forms only: keeps the demo free of a multipart dependency
    body = await request.body()
    return dict(parse_qsl(body.decode("utf-8", "replace")))


class Answered:
    """Wraps the collector and counts the requests it has answered (events ingested by then):
    the dashboard shows the count, the browser tests wait on it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0
        self._cond = threading.Condition()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            with self._cond:
                self.count += 1
                self._cond.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        """Block until ``n`` requests were answered in all; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= n, timeout=timeout)


def _collector_routes(collector: Answered) -> list[BaseRoute]:
    # The collector is an ASGI app; Route (not Mount) keeps the full path it routes on.
    return [
        Route(path, endpoint=collector)
        for path in ("/persona.js", "/collect", "/p.gif", "/v1/{endpoint:path}")
    ]


class HeroLog:
    """The creative the home hero showed on each home page, in order (the last 100,000):
    the dashboard charts the bandit's share per creative over time from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shown: deque[str] = deque(maxlen=100_000)

    def add(self, creative: str) -> None:
        with self._lock:
            self._shown.append(creative)

    def __len__(self) -> int:
        return len(self._shown)

    def history(self, points: int = 20) -> list[dict[str, Any]]:
        """``[{"visitors": n, "share": {creative: share}}]``: each creative's share of the
        hero's views in consecutive windows (at most ``points`` of them)."""
        with self._lock:
            shown = list(self._shown)
        if not shown:
            return []
        creatives = sorted(set(shown))
        size = max(1, -(-len(shown) // points))
        out = []
        for end in range(size, len(shown) + size, size):
            window = Counter(shown[end - size:end])
            total = sum(window.values())
            out.append({"visitors": min(end, len(shown)),
                        "share": {c: window[c] / total for c in creatives}})
        return out


def _bandit_history(var_dir: Path | None) -> list[dict[str, Any]]:
    # written by the personalization drill of --simulate (examples/shop/personalize.py)
    if var_dir is None:
        return []
    try:
        found = json.loads((var_dir / "bandit.json").read_text())
    except (OSError, ValueError):
        return []
    return found if isinstance(found, list) else []


def create_app(
    persona: Persona,
    *,
    sink: Sink,
    exposures: Exposures | None = None,
    close_persona: bool = True,
    var_dir: Path | None = None,
) -> Starlette:
    """The shop as an ASGI app. ``close_persona`` closes (and flushes) it on shutdown."""
    shop = Shop()
    hero_log = HeroLog()
    exposures = exposures or Exposures()
    collector = Answered(Collector(persona))

    def render(request: Request, title: str, body: str, *, page: str,
               features: tuple[str, ...] = ()) -> HTMLResponse:
        visitor = request.state.persona
        html = pages.layout(
            title,
            body,
            page=page,
            bootstrap=render_bootstrap(visitor, features),
            cart_count=sum(shop.carts.get(visitor.anonymous_id, Counter()).values()),
            show_banner=CONSENT_COOKIE not in request.cookies,
            # every page view is a decision: the placement's cap (3 a day) is what stops it
            promo=pages.promo_banner(visitor.decide("promo-banner")),
        )
        return HTMLResponse(html)

    async def home(request: Request) -> Response:
        visitor = request.state.persona
        hero = visitor.decide("home-hero")
        if hero.item is not None:
            hero_log.add(hero.item.id)
        banner = visitor.feature("hero-banner")
        body = pages.home_page(
            hero=hero,
            banner=str(banner.value),
            variation=banner.variation.variation_key if banner.variation is not None else "",
            vip=visitor.is_on("vip-offer"),
            segments=sorted(visitor.segments),
            free_shipping=float(visitor.get("free-shipping-threshold", 75)),
            recommended=visitor.decide("recommended"),
        )
        return render(request, "Home", body, page="home", features=("hero-banner",))

    async def promo_click(request: Request) -> Response:
        # the hero's link: log the click (a click-rewarded bandit learns from it, once per
        # decision and item), then go where the creative points, on this site only
        visitor = request.state.persona
        q = request.query_params
        to = q.get("to", "/")
        if not to.startswith("/") or to.startswith("//"):
            to = "/"
        placement, item, decision = q.get("placement"), q.get("item"), q.get("decision")
        if placement and item and decision:
            visitor.track("Promotion Clicked", properties={
                "placement": placement, "position": placement, "promotion_id": item,
                "decision_id": decision, "segment": q.get("segment") or "*",
            })
        return RedirectResponse(to, status_code=303)

    async def catalog(request: Request) -> Response:
        return render(request, "Catalog", pages.catalog_page(), page="catalog")

    async def product(request: Request) -> Response:
        found = by_slug(request.path_params["slug"])
        if found is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        return render(request, found.name, pages.product_page(found), page="product")

    async def cart(request: Request) -> Response:
        visitor = request.state.persona
        body = pages.cart_page(
            shop.lines(visitor.anonymous_id),
            free_shipping=float(visitor.get("free-shipping-threshold", 75)),
        )
        return render(request, "Cart", body, page="cart")

    async def cart_add(request: Request) -> Response:
        visitor = request.state.persona
        form = await _form(request)
        found = by_slug(form.get("slug", ""))
        try:
            quantity = max(1, min(9, int(form.get("quantity", "1"))))
        except ValueError:
            quantity = 1
        if found is None:
            return HTMLResponse("<h1>Unknown product</h1>", status_code=400)
        shop.carts[visitor.anonymous_id][found.slug] += quantity
        visitor.track("Product Added", properties={
            "product_id": found.slug, "name": found.name, "category": found.category,
            "price": found.price, "quantity": quantity, "currency": "EUR",
        })
        return RedirectResponse("/cart", status_code=303)

    async def checkout(request: Request) -> Response:
        visitor = request.state.persona
        form = await _form(request)
        lines = shop.lines(visitor.anonymous_id)
        if not lines:
            return RedirectResponse("/cart", status_code=303)
        total = round(sum(p.price * q for p, q in lines), 2)
        order_id = "o-" + secrets.token_hex(4)
        properties: dict[str, Any] = {
            "order_id": order_id,
            "revenue": total,
            "currency": "EUR",
            "products": [
                {"product_id": p.slug, "price": p.price, "quantity": q} for p, q in lines
            ],
        }
        if form.get("email"):
            properties["email"] = form["email"]
        visitor.track("Order Completed", properties=properties)
        shop.orders[order_id] = {"visitor": visitor.anonymous_id, "total": total}
        shop.carts.pop(visitor.anonymous_id, None)
        return RedirectResponse(f"/orders/{order_id}", status_code=303)

    async def order(request: Request) -> Response:
        found = shop.orders.get(request.path_params["order_id"])
        if found is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        body = pages.order_page(request.path_params["order_id"], found["total"])
        return render(request, "Thank you", body, page="order")

    def dashboard_data() -> dict[str, Any]:
        sink_exposures: dict[str, Counter[str]] = defaultdict(Counter)
        for event in sink.events("analytics"):
            if event.get("event") == "Experiment Viewed":
                props = event.get("properties") or {}
                sink_exposures[str(props.get("experiment_id"))][
                    str(props.get("variation_id"))
                ] += 1
        return {
            "destinations": persona.stats()["destinations"],
            "exposures": exposures.snapshot(),
            "sink_exposures": {k: dict(v) for k, v in sink_exposures.items()},
            "sink": {k: dict(v) for k, v in sink.counts().items()},
            "orders": len(shop.orders),
            "collector_requests": collector.count,
            "lifecycle": {
                stage: len(persona.segment_members(f"lifecycle-{stage}"))
                for stage in ("new", "active", "at_risk", "lapsed", "reactivated")
            },
            "attribution": persona.attribution_report(),
            # the live hero's share per creative; the drill's until the hero has traffic
            "bandit": hero_log.history() or _bandit_history(var_dir),
            "bandit_source": "live" if len(hero_log) else "drill",
        }

    async def dashboard(request: Request) -> Response:
        return HTMLResponse(
            pages.layout("Dashboard", pages.dashboard_page(dashboard_data()), page="dashboard",
                         bootstrap="", cart_count=0, show_banner=False, tag=False)
        )

    async def dashboard_json(request: Request) -> Response:
        return JSONResponse(dashboard_data())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if close_persona:
            await persona.aclose()

    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/products", catalog),
        Route("/products/{slug}", product),
        Route("/cart", cart),
        Route("/cart/add", cart_add, methods=["POST"]),
        Route("/checkout", checkout, methods=["POST"]),
        Route("/orders/{order_id}", order),
        Route("/promo/click", promo_click),
        Route("/dashboard", dashboard),
        Route("/dashboard.json", dashboard_json),
        Route("/_sink", sink.show),
        Route("/_sink/{destination}", sink.receive, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        *_collector_routes(collector),
    ]
    middleware = [Middleware(PersonaMiddleware, persona=persona, exclude_paths=NO_VISITOR)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.persona = persona
    app.state.sink = sink
    app.state.shop = shop
    app.state.exposures = exposures
    app.state.collector = collector
    app.state.hero_log = hero_log
    return app
