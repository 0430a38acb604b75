"""Django: a middleware that resolves the visitor of every request as ``request.persona``.

``settings.py``::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "persona_sdk.web.django.PersonaMiddleware",      # after auth: it reads request.user
    ]
    PERSONA = "myshop.tracking:persona"                  # a Persona, or its dotted path
    PERSONA_OPTIONS = {"country_header": "CF-IPCountry"}  # VisitorOptions fields (optional)
    PERSONA_BOOTSTRAP_FEATURES = ["hero-banner"]          # for the context processor

    TEMPLATES = [{..., "OPTIONS": {"context_processors": [
        ..., "persona_sdk.web.django.persona_context",
    ]}}]

A view reads ``request.persona.feature("hero-banner").value``; a template writes
``{{ persona_bootstrap }}`` in ``<head>`` to hand the decisions to the JS tag.

The middleware is sync and async capable: under ASGI with an async stack it awaits
``persona.avisitor`` and reads the user id in a thread (``request.user`` may query the
database); under WSGI it calls ``persona.visitor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from ._middleware import RequestFacts, VisitorArgs, VisitorOptions, build_resolver
from ._middleware_render import render_bootstrap

__all__ = ["PersonaMiddleware", "default_user_id", "persona_context"]


def default_user_id(request: Any) -> str | None:
    """The primary key of ``request.user`` when authenticated (Django's auth), else ``None``."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    pk = getattr(user, "pk", None)
    return None if pk is None else str(pk)


def _load(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    from django.utils.module_loading import import_string  # type: ignore[import-untyped]

    return import_string(value.replace(":", "."))


def _configured() -> tuple[Any, VisitorOptions | None, dict[str, Any]]:
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

    persona = getattr(settings, "PERSONA", None)
    if persona is None:
        raise ImproperlyConfigured(
            "persona_sdk.web.django.PersonaMiddleware needs settings.PERSONA "
            "(a Persona or the dotted path to one)"
        )
    persona = _load(persona)
    raw = getattr(settings, "PERSONA_OPTIONS", None)
    options: VisitorOptions | None = None
    overrides: dict[str, Any] = {}
    if isinstance(raw, VisitorOptions):
        options = raw
    elif isinstance(raw, Mapping):
        overrides = dict(raw)
        if isinstance(overrides.get("get_user_id"), str):
            overrides["get_user_id"] = _load(overrides["get_user_id"])
    elif raw is not None:
        raise ImproperlyConfigured("settings.PERSONA_OPTIONS must be a dict or VisitorOptions")
    if options is None:
        overrides.setdefault("get_user_id", default_user_id)
    return persona, options, overrides


def _facts(request: Any) -> RequestFacts:
    meta = request.META
    return RequestFacts(
        scheme=request.scheme,
        # not get_host(): host validation is Django's job (CommonMiddleware), not ours
        host=meta.get("HTTP_HOST") or f"{meta.get('SERVER_NAME', 'localhost')}",
        path=request.path,
        query=meta.get("QUERY_STRING", ""),
        headers={name.lower(): value for name, value in request.headers.items()},
        cookies=request.COOKIES,
    )


class PersonaMiddleware:
    """Resolve a ``Visitor`` for each request, set ``request.persona`` and the visitor cookie.

    Configured from ``settings.PERSONA`` and ``settings.PERSONA_OPTIONS`` (see the module
    docstring); the user id defaults to ``request.user.pk`` for authenticated users.

    .. versionadded:: 0.1
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        persona, options, overrides = _configured()
        self.persona = persona
        self._resolver = build_resolver(persona, options, **overrides)
        self._get_user_id = self._resolver.options.get_user_id
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def _set_cookie(self, response: Any, args: VisitorArgs) -> None:
        if args.set_cookie is None or self._resolver.cookie.name in response.cookies:
            return  # the view set the cookie itself: its value wins
        self._resolver.set_cookie(response, args.anonymous_id)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self.__acall__(request)
        if self._resolver.excluded(request.path):
            return self.get_response(request)
        args = self._resolver.resolve(_facts(request))
        user_id = self._get_user_id(request) if self._get_user_id is not None else None
        request.persona = self.persona.visitor(**args.visitor_kwargs(user_id))
        response = self.get_response(request)
        self._set_cookie(response, args)
        return response

    async def __acall__(self, request: Any) -> Any:
        """The async path (ASGI with an async middleware stack)."""
        if self._resolver.excluded(request.path):
            return await self.get_response(request)
        args = self._resolver.resolve(_facts(request))
        user_id = None
        if self._get_user_id is not None:
            # request.user is lazy and may hit the database: not on the event loop
            user_id = await sync_to_async(self._get_user_id)(request)
        request.persona = await self.persona.avisitor(**args.visitor_kwargs(user_id))
        response = await self.get_response(request)
        self._set_cookie(response, args)
        return response


def persona_context(request: Any) -> dict[str, Any]:
    """Template context processor: ``persona`` (the visitor) and ``persona_bootstrap``.

    ``{{ persona_bootstrap }}`` renders the ``<script>`` bootstrap for the features listed in
    ``settings.PERSONA_BOOTSTRAP_FEATURES`` (evaluated only when the template uses it); the
    value ``"__all__"`` bootstraps every feature with exposures deferred to first use.
    """
    visitor = getattr(request, "persona", None)
    if visitor is None:
        return {}

    def bootstrap() -> Any:
        from django.conf import settings
        from django.utils.safestring import mark_safe  # type: ignore[import-untyped]

        features = getattr(settings, "PERSONA_BOOTSTRAP_FEATURES", ())
        nonce = getattr(request, "csp_nonce", None)
        every = features == "__all__"  # every feature, exposures deferred to first use
        return mark_safe(  # escaped JSON
            render_bootstrap(visitor, () if every else features, nonce=nonce, all_features=every)
        )

    return {"persona": visitor, "persona_bootstrap": bootstrap}
