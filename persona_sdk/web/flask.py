"""Flask: an extension that resolves the visitor of every request as ``g.persona``.

::

    from flask import Flask, g, session
    from persona_sdk.web.flask import PersonaExtension

    app = Flask(__name__)
    PersonaExtension(app, persona, get_user_id=lambda request: session.get("user_id"))

    @app.get("/")
    def home():
        hero = g.persona.feature("hero-banner").value
        return render_template("home.html", hero=hero)

Templates get ``persona_bootstrap(features)``: ``{{ persona_bootstrap(["hero-banner"]) }}``
in ``<head>`` hands the decisions to the JS tag. The application-factory form works too:
``ext = PersonaExtension(); ext.init_app(app, persona)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._middleware import RequestFacts, VisitorArgs, VisitorOptions, build_resolver
from ._middleware_render import render_bootstrap

__all__ = ["PersonaExtension"]


def _facts(request: Any) -> RequestFacts:
    return RequestFacts(
        scheme=request.scheme,
        host=request.host,
        path=request.path,
        query=request.query_string.decode("latin-1"),
        headers={name.lower(): value for name, value in request.headers.items()},
        cookies=request.cookies,
    )


class PersonaExtension:
    """Resolve a ``Visitor`` in ``before_request`` (``g.persona``); set the visitor cookie in
    ``after_request``.

    Args:
        app: the Flask app (or call ``init_app`` later).
        persona: the process's ``Persona``.
        options: a ``VisitorOptions``; by default the cookie settings come from the
            container's ``collector`` section.
        **overrides: individual ``VisitorOptions`` fields (``get_user_id=...``).

    ``get_user_id`` receives ``flask.request``.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        app: Any | None = None,
        persona: Any | None = None,
        *,
        options: VisitorOptions | None = None,
        **overrides: Any,
    ) -> None:
        self.persona = persona
        self._options = options
        self._overrides = overrides
        if app is not None:
            self.init_app(app, persona)

    def init_app(self, app: Any, persona: Any | None = None) -> None:
        """Register the request hooks and the ``persona_bootstrap`` template helper."""
        persona = persona if persona is not None else self.persona
        if persona is None:
            raise ValueError("PersonaExtension needs a Persona (persona=...)")
        self.persona = persona
        resolver = build_resolver(persona, self._options, **self._overrides)
        get_user_id = resolver.options.get_user_id
        from flask import g, request

        def before() -> None:
            if resolver.excluded(request.path):
                return
            args = resolver.resolve(_facts(request))
            user_id = get_user_id(request) if get_user_id is not None else None
            g.persona = persona.visitor(**args.visitor_kwargs(user_id))
            g._persona_args = args

        def after(response: Any) -> Any:
            args: VisitorArgs | None = g.pop("_persona_args", None)
            if args is not None and args.set_cookie is not None:
                resolver.set_cookie(response, args.anonymous_id)
            return response

        def bootstrap(
            features: Iterable[str] = (), nonce: str | None = None, all_features: bool = False
        ) -> Any:
            from markupsafe import Markup

            visitor = g.get("persona")
            if visitor is None:
                return Markup("")
            return Markup(  # escaped JSON
                render_bootstrap(visitor, features, nonce=nonce, all_features=all_features)
            )

        app.before_request(before)
        app.after_request(after)
        app.context_processor(lambda: {"persona_bootstrap": bootstrap})
        app.extensions["persona"] = self
