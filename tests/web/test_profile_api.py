"""The profile API on the collector, served by uvicorn for real: bearer tokens with scopes,
personal traits only where consent and scope allow, segment member listing, rate limits,
every access counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from collector_helpers import connection, uvicorn_server

from persona_sdk import ConfigError, Persona
from persona_sdk.config import Container
from persona_sdk.web._collector import Collector

CRM = "crm-token-0123456789"
VIEWER = "viewer-token-0123456789"
LISTER = "lister-token-0123456789"
THROTTLED = "slow-token-0123456789ab"

CONTAINER: dict[str, Any] = {
    "profiles": {"personal_traits": ["email"]},
    "computed_traits": {"orders": {"kind": "count", "event": "Order Completed"}},
    "segments": {"buyers": {"condition": {"orders": {"$gte": 1}}}},
    "collector": {
        "rate_limit_per_second": 0,
        "profile_api": {
            "rate_limit_per_second": 0.001,
            "rate_limit_burst": 50,
            "tokens": [
                {"name": "crm", "token": CRM,
                 "scopes": ["profiles:read", "segments:read", "personal:read"]},
                {"name": "viewer", "token": VIEWER, "scopes": ["profiles:read"]},
                {"name": "lister", "token": LISTER, "scopes": ["segments:read"]},
            ],
        },
    },
}  # fmt: skip


@pytest.fixture
def served() -> Iterator[tuple[str, Collector, Persona]]:
    persona = Persona(CONTAINER)
    collector = Collector(persona)
    with uvicorn_server(collector.asgi) as url:
        yield url, collector, persona
    persona.close()


def call(
    url: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    conn = connection(url)
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    try:
        raw = msgspec.json.encode(body) if body is not None else None
        conn.request(method, path, body=raw, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, (
            msgspec.json.decode(data) if data else None
        )
    finally:
        conn.close()


def feed(url: str) -> None:
    """Two visitors through the collector: u-1 granted personalization, u-2 did not."""
    batch = {
        "batch": [
            {"type": "identify", "userId": "u-1", "traits": {"email": "ann@x.example",
             "plan": "pro"}, "context": {"consent": {"categoryPreferences":
             {"personalization": True}}}},
            {"type": "track", "userId": "u-1", "event": "Order Completed",
             "context": {"consent": {"categoryPreferences": {"personalization": True}}}},
            {"type": "identify", "userId": "u-2", "traits": {"email": "bob@x.example"}},
        ]
    }  # fmt: skip
    status, _, _ = call(url, "POST", "/v1/batch", body=batch)
    assert status == 200


def test_a_profile_with_traits_computed_segments_and_consent(served: Any) -> None:
    """A token with profiles:read and personal:read sees a consenting visitor's whole
    profile: traits (email included), computed traits, segments and consent."""
    url, _, _ = served
    feed(url)
    status, headers, body = call(url, "GET", "/v1/profiles/u-1", CRM)
    assert status == 200
    assert headers["cache-control"] == "no-store"
    assert body["traits"] == {"email": "ann@x.example", "plan": "pro"}
    assert body["computed"] == {"orders": 1}
    assert body["segments"] == ["buyers"]
    assert body["consent"] == {"personalization": True}
    assert body["withheld"] == []


def test_personal_traits_need_the_scope_and_the_visitors_consent(served: Any) -> None:
    """Without personal:read, or for a visitor who did not grant personalization, personal
    traits are left out and named under ``withheld``."""
    url, _, _ = served
    feed(url)
    _, _, body = call(url, "GET", "/v1/profiles/u-1", VIEWER)
    assert body["traits"] == {"plan": "pro"}
    assert body["withheld"] == ["email"]
    _, _, body = call(url, "GET", "/v1/profiles/u-2", CRM)
    assert "email" not in body["traits"]
    assert body["withheld"] == ["email"]


def test_segment_members_listing(served: Any) -> None:
    """segments:read lists the members of a segment; an unknown segment is 404; limit is
    checked."""
    url, _, _ = served
    feed(url)
    status, _, body = call(url, "GET", "/v1/segments/buyers/members", LISTER)
    assert (status, body) == (200, {"segment": "buyers", "members": ["u-1"], "count": 1})
    assert call(url, "GET", "/v1/segments/nope/members", LISTER)[0] == 404
    assert call(url, "GET", "/v1/segments/buyers/members?limit=0", LISTER)[0] == 400


def test_refusals_carry_no_profile_data_and_every_access_is_counted(served: Any) -> None:
    """No token or a wrong one: 401; a token without the scope: 403 and no profile data;
    an unknown profile: 404; other methods: 405. Each access is counted."""
    url, collector, _ = served
    feed(url)
    status, headers, body = call(url, "GET", "/v1/profiles/u-1")
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert call(url, "GET", "/v1/profiles/u-1", "wrong-token-0123456789")[0] == 401
    status, headers, body = call(url, "GET", "/v1/profiles/u-1", LISTER)
    assert status == 403
    assert body["code"] == "insufficient_scope"
    assert "ann" not in msgspec.json.encode(body).decode()
    assert call(url, "GET", "/v1/segments/buyers/members", VIEWER)[0] == 403
    assert call(url, "GET", "/v1/profiles/nobody", CRM)[0] == 404
    assert call(url, "POST", "/v1/profiles/u-1", CRM, body={})[0] == 405
    stats = collector.stats()
    assert stats["api_requests"] == 6
    assert stats["api_status_401"] == 2
    assert stats["api_status_403"] == 2
    assert stats["api_crm"] == 1  # the 405 is answered before the token is read
    assert stats["api_lister"] == 1


def test_each_token_is_rate_limited() -> None:
    """Past its burst a token gets 429 with Retry-After; another token is unaffected."""
    doc = dict(CONTAINER)
    doc["collector"] = {
        "rate_limit_per_second": 0,
        "profile_api": {
            "rate_limit_per_second": 0.001,
            "rate_limit_burst": 2,
            "tokens": [
                {"name": "slow", "token": THROTTLED, "scopes": ["profiles:read"]},
                {"name": "crm", "token": CRM, "scopes": ["profiles:read"]},
            ],
        },
    }
    persona = Persona(doc)
    try:
        with uvicorn_server(Collector(persona).asgi) as url:
            feed(url)
            codes = [call(url, "GET", "/v1/profiles/u-1", THROTTLED)[0] for _ in range(3)]
            assert codes == [200, 200, 429]
            status, headers, _ = call(url, "GET", "/v1/profiles/u-1", THROTTLED)
            assert status == 429
            assert int(headers["retry-after"]) >= 1
            assert call(url, "GET", "/v1/profiles/u-1", CRM)[0] == 200
    finally:
        persona.close()


def test_the_api_is_off_without_tokens_and_bad_tokens_are_config_errors() -> None:
    """Without tokens the routes are 404; short secrets and unknown scopes are refused with
    their paths, and a token's secret never shows in its repr."""
    persona = Persona({})
    try:
        from collector_helpers import head

        response = Collector(persona).handle(head("GET", "/v1/profiles/u-1"))
        assert response.status == 404
    finally:
        persona.close()
    with pytest.raises(ConfigError) as err:
        Container.from_dict(
            {"collector": {"profile_api": {"tokens": [
                {"name": "a", "token": "short", "scopes": ["profiles:read"]},
                {"name": "b", "token": "x" * 20, "scopes": ["profiles:write"]},
            ]}}}
        )  # fmt: skip
    text = "\n".join(err.value.errors)
    assert "collector.profile_api.tokens[0]: token: must be at least 16" in text
    assert "collector.profile_api.tokens[1]: scopes: unknown scope 'profiles:write'" in text
    cfg = Container.from_dict(CONTAINER).collector.profile_api
    assert CRM not in repr(cfg)
