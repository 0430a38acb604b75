"""The profile API: other systems (an email tool, a call centre) read profiles and segments.

``GET /v1/profiles/{id}`` answers the visitor's traits, computed traits, segments and last
known consent; ``GET /v1/segments/{name}/members`` lists the visitors held in this process who
are in a segment. Both need ``Authorization: Bearer <token>``, a token configured in the
container with the endpoint's scope (``profiles:read``, ``segments:read``). Personal traits
(``profiles.personal_traits``) are shown only to a token with ``personal:read`` and only for
a visitor whose last known consent grants the personalization purpose; otherwise they are
left out and named under ``withheld``. Each token is rate-limited; every access is counted
(``collector.stats()``: ``api_requests``, ``api_<token>``, ``api_status_<code>``).
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import msgspec

from ._collector_http import CollectorResponse, Reject, RequestHead
from ._ratelimit import TokenBucketLimiter

if TYPE_CHECKING:
    from ..client import Persona
    from ..config import ApiToken, ProfileApiConfig

__all__ = ["API_PREFIXES", "ProfileApi"]

API_PREFIXES = ("/v1/profiles/", "/v1/segments/")
_JSON = ("content-type", "application/json")
_NO_STORE = ("cache-control", "no-store")
_MAX_ID = 256


class ProfileApi:
    """The profile API for one collector config (rebuilt when the config changes)."""

    def __init__(self, config: ProfileApiConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._tokens: tuple[tuple[bytes, ApiToken], ...] = tuple(
            (t.token.encode(), t) for t in config.tokens
        )
        self._limiter = TokenBucketLimiter(
            config.rate_limit_per_second,
            config.rate_limit_burst,
            max_keys=max(1, len(config.tokens)),
            clock=clock,
        )

    def handle(
        self, persona: Persona, head: RequestHead, path: str, count: Callable[..., None]
    ) -> CollectorResponse:
        """Answer one API request; a refusal raises ``Reject`` (4xx, no profile data)."""
        count(api_requests=1)
        try:
            return self._handle(persona, head, path, count)
        except Reject as exc:
            count(**{f"api_status_{exc.status}": 1})
            raise

    def _handle(
        self, persona: Persona, head: RequestHead, path: str, count: Callable[..., None]
    ) -> CollectorResponse:
        if not self._tokens:
            raise Reject(404, "the profile API is not enabled", "path", "not_found")
        if head.method != "GET":
            raise Reject(
                405, "use GET", "method", "method_not_allowed", headers=[("allow", "GET")]
            )
        token = self._authenticate(head.headers.get("authorization"))
        count(**{f"api_{token.name}": 1})
        wait = self._limiter.acquire(token.name)
        if wait:
            retry = str(max(1, math.ceil(wait)))
            raise Reject(
                429, "too many requests", None, "rate_limited", headers=[("retry-after", retry)]
            )
        query = dict(parse_qsl(head.query[:2048]))
        if path.startswith("/v1/profiles/"):
            self._need(token, "profiles:read")
            body = self._profile(persona, token, _segment_of(path, "/v1/profiles/"), query)
        else:
            rest = path[len("/v1/segments/") :]
            if not rest.endswith("/members"):
                raise Reject(404, "no such endpoint", "path", "not_found")
            self._need(token, "segments:read")
            body = self._members(persona, _segment_of(rest[: -len("/members")], ""), query)
        count(api_status_200=1)
        return CollectorResponse(200, [_JSON, _NO_STORE], msgspec.json.encode(body))

    def _authenticate(self, header: str | None) -> ApiToken:
        given = b""
        if header and header[:7].lower() == "bearer ":
            given = header[7:].strip().encode("utf-8", "surrogatepass")
        found: ApiToken | None = None
        for raw, token in self._tokens:
            # every token compared in constant time: no early exit that leaks which matched
            if hmac.compare_digest(given, raw) and found is None:
                found = token
        if found is None:
            raise Reject(
                401,
                "a valid bearer token is required",
                "Authorization",
                "unauthorized",
                headers=[("www-authenticate", 'Bearer realm="persona"')],
            )
        return found

    @staticmethod
    def _need(token: ApiToken, scope: str) -> None:
        if scope not in token.scopes:
            challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
            raise Reject(
                403,
                f"the token lacks the {scope} scope",
                "Authorization",
                "insufficient_scope",
                headers=[("www-authenticate", challenge)],
            )

    def _profile(
        self, persona: Persona, token: ApiToken, ident: str, query: dict[str, str]
    ) -> dict[str, Any]:
        id_type = query.get("id_type", "user_id")
        if id_type not in ("user_id", "anonymous_id"):
            raise Reject(
                400, "id_type: expected user_id or anonymous_id", "id_type", "invalid_request"
            )
        ids = {id_type: ident}
        record = persona.ports.profile_record(**ids)
        if record is None:
            raise Reject(404, "no such profile", "id", "not_found")
        container = persona.container.profiles
        personal = set(container.personal_traits)
        consent = record["consent"] or {}
        shown = "personal:read" in token.scopes and (
            consent.get(container.personalization_purpose) is True
        )
        withheld: list[str] = []
        if personal and not shown:
            for part in ("traits", "computed"):
                for name in [k for k in record[part] if k in personal]:
                    del record[part][name]
                    withheld.append(name)
        record["withheld"] = sorted(set(withheld))
        return record

    def _members(self, persona: Persona, name: str, query: dict[str, str]) -> dict[str, Any]:
        if name not in persona.container.segments:
            raise Reject(404, "no such segment", "name", "not_found")
        cap = self.config.max_members
        raw = query.get("limit", str(cap))
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= cap:
            raise Reject(400, f"limit: expected 1 to {cap}", "limit", "invalid_request")
        members = persona.segment_members(name, limit=int(raw))
        return {"segment": name, "members": members, "count": len(members)}


def _segment_of(path: str, prefix: str) -> str:
    # one path segment, percent-decoded, bounded
    raw = path[len(prefix) :]
    if raw.endswith("/"):
        raw = raw[:-1]
    if not raw or "/" in raw or len(raw) > 3 * _MAX_ID:
        raise Reject(404, "no such endpoint", "path", "not_found")
    value = unquote(raw)
    if len(value) > _MAX_ID or any(ord(c) < 32 for c in value):
        raise Reject(400, "id: invalid", "id", "invalid_request")
    return value
