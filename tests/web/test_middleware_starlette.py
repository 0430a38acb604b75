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
from starlette.testclient import TestClient

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination
from persona_sdk.web import VisitorOptions, render_bootstrap
from persona_sdk.web._middleware_consent import write_consent
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


def cookie_of(response: httpx.Response) -> str | None:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith("persona_id=")]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_new_visitor_gets_a_visitor_and_a_secure_lax_cookie(persona: Persona) -> None:
    """The first request resolves a visitor on request.state.persona and sets the cookie with
    Secure, HttpOnly, SameSite=Lax and a 400-day Max-Age."""
    with TestClient(make_app(persona), base_url="https://shop.example") as client:
        response = client.get("/")
    body = response.json()
    header = cookie_of(response)
    assert header is not None
    m = COOKIE.match(header)
    assert m is not None
    assert m.group(1) == body["anonymous_id"]
    flags = {p.strip() for p in header.split(";")}
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=34560000"} <= flags
    assert body["hero"] in {"classic", "sale", "new"}


def test_a_returning_visitor_keeps_its_id_and_is_not_re_cookied(persona: Persona) -> None:
    """The id comes from the cookie; no Set-Cookie is sent when it was already there."""
    with TestClient(make_app(persona)) as client:
        response = client.get("/", headers={"cookie": "persona_id=v-42"})
    assert response.json()["anonymous_id"] == "v-42"
    assert cookie_of(response) is None


def test_the_cookie_name_and_domain_come_from_the_container() -> None:
    """Without options, the collector section's cookie name and domain are used."""
    container = {**CONTAINER, "collector": {"cookie_name": "sid", "cookie_domain": ".ex.com"}}
    with Persona(container, destinations={"capture": CaptureDestination(name="capture")}) as p:
        with TestClient(make_app(p)) as client:
            response = client.get("/", headers={"cookie": "persona_id=ignored"})
    header = response.headers["set-cookie"]
    assert header.startswith("sid=")
    assert "Domain=.ex.com" in header
    assert response.json()["anonymous_id"] != "ignored"


@pytest.mark.parametrize("is_async", [False, True])
def test_the_user_id_comes_from_the_app(persona: Persona, is_async: bool) -> None:
    """get_user_id receives the Starlette request and may be sync or async."""

    def sync_user(request: Request) -> str | None:
        return request.headers.get("x-user")

    async def async_user(request: Request) -> str | None:
        return request.headers.get("x-user")

    app = make_app(persona, get_user_id=async_user if is_async else sync_user)
    with TestClient(app) as client:
        assert client.get("/", headers={"x-user": "u-7"}).json()["user_id"] == "u-7"
        assert client.get("/").json()["user_id"] is None


def test_request_attributes_reach_targeting(persona: Persona) -> None:
    """Attributes from the request (here the country header) drive conditions."""
    with TestClient(make_app(persona)) as client:
        assert client.get("/", headers={"cf-ipcountry": "CH"}).json()["vip"] is True
        assert client.get("/", headers={"cf-ipcountry": "FR"}).json()["vip"] is False
    with TestClient(make_app(persona, country_header="X-Geo")) as client:
        assert client.get("/", headers={"x-geo": "ch"}).json()["vip"] is True


def test_exposures_respect_consent_and_are_logged_once(
    persona: Persona, capture: CaptureDestination
) -> None:
    """An exposure reaches an analytics destination only with analytics consent (from the
    consent cookie), and repeated views log it once."""
    with TestClient(make_app(persona)) as client:
        client.get("/", headers={"cookie": "persona_id=no-consent"})
        for _ in range(3):
            client.get("/", headers={"cookie": f"persona_id=yes; persona_consent={ANALYTICS}"})
    seen = exposures(persona, capture)
    assert [e["anonymousId"] for e in seen] == ["yes"]
    assert seen[0]["properties"]["experiment_id"] == "hero-test"


def test_gpc_is_read_from_the_request(persona: Persona) -> None:
    """Sec-GPC withdraws sale-sharing purposes from the visitor's consent."""
    captured: dict[str, Any] = {}

    async def consent(request: Request) -> Response:
        captured.update(request.state.persona.consent or {})
        return Response()

    app = Starlette(routes=[Route("/", consent)],
                    middleware=[Middleware(PersonaMiddleware, persona=persona)])
    with TestClient(app) as client:
        client.get("/", headers={"sec-gpc": "1", "cookie": f"persona_consent={ANALYTICS}"})
    assert captured == {"analytics": True, "advertising": False}


def test_url_forced_variations_work_when_the_container_allows(persona: Persona) -> None:
    """?hero-test=<index> forces a variation when url_overrides is on, and not otherwise."""
    with TestClient(make_app(persona)) as client:
        assert client.get("/?hero-test=2").json()["hero"] == "new"
        assert client.get("/?hero-test=1").json()["hero"] == "sale"
    strict = {**CONTAINER, "decisions": {"url_overrides": False}}
    with Persona(strict, destinations={"capture": CaptureDestination(name="capture")}) as p:
        with TestClient(make_app(p)) as client:
            heroes = {
                client.get("/?hero-test=2", headers={"cookie": f"persona_id=v{i}"}).json()["hero"]
                for i in range(12)
            }
    assert heroes != {"new"}


def test_excluded_paths_get_no_visitor_and_no_cookie(persona: Persona) -> None:
    """exclude_paths pass through untouched."""
    with TestClient(make_app(persona, exclude_paths=("/static/",))) as client:
        response = client.get("/static/x")
    assert response.json() == {"has_visitor": False}
    assert "set-cookie" not in response.headers


def test_the_bootstrap_renders_the_decision_the_page_used(persona: Persona) -> None:
    """render_bootstrap puts the server-side decision into window.__persona."""
    with TestClient(make_app(persona)) as client:
        html = client.get("/page?hero-test=1", headers={"cookie": "persona_id=b-1"}).text
    m = re.search(r"<script>window.__persona=(.*);</script>", html)
    assert m is not None
    data = json.loads(m.group(1))
    assert data["anonymousId"] == "b-1"
    assert data["features"]["hero-banner"]["value"] == "sale"
    assert data["features"]["hero-banner"]["experiment"] == "hero-test"


def test_options_object_and_overrides_combine(persona: Persona) -> None:
    """A VisitorOptions object can be given whole; keyword fields override it."""
    options = VisitorOptions(cookie_name="vid", cookie_httponly=False)
    with TestClient(make_app(persona, options=options, cookie_max_age_days=1)) as client:
        header = client.get("/").headers["set-cookie"]
    assert header.startswith("vid=")
    assert "HttpOnly" not in header
    assert "Max-Age=86400" in header


def test_the_app_s_own_cookies_are_kept(persona: Persona) -> None:
    """The visitor cookie is added next to the cookies the app sets itself."""

    async def login(request: Request) -> Response:
        response = Response("ok")
        response.set_cookie("session", "s-1")
        return response

    app = Starlette(routes=[Route("/", login)],
                    middleware=[Middleware(PersonaMiddleware, persona=persona)])
    with TestClient(app) as client:
        names = {c.split("=")[0] for c in client.get("/").headers.get_list("set-cookie")}
    assert names == {"session", "persona_id"}


def test_fastapi_apps_use_the_same_middleware(persona: Persona) -> None:
    """FastAPI's add_middleware works; endpoints read request.state.persona."""
    from fastapi import FastAPI

    api = FastAPI()
    api.add_middleware(PersonaMiddleware, persona=persona)

    @api.get("/")
    async def root(request: Request) -> dict[str, Any]:
        return {"id": request.state.persona.anonymous_id}

    with TestClient(api) as client:
        response = client.get("/", headers={"cookie": "persona_id=fa-1"})
    assert response.json() == {"id": "fa-1"}


async def test_the_middleware_is_async_native(persona: Persona) -> None:
    """Under an asyncio client (httpx ASGITransport) requests resolve via avisitor."""
    transport = httpx.ASGITransport(app=make_app(persona))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.example") as c:
        first = await c.get("/")
        again = await c.get("/", headers={"cookie": f"persona_id={first.json()['anonymous_id']}"})
    assert first.json()["anonymous_id"] == again.json()["anonymous_id"]
    assert cookie_of(first) is not None
    assert cookie_of(again) is None


def test_non_http_scopes_pass_through(persona: Persona) -> None:
    """Lifespan (and websocket) scopes are not touched."""
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        events.append(scope["type"])
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:
            await Response("ok")(scope, receive, send)

    with TestClient(PersonaMiddleware(app, persona)) as client:
        client.get("/")
    assert events == ["lifespan", "http"]
