"""The Starlette/FastAPI middleware against real Starlette and FastAPI apps and a real Persona."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination
from persona_sdk.web import CookieSettings, VisitorOptions, render_bootstrap
from persona_sdk.web._consent import write_consent_cookie as write_consent
from persona_sdk.web.starlette import PersonaMiddleware

CONTAINER: dict[str, Any] = {
    "consent": {
        "purposes": {"analytics": {}, "advertising": {"sale_sharing": True}},
    },
    "tags": [{"name": "everything", "destination": "capture", "consent": ["analytics"]}],
    "decisions": {"url_overrides": True},
    "features": {
        "hero-banner": {
            "defaultValue": "classic",
            "rules": [{
                "key": "hero-test",
                "hashAttribute": "id",
                "variations": ["classic", "sale", "new"],
                "weights": [0.34, 0.33, 0.33],
            }],
        },
        "vip": {"defaultValue": False, "rules": [{"condition": {"country": "CH"}, "force": True}]},
    },
}
ANALYTICS = write_consent({"analytics": True, "advertising": True})
COOKIE = re.compile(r"persona_id=([^;]+);")


@pytest.fixture
def capture() -> CaptureDestination:
    return CaptureDestination(name="capture")


@pytest.fixture
def persona(capture: CaptureDestination) -> Iterator[Persona]:
    p = Persona(CONTAINER, destinations={"capture": capture})
    yield p
    p.close()


def exposures(persona: Persona, capture: CaptureDestination) -> list[dict[str, Any]]:
    assert persona.flush(timeout=5.0)
    return [e for e in capture.events if e.get("event") == "Experiment Viewed"]


async def describe(request: Request) -> Response:
    visitor = request.state.persona
    hero = visitor.feature("hero-banner")
    return JSONResponse({
        "anonymous_id": visitor.anonymous_id,
        "user_id": visitor.user_id,
        "hero": hero.value,
        "vip": visitor.is_on("vip"),
    })


async def page(request: Request) -> Response:
    visitor = request.state.persona
    return HTMLResponse(f"<head>{render_bootstrap(visitor, ['hero-banner'])}</head>")


async def static(request: Request) -> Response:
    return JSONResponse({"has_visitor": hasattr(request.state, "persona")})


def make_app(persona: Persona, **options: Any) -> Starlette:
    return Starlette(
        routes=[Route("/", describe), Route("/page", page), Route("/static/x", static)],
        middleware=[Middleware(PersonaMiddleware, persona=persona, **options)],
    )


async def get(app: Any, path: str = "/", **kwargs: Any) -> httpx.Response:
    """One request through httpx's ASGI transport (a fresh client: no cookie jar carried)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.example") as c:
        return await c.get(path, **kwargs)


def cookie_of(response: httpx.Response) -> str | None:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith("persona_id=")]
    assert len(found) <= 1
    return found[0] if found else None


async def test_a_new_visitor_gets_a_visitor_and_a_secure_lax_cookie(persona: Persona) -> None:
    """The first request resolves a visitor on request.state.persona and sets the cookie with
    Secure, HttpOnly, SameSite=Lax and a 400-day Max-Age."""
    response = await get(make_app(persona))
    body = response.json()
    header = cookie_of(response)
    assert header is not None
    m = COOKIE.match(header)
    assert m is not None
    assert m.group(1) == body["anonymous_id"]
    flags = {p.strip() for p in header.split(";")}
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=34560000"} <= flags
    assert body["hero"] in {"classic", "sale", "new"}


async def test_a_returning_visitor_keeps_its_id_and_is_not_re_cookied(persona: Persona) -> None:
    """The id comes from the cookie; no Set-Cookie is sent when it was already there."""
    response = await get(make_app(persona), headers={"cookie": "persona_id=v-42"})
    assert response.json()["anonymous_id"] == "v-42"
    assert cookie_of(response) is None


async def test_the_cookie_name_and_domain_come_from_the_container() -> None:
    """Without options, the collector section's cookie name and domain are used."""
    container = {**CONTAINER, "collector": {"cookie": {"name": "sid", "domain": ".ex.com"}}}
    with Persona(container, destinations={"capture": CaptureDestination()}) as p:
        response = await get(make_app(p), headers={"cookie": "persona_id=ignored"})
    header = response.headers["set-cookie"]
    assert header.startswith("sid=")
    assert "Domain=.ex.com" in header
    assert response.json()["anonymous_id"] != "ignored"


@pytest.mark.parametrize("is_async", [False, True])
async def test_the_user_id_comes_from_the_app(persona: Persona, is_async: bool) -> None:
    """get_user_id receives the Starlette request and may be sync or async."""

    def sync_user(request: Request) -> str | None:
        return request.headers.get("x-user")

    async def async_user(request: Request) -> str | None:
        return request.headers.get("x-user")

    app = make_app(persona, get_user_id=async_user if is_async else sync_user)
    assert (await get(app, headers={"x-user": "u-7"})).json()["user_id"] == "u-7"
    assert (await get(app)).json()["user_id"] is None


async def test_request_attributes_reach_targeting(persona: Persona) -> None:
    """Attributes from the request (here the country header) drive conditions."""
    app = make_app(persona)
    assert (await get(app, headers={"cf-ipcountry": "CH"})).json()["vip"] is True
    assert (await get(app, headers={"cf-ipcountry": "FR"})).json()["vip"] is False
    custom = make_app(persona, country_header="X-Geo")
    assert (await get(custom, headers={"x-geo": "ch"})).json()["vip"] is True


async def test_exposures_respect_consent_and_are_logged_once(
    persona: Persona, capture: CaptureDestination
) -> None:
    """An exposure reaches an analytics destination only with analytics consent (from the
    consent cookie), and repeated views log it once."""
    app = make_app(persona)
    await get(app, headers={"cookie": "persona_id=no-consent"})
    for _ in range(3):
        await get(app, headers={"cookie": f"persona_id=yes; persona_consent={ANALYTICS}"})
    seen = exposures(persona, capture)
    assert [e["anonymousId"] for e in seen] == ["yes"]
    assert seen[0]["properties"]["experiment_id"] == "hero-test"


async def test_gpc_is_read_from_the_request(persona: Persona) -> None:
    """Sec-GPC withdraws sale-sharing purposes from the visitor's consent."""
    captured: dict[str, Any] = {}

    async def consent(request: Request) -> Response:
        captured.update(request.state.persona.consent or {})
        return Response()

    app = Starlette(routes=[Route("/", consent)],
                    middleware=[Middleware(PersonaMiddleware, persona=persona)])
    await get(app, headers={"sec-gpc": "1", "cookie": f"persona_consent={ANALYTICS}"})
    assert captured == {"analytics": True, "advertising": False}


async def test_gpc_follows_reloads_and_rides_on_visitor_events() -> None:
    """A purpose marked ``sale_sharing`` by a ``reload`` is withdrawn from ``Sec-GPC: 1``
    visitors at once (the middleware reads the container in force, not the one it was built
    with), and events tracked through the visitor carry ``context.gpc``, so even a visitor
    resolved before the reload cannot reach a destination needing that purpose."""
    capture = CaptureDestination(name="capture")
    base: dict[str, Any] = {
        "consent": {"purposes": {"analytics": {}, "advertising": {}}},
        "tags": [{"name": "ads", "destination": "capture", "consent": ["advertising"]}],
    }
    both = write_consent({"analytics": True, "advertising": True})
    seen: dict[str, Any] = {}

    async def track(request: Request) -> Response:
        visitor = request.state.persona
        seen["consent"] = dict(visitor.consent or {})
        visitor.track("Clicked", properties={"n": request.query_params["n"]})
        return Response()

    with Persona(base, destinations={"capture": capture}) as persona:
        app = Starlette(
            routes=[Route("/", track)], middleware=[Middleware(PersonaMiddleware, persona=persona)]
        )
        headers = {"sec-gpc": "1", "cookie": f"persona_consent={both}"}
        await get(app, "/?n=1", headers=headers)
        assert seen["consent"] == {"analytics": True, "advertising": True}
        assert persona.flush(timeout=5.0)
        assert [(e["properties"]["n"], e["context"]["gpc"]) for e in capture.events] == [
            ("1", True)
        ]
        early = persona.visitor(anonymous_id="early", consent={"advertising": True}, gpc=True)
        persona.reload({**base, "consent": {"purposes": {
            "analytics": {}, "advertising": {"sale_sharing": True}}}})  # fmt: skip
        await get(app, "/?n=2", headers=headers)
        assert seen["consent"] == {"analytics": True, "advertising": False}
        early.track("Clicked", properties={"n": "3"})
        await get(app, "/?n=4", headers={"cookie": f"persona_consent={both}"})  # no GPC
        assert persona.flush(timeout=5.0)
    assert [e["properties"]["n"] for e in capture.events] == ["1", "4"]
    assert "gpc" not in capture.events[1]["context"]


async def test_url_forced_variations_work_when_the_container_allows(persona: Persona) -> None:
    """?hero-test=<index> forces a variation when url_overrides is on, and not otherwise."""
    app = make_app(persona)
    assert (await get(app, "/?hero-test=2")).json()["hero"] == "new"
    assert (await get(app, "/?hero-test=1")).json()["hero"] == "sale"
    strict = {**CONTAINER, "decisions": {"url_overrides": False}}
    with Persona(strict, destinations={"capture": CaptureDestination()}) as p:
        heroes = {
            (await get(make_app(p), "/?hero-test=2",
                       headers={"cookie": f"persona_id=v{i}"})).json()["hero"]
            for i in range(12)
        }
    assert heroes != {"new"}


async def test_excluded_paths_get_no_visitor_and_no_cookie(persona: Persona) -> None:
    """exclude_paths pass through untouched."""
    response = await get(make_app(persona, exclude_paths=("/static/",)), "/static/x")
    assert response.json() == {"has_visitor": False}
    assert "set-cookie" not in response.headers


async def test_the_bootstrap_renders_the_decision_the_page_used(persona: Persona) -> None:
    """render_bootstrap puts the server-side decision into window.__persona."""
    response = await get(make_app(persona), "/page?hero-test=1",
                         headers={"cookie": "persona_id=b-1"})
    m = re.search(r"<script>window.__persona=(.*);</script>", response.text)
    assert m is not None
    data = json.loads(m.group(1))
    assert data["anonymousId"] == "b-1"
    assert data["features"]["hero-banner"]["value"] == "sale"
    assert data["features"]["hero-banner"]["experiment"] == "hero-test"
    assert data["experiments"] == {"hero-test": {"variation": "1", "variationId": 1}}


async def test_options_object_and_overrides_combine(persona: Persona) -> None:
    """A VisitorOptions object can be given whole; keyword fields override it."""
    options = VisitorOptions(cookie=CookieSettings(name="vid", httponly=False))
    header = (await get(make_app(persona, options=options, cookie={"max_age_days": 1}))).headers[
        "set-cookie"
    ]
    assert header.startswith("vid=")
    assert "HttpOnly" not in header
    assert "Max-Age=86400" in header


async def test_the_app_s_own_cookies_are_kept(persona: Persona) -> None:
    """The visitor cookie is added next to the cookies the app sets itself."""

    async def login(request: Request) -> Response:
        response = Response("ok")
        response.set_cookie("session", "s-1")
        return response

    app = Starlette(routes=[Route("/", login)],
                    middleware=[Middleware(PersonaMiddleware, persona=persona)])
    names = {c.split("=")[0] for c in (await get(app)).headers.get_list("set-cookie")}
    assert names == {"session", "persona_id"}


async def test_fastapi_apps_use_the_same_middleware(persona: Persona) -> None:
    """FastAPI's add_middleware works; endpoints read request.state.persona."""
    from fastapi import FastAPI

    api = FastAPI()
    api.add_middleware(PersonaMiddleware, persona=persona)

    @api.get("/")
    async def root(request: Request) -> dict[str, Any]:
        return {"id": request.state.persona.anonymous_id}

    response = await get(api, headers={"cookie": "persona_id=fa-1"})
    assert response.json() == {"id": "fa-1"}


async def test_visitors_are_resolved_with_avisitor(persona: Persona) -> None:
    """The middleware awaits persona.avisitor (async-native) and never calls visitor()."""
    calls: list[str] = []

    class Recording(Persona):
        def visitor(self, **kwargs: Any) -> Any:
            calls.append("visitor")
            return super().visitor(**kwargs)

        async def avisitor(self, **kwargs: Any) -> Any:
            calls.append("avisitor")
            return await super().avisitor(**kwargs)

    with Recording(CONTAINER, destinations={"capture": CaptureDestination()}) as p:
        await get(make_app(p))
    assert calls == ["avisitor"]


async def test_non_http_scopes_pass_through(persona: Persona) -> None:
    """Lifespan (and websocket) scopes reach the app untouched, without a visitor."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope))

    middleware = PersonaMiddleware(app, persona)
    await middleware({"type": "lifespan", "state": {}}, None, None)  # type: ignore[arg-type]
    await middleware({"type": "websocket", "path": "/ws", "headers": []}, None, None)  # type: ignore[arg-type]
    assert [s["type"] for s in seen] == ["lifespan", "websocket"]
    assert all("persona" not in s.get("state", {}) for s in seen)
