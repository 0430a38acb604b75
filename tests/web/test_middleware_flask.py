"""The Flask extension against a real Flask app and a real Persona."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g, jsonify, render_template_string

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination
from persona_sdk.web._consent import write_consent_cookie as write_consent
from persona_sdk.web.flask import PersonaExtension

CONTAINER: dict[str, Any] = {
    "consent": {"purposes": {"analytics": {}, "advertising": {"sale_sharing": True}}},
    "tags": [{"name": "everything", "destination": "capture", "consent": ["analytics"]}],
    "decisions": {"url_overrides": True},
    "features": {
        "hero-banner": {
            "defaultValue": "classic",
            "rules": [{"key": "hero-test", "variations": ["classic", "sale", "new"],
                       "weights": [0.34, 0.33, 0.33]}],
        },
        "mobile-nav": {"defaultValue": False,
                       "rules": [{"condition": {"deviceType": "mobile"}, "force": True}]},
    },
}
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def capture() -> CaptureDestination:
    return CaptureDestination(name="capture")


@pytest.fixture
def persona(capture: CaptureDestination) -> Iterator[Persona]:
    p = Persona(CONTAINER, destinations={"capture": capture})
    yield p
    p.close()


def make_app(persona: Persona | None, *, factory: bool = False, **options: Any) -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def home() -> Any:
        visitor = g.persona
        return jsonify(
            anonymous_id=visitor.anonymous_id,
            user_id=visitor.user_id,
            hero=visitor.feature("hero-banner").value,
            mobile=visitor.is_on("mobile-nav"),
        )

    @app.get("/page")
    def page() -> str:
        return render_template_string("<head>{{ persona_bootstrap(['hero-banner']) }}</head>")

    @app.get("/all")
    def page_all() -> str:
        return render_template_string("<head>{{ persona_bootstrap(all_features=True) }}</head>")

    @app.get("/static/x")
    def static_file() -> Any:
        return jsonify(has_visitor="persona" in g)

    if factory:
        ext = PersonaExtension(**options)
        ext.init_app(app, persona)
    else:
        PersonaExtension(app, persona, **options)
    return app


def test_requests_get_g_persona_and_the_cookie(persona: Persona) -> None:
    """g.persona is the visitor; a new visitor gets a Secure, HttpOnly, Lax 400-day cookie."""
    response = make_app(persona).test_client().get("/")
    header = response.headers["Set-Cookie"]
    m = re.match(r"persona_id=([^;]+);", header)
    assert m is not None
    assert m.group(1) == response.json["anonymous_id"]
    flags = {p.strip() for p in header.split(";")}
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=34560000"} <= flags


def test_returning_visitors_keep_their_id(persona: Persona) -> None:
    """The cookie's id is reused and not rewritten."""
    client = make_app(persona).test_client()
    client.set_cookie("persona_id", "fl-1")
    response = client.get("/")
    assert response.json["anonymous_id"] == "fl-1"
    assert "Set-Cookie" not in response.headers


def test_the_user_id_comes_from_the_app(persona: Persona) -> None:
    """get_user_id receives flask.request."""
    app = make_app(persona, get_user_id=lambda req: req.headers.get("x-user"))
    client = app.test_client()
    assert client.get("/", headers={"x-user": "u-3"}).json["user_id"] == "u-3"
    assert client.get("/").json["user_id"] is None


def test_the_app_factory_form_works(persona: Persona) -> None:
    """PersonaExtension().init_app(app, persona) registers the same hooks."""
    client = make_app(persona, factory=True).test_client()
    client.set_cookie("persona_id", "fl-f")
    assert client.get("/").json["anonymous_id"] == "fl-f"


def test_init_app_without_a_persona_is_refused() -> None:
    """A missing Persona is a clear error at setup, not a failure per request."""
    with pytest.raises(ValueError, match="Persona"):
        make_app(None, factory=True)


def test_user_agent_attributes_and_url_overrides(persona: Persona) -> None:
    """The parsed user agent drives deviceType; ?hero-test=0 forces the control."""
    client = make_app(persona).test_client()
    assert client.get("/", headers={"user-agent": IPHONE}).json["mobile"] is True
    assert client.get("/").json["mobile"] is False
    assert client.get("/?hero-test=0").json["hero"] == "classic"
    assert client.get("/?hero-test=2").json["hero"] == "new"


def test_consent_and_gpc_gate_exposures(persona: Persona, capture: CaptureDestination) -> None:
    """With analytics consent the exposure is logged once; without, not at all."""
    client = make_app(persona).test_client()
    client.set_cookie("persona_id", "fl-yes")
    client.set_cookie("persona_consent", write_consent({"analytics": True}))
    client.get("/")
    client.get("/")
    other = make_app(persona).test_client()
    other.set_cookie("persona_id", "fl-no")
    other.get("/", headers={"sec-gpc": "1"})
    assert persona.flush(timeout=5.0)
    seen = [e for e in capture.events if e.get("event") == "Experiment Viewed"]
    assert [e["anonymousId"] for e in seen] == ["fl-yes"]


def test_excluded_paths_get_no_visitor(persona: Persona) -> None:
    """exclude_paths pass through without a visitor or a cookie."""
    response = make_app(persona, exclude_paths=("/static/",)).test_client().get("/static/x")
    assert response.json == {"has_visitor": False}
    assert "Set-Cookie" not in response.headers


def test_templates_render_the_bootstrap(persona: Persona) -> None:
    """persona_bootstrap([...]) in a template renders window.__persona."""
    client = make_app(persona).test_client()
    client.set_cookie("persona_id", "fl-page")
    html = client.get("/page?hero-test=1").get_data(as_text=True)
    m = re.search(r"<script>window.__persona=(.*);</script>", html)
    assert m is not None
    data = json.loads(m.group(1))
    assert data["anonymousId"] == "fl-page"
    assert data["features"]["hero-banner"] == {
        "value": "sale", "on": True, "source": "experiment", "experiment": "hero-test",
        "variation": "1", "variationId": 1,
    }


def test_templates_bootstrap_every_flag_with_exposures_deferred(
    persona: Persona, capture: CaptureDestination
) -> None:
    """persona_bootstrap(all_features=True) renders every feature with the exposure the JS
    tag sends on first read, and logs no exposure on the server."""
    client = make_app(persona).test_client()
    client.set_cookie("persona_id", "fl-all")
    html = client.get("/all").get_data(as_text=True)
    m = re.search(r"<script>window.__persona=(.*);</script>", html)
    assert m is not None
    data = json.loads(m.group(1))
    assert data["deferExposures"] is True
    assert set(data["features"]) == set(persona.container.features)
    assert data["features"]["hero-banner"]["exposure"]["event"] == "Experiment Viewed"
    assert persona.flush(5)
    assert [e for e in capture.events if e.get("event") == "Experiment Viewed"] == []

