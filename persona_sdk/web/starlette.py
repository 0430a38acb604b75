"""Starlette and FastAPI: a pure ASGI middleware that resolves the visitor of every request.

::

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from persona_sdk.web.starlette import PersonaMiddleware

    app = Starlette(routes=..., middleware=[
        Middleware(PersonaMiddleware, persona=persona, get_user_id=current_user_id),
    ])

    async def home(request):
        visitor = request.state.persona           # a persona_sdk Visitor
        hero = visitor.feature("hero-banner").value

The middleware is async-native (``await persona.avisitor(...)``) and adds no task or thread
per request; it works unchanged under FastAPI (``app.add_middleware(PersonaMiddleware,
persona=persona)``). Only ``get_user_id`` needs Starlette itself (it receives a ``Request``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from ..config import CookieSettings
from ._cookie import parse_cookies
from ._middleware import RequestFacts, VisitorOptions, build_resolver

__all__ = ["PersonaMiddleware"]

# Loose ASGI types, so that Starlette's (and any other framework's) app types fit.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Any, Receive, Send], Awaitable[None]]
_UNSET: Any = object()


def _facts(scope: Scope) -> RequestFacts:
    headers: dict[str, str] = {}
    cookie_parts: list[str] = []
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "cookie":
            # HTTP/2 may split cookies over several headers
            cookie_parts.append(value)
        elif name not in headers:
            headers[name] = value
    host = headers.get("host")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    # ASGI servers put the full path in "path"; older ones strip the mount point (root_path)
    path = scope.get("path", "/")
    root = scope.get("root_path", "")
    if root and not path.startswith(root):
        path = root + path
    return RequestFacts(
        scheme=scope.get("scheme", "http"),
        host=host,
        path=path,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        cookies=parse_cookies("; ".join(cookie_parts)) if cookie_parts else {},
    )


class PersonaMiddleware:
    """Resolve a ``Visitor`` for each HTTP request and expose it as ``request.state.persona``.

    Args:
        app: the ASGI app to wrap.
        persona: the process's ``Persona``.
        options: a ``VisitorOptions``; by default the cookie settings come from the
            container's ``collector`` section.
        get_user_id, cookie, ..., refresh_cookie: individual ``VisitorOptions`` fields,
            applied over ``options``; ``cookie`` may be a mapping of ``CookieSettings``
            fields (``cookie={"name": "vid"}``) applied over the cookie settings in force.

    ``get_user_id`` receives a ``starlette.requests.Request`` and may be sync or async.
    Paths in ``exclude_paths`` pass through untouched (no visitor, no cookie).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        app: ASGIApp,
        persona: Any,
        *,
        options: VisitorOptions | None = None,
        get_user_id: Callable[[Any], Any] | None = _UNSET,
        cookie: CookieSettings | Mapping[str, Any] = _UNSET,
        adopt_cookies: bool = _UNSET,
        country_header: str | None = _UNSET,
        exclude_paths: tuple[str, ...] = _UNSET,
        refresh_cookie: bool = _UNSET,
    ) -> None:
        # Explicit keywords (not **kwargs): type checkers can then match the class against
        # Starlette's Middleware(...) signature.
        given = {
            "get_user_id": get_user_id, "cookie": cookie,
            "adopt_cookies": adopt_cookies, "country_header": country_header,
            "exclude_paths": exclude_paths,
            "refresh_cookie": refresh_cookie,
        }
        overrides = {k: v for k, v in given.items() if v is not _UNSET}
        self.app = app
        self.persona = persona
        self._resolver = build_resolver(persona, options, **overrides)
        self._get_user_id = self._resolver.options.get_user_id

    async def _user_id(self, scope: Scope) -> str | None:
        if self._get_user_id is None:
            return None
        from starlette.requests import Request

        found = self._get_user_id(Request(scope))
        if inspect.isawaitable(found):
            found = await found
        return None if found is None else str(found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._resolver.excluded(scope.get("path", "/")):
            await self.app(scope, receive, send)
            return
        args = self._resolver.resolve(_facts(scope))
        visitor = await self.persona.avisitor(**args.visitor_kwargs(await self._user_id(scope)))
        # request.state is a view over scope["state"]
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["persona"] = visitor
        if args.set_cookie is None:
            await self.app(scope, receive, send)
            return
        cookie = (b"set-cookie", args.set_cookie.encode("latin-1"))

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), cookie]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
