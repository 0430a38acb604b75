"""The Django middleware against Django's real request handling (sync and async) and a Persona."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination
from persona_sdk.web._consent import write_consent_cookie as write_consent

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="persona-sdk-tests",
        ALLOWED_HOSTS=["testserver", "shop.example"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        DATABASES={},
        MIDDLEWARE=[],
        USE_TZ=True,
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"context_processors": ["persona_sdk.web.django.persona_context"]},
        }],
    )
    django.setup()

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
        "fr-only": {"defaultValue": False, "rules": [{"condition": {"language": "fr"},
                                                      "force": True}]},
    },
}
MIDDLEWARE = [f"{__name__}.FakeAuth", "persona_sdk.web.django.PersonaMiddleware"]


class User:
    """What django.contrib.auth puts on request.user, minus the database."""

    def __init__(self, pk: int | None) -> None:
        self.pk = pk
        self.is_authenticated = pk is not None


class FakeAuth:
    """Sets request.user from the X-User header (stands in for AuthenticationMiddleware)."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        raw = request.headers.get("x-user")
        request.user = User(int(raw) if raw else None)  # type: ignore[attr-defined]
        return self.get_response(request)


def _describe(request: HttpRequest) -> dict[str, Any]:
    visitor = request.persona  # type: ignore[attr-defined]
    return {
        "anonymous_id": visitor.anonymous_id,
        "user_id": visitor.user_id,
        "hero": visitor.feature("hero-banner").value,
        "fr": visitor.is_on("fr-only"),
    }


def view(request: HttpRequest) -> HttpResponse:
    return JsonResponse(_describe(request))


async def async_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse(_describe(request))


def page(request: HttpRequest) -> HttpResponse:
    from django.template import engines

    template = engines["django"].from_string("<head>{{ persona_bootstrap }}</head>")
    return HttpResponse(template.render({}, request))


def static(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"has_visitor": hasattr(request, "persona")})


def sets_cookie(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("ok")
    response.set_cookie("persona_id", "chosen-by-view")
    return response


urlpatterns = [
    path("", view),
    path("async/", async_view),
    path("page/", page),
    path("static/x", static),
    path("own-cookie/", sets_cookie),
]


@pytest.fixture
def capture() -> CaptureDestination:
    return CaptureDestination(name="capture")


@pytest.fixture
def persona(capture: CaptureDestination) -> Iterator[Persona]:
    p = Persona(CONTAINER, destinations={"capture": capture})
    with override_settings(
        PERSONA=p, MIDDLEWARE=MIDDLEWARE, PERSONA_BOOTSTRAP_FEATURES=["hero-banner"]
    ):
        yield p
    p.close()


def test_requests_get_a_visitor_and_the_cookie(persona: Persona) -> None:
    """request.persona is the visitor; a new visitor gets a Secure, HttpOnly, Lax cookie."""
    response = Client().get("/")
    body = response.json()
    morsel = response.cookies["persona_id"]
    assert morsel.value == body["anonymous_id"]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["max-age"] == 400 * 86400
    assert body["hero"] in {"classic", "sale", "new"}


def test_returning_visitors_keep_their_id(persona: Persona) -> None:
    """The cookie's id is reused and not rewritten."""
    client = Client()
    client.cookies["persona_id"] = "dj-1"
    response = client.get("/")
    assert response.json()["anonymous_id"] == "dj-1"
    assert "persona_id" not in response.cookies


def test_the_user_id_defaults_to_request_user(persona: Persona) -> None:
    """An authenticated request.user gives the user id (its pk); anonymous users none."""
    assert Client().get("/", headers={"x-user": "17"}).json()["user_id"] == "17"
    assert Client().get("/").json()["user_id"] is None


def test_options_come_from_settings(persona: Persona) -> None:
    """PERSONA_OPTIONS sets VisitorOptions fields; a dotted get_user_id is imported."""
    with override_settings(PERSONA_OPTIONS={
        "get_user_id": f"{__name__}.user_from_header", "cookie": {"name": "vid"},
    }):
        response = Client().get("/", headers={"x-account": "acct-9"})
    assert response.json()["user_id"] == "acct-9"
    assert "vid" in response.cookies


def user_from_header(request: HttpRequest) -> str | None:
    return request.headers.get("x-account")


def test_the_persona_setting_may_be_a_dotted_path(persona: Persona) -> None:
    """settings.PERSONA may name the Persona by its import path."""
    global SHARED_PERSONA
    SHARED_PERSONA = persona
    with override_settings(PERSONA=f"{__name__}:SHARED_PERSONA"):
        assert Client().get("/", headers={"cookie": "persona_id=p-1"}).json()["anonymous_id"] \
            == "p-1"


SHARED_PERSONA: Persona | None = None


def test_a_missing_persona_setting_is_a_clear_error() -> None:
    """Without settings.PERSONA the middleware refuses to start and says why."""
    from django.core.exceptions import ImproperlyConfigured

    from persona_sdk.web.django import PersonaMiddleware

    with pytest.raises(ImproperlyConfigured, match=r"settings\.PERSONA"):
        PersonaMiddleware(lambda request: HttpResponse())


def test_attributes_and_url_overrides(persona: Persona) -> None:
    """Accept-Language drives the language attribute; ?hero-test=2 forces a variation."""
    client = Client()
    assert client.get("/", headers={"accept-language": "fr-FR,fr;q=0.9"}).json()["fr"] is True
    assert client.get("/", headers={"accept-language": "de"}).json()["fr"] is False
    assert client.get("/?hero-test=2").json()["hero"] == "new"


def test_consent_gates_exposures(persona: Persona, capture: CaptureDestination) -> None:
    """The consent cookie grants analytics; GPC alone grants nothing; exposures log once."""
    consent = write_consent({"analytics": True})
    client = Client()
    client.cookies["persona_id"] = "dj-consent"
    client.cookies["persona_consent"] = consent
    for _ in range(2):
        client.get("/")
    Client().get("/", headers={"sec-gpc": "1"})
    assert persona.flush(timeout=5.0)
    seen = [e for e in capture.events if e.get("event") == "Experiment Viewed"]
    assert [e["anonymousId"] for e in seen] == ["dj-consent"]


def test_excluded_paths_and_the_view_s_own_cookie(persona: Persona) -> None:
    """exclude_paths get no visitor; a cookie the view set itself is left alone."""
    with override_settings(PERSONA_OPTIONS={"exclude_paths": ("/static/",)}):
        response = Client().get("/static/x")
        assert response.json() == {"has_visitor": False}
        assert "persona_id" not in response.cookies
        assert Client().get("/own-cookie/").cookies["persona_id"].value == "chosen-by-view"


def test_the_context_processor_renders_the_bootstrap(persona: Persona) -> None:
    """{{ persona_bootstrap }} renders window.__persona with the listed features."""
    client = Client()
    client.cookies["persona_id"] = "dj-page"
    html = client.get("/page/?hero-test=1").content.decode()
    m = re.search(r"<script>window.__persona=(.*);</script>", html)
    assert m is not None
    data = json.loads(m.group(1))
    assert data["anonymousId"] == "dj-page"
    assert data["features"]["hero-banner"]["value"] == "sale"


class Recording(Persona):
    """A Persona that notes which resolution path the middleware took."""

    calls: list[str]

    def visitor(self, **kwargs: Any) -> Any:
        self.calls.append("visitor")
        return super().visitor(**kwargs)

    async def avisitor(self, **kwargs: Any) -> Any:
        self.calls.append("avisitor")
        return await super().avisitor(**kwargs)


@pytest.fixture
def recording() -> Iterator[Recording]:
    p = Recording(CONTAINER, destinations={"capture": CaptureDestination()})
    p.calls = []
    yield p
    p.close()


def test_the_sync_stack_uses_visitor(recording: Recording) -> None:
    """Under WSGI (the sync test client) the middleware calls persona.visitor."""
    with override_settings(PERSONA=recording, MIDDLEWARE=MIDDLEWARE):
        Client().get("/")
    assert recording.calls == ["visitor"]


async def test_the_async_stack_uses_avisitor(recording: Recording) -> None:
    """Under ASGI with an async stack the middleware awaits persona.avisitor, reads the user
    id off the event loop, and sets the cookie."""
    with override_settings(PERSONA=recording,
                           MIDDLEWARE=["persona_sdk.web.django.PersonaMiddleware"],
                           PERSONA_OPTIONS={"get_user_id": f"{__name__}.user_from_header"}):
        response = await AsyncClient().get("/async/", headers={"x-account": "a-1"})
    body = json.loads(response.content)
    assert body["user_id"] == "a-1"
    assert response.cookies["persona_id"].value == body["anonymous_id"]
    assert recording.calls == ["avisitor"]
