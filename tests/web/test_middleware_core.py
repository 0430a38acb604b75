"""The framework-free core of the middlewares: ids, cookie, attributes, consent of a request."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from persona_sdk.web import CookieSettings, VisitorOptions
from persona_sdk.web._consent import write_consent_cookie as write_consent
from persona_sdk.web._middleware import RequestFacts, VisitorResolver

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def facts(
    *,
    path: str = "/",
    query: str = "",
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
) -> RequestFacts:
    return RequestFacts(
        scheme="https",
        host="shop.example",
        path=path,
        query=query,
        headers=headers or {},
        cookies=cookies or {},
    )


def resolver(**options: Any) -> VisitorResolver:
    return VisitorResolver(VisitorOptions(**options), gpc_purposes=frozenset({"advertising"}))


def test_a_new_visitor_gets_a_fresh_uuid_and_a_cookie() -> None:
    """Without any id cookie the visitor gets a random UUID and the cookie must be set."""
    args = resolver().resolve(facts())
    assert uuid.UUID(args.anonymous_id).version == 4
    assert args.set_cookie is not None
    assert args.set_cookie.startswith(f"persona_id={args.anonymous_id}; ")


def test_the_cookie_carries_secure_lax_httponly_and_at_most_400_days() -> None:
    """The visitor cookie is Secure, SameSite=Lax, HttpOnly, path / and lives 400 days."""
    header = resolver().cookie_header("abc")
    parts = [p.strip() for p in header.split(";")]
    assert parts[0] == "persona_id=abc"
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=34560000"} <= set(parts)
    custom = resolver(cookie=CookieSettings(domain=".example.com", httponly=False,
                                            max_age_days=30)).cookie_header("abc")
    assert "Domain=.example.com" in custom
    assert "HttpOnly" not in custom
    assert "Max-Age=2592000" in custom


def test_cookie_lifetimes_over_400_days_are_refused() -> None:
    """Browsers cap cookies at 400 days, so longer lifetimes are a configuration error."""
    with pytest.raises(ValueError, match="400"):
        VisitorOptions(cookie=CookieSettings(max_age_days=401))


def test_an_existing_cookie_is_reused_without_rewriting_it() -> None:
    """A returning visitor keeps its id; the cookie is rewritten only with refresh_cookie."""
    args = resolver().resolve(facts(cookies={"persona_id": "v-123"}))
    assert (args.anonymous_id, args.set_cookie) == ("v-123", None)
    sliding = resolver(refresh_cookie=True).resolve(facts(cookies={"persona_id": "v-123"}))
    assert sliding.set_cookie is not None
    assert sliding.set_cookie.startswith("persona_id=v-123;")


@pytest.mark.parametrize(
    "value", ["", "<script>", "a b", "x" * 200, "id;evil", '"quoted"', "é-accent"]
)
def test_a_hostile_cookie_value_is_replaced(value: str) -> None:
    """Cookie values that are not plain ids never become the anonymous id."""
    args = resolver().resolve(facts(cookies={"persona_id": value}))
    assert args.anonymous_id != value
    assert args.set_cookie is not None


def test_analytics_js_ids_are_adopted() -> None:
    """analytics.js' ajs_anonymous_id cookie (a URL-encoded JSON string) is adopted."""
    args = resolver().resolve(facts(cookies={"ajs_anonymous_id": "%22f3a1-77%22"}))
    assert args.anonymous_id == "f3a1-77"
    assert args.set_cookie is not None  # written under our own name from now on


def test_google_analytics_client_ids_are_adopted() -> None:
    """The _ga cookie's client id (the last two fields) is adopted."""
    args = resolver().resolve(facts(cookies={"_ga": "GA1.1.1234567890.1700000000"}))
    assert args.anonymous_id == "1234567890.1700000000"


def test_our_own_cookie_wins_over_adopted_ones_and_adoption_can_be_off() -> None:
    """The first-party cookie takes precedence; adopt_cookies=False ignores the others."""
    both = {"persona_id": "mine", "ajs_anonymous_id": "theirs", "_ga": "GA1.1.1.2"}
    assert resolver().resolve(facts(cookies=both)).anonymous_id == "mine"
    off = resolver(adopt_cookies=False).resolve(facts(cookies={"ajs_anonymous_id": "theirs"}))
    assert off.anonymous_id != "theirs"


def test_request_attributes_follow_growthbook_names() -> None:
    """url, host, path, query, utm parameters, referrer, parsed user agent, locale, country."""
    attrs = resolver().attributes(
        facts(
            path="/products/shoe",
            query="utm_source=news&utm_campaign=spring&x=1",
            headers={
                "referer": "https://search.example/?q=shoe",
                "user-agent": SAFARI_IPHONE,
                "accept-language": "fr-CH, fr;q=0.9, en;q=0.8",
                "cf-ipcountry": "ch",
            },
        )
    )
    assert attrs == {
        "url": "https://shop.example/products/shoe?utm_source=news&utm_campaign=spring&x=1",
        "host": "shop.example",
        "path": "/products/shoe",
        "query": "utm_source=news&utm_campaign=spring&x=1",
        "utmSource": "news",
        "utmCampaign": "spring",
        "referrer": "https://search.example/?q=shoe",
        "userAgent": SAFARI_IPHONE,
        "deviceType": "mobile",
        "browser": "Safari",
        "browserVersion": "17.5",
        "os": "iOS",
        "osVersion": "17.5",
        "locale": "fr-CH",
        "language": "fr",
        "country": "CH",
    }


def test_a_bare_request_has_only_its_url_attributes() -> None:
    """Missing headers add no attributes (no None values for conditions to trip on)."""
    assert resolver().attributes(facts()) == {
        "url": "https://shop.example/", "host": "shop.example", "path": "/", "query": "",
    }


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("en-US,en;q=0.9", "en-US"),
        ("de;q=0.5, it;q=0.8", "it"),
        ("*", None),
        ("en;q=abc, pt-BR", "pt-BR"),
        ("<x>", None),
    ],
)
def test_locale_is_the_preferred_accept_language(header: str, locale: str | None) -> None:
    """The highest-q language tag is the locale; wildcards and junk are skipped."""
    attrs = resolver().attributes(facts(headers={"accept-language": header}))
    assert attrs.get("locale") == locale


def test_the_country_header_is_configurable_and_placeholders_are_ignored() -> None:
    """Any CDN header can carry the country; XX (unknown) and T1 (Tor) are not countries."""
    custom = resolver(country_header="X-Country")
    assert custom.attributes(facts(headers={"x-country": "fr"}))["country"] == "FR"
    assert "country" not in resolver().attributes(facts(headers={"cf-ipcountry": "XX"}))
    assert "country" not in resolver().attributes(facts(headers={"cf-ipcountry": "T1"}))
    assert "country" not in resolver(country_header=None).attributes(
        facts(headers={"cf-ipcountry": "FR"})
    )


def test_desktop_user_agents_parse_to_desktop() -> None:
    """A desktop Chrome user agent gives deviceType desktop, browser Chrome, os macOS."""
    attrs = resolver().attributes(facts(headers={"user-agent": CHROME_MAC}))
    assert (attrs["deviceType"], attrs["browser"], attrs["os"]) == ("desktop", "Chrome", "macOS")


def test_consent_comes_from_the_consent_cookie() -> None:
    """The consent cookie the JS tag writes gives the visitor's purposes."""
    cookie = write_consent({"analytics": True, "advertising": False})
    args = resolver().resolve(facts(cookies={"persona_consent": cookie}))
    assert args.consent == {"analytics": True, "advertising": False}


def test_without_a_consent_cookie_consent_is_unknown() -> None:
    """No cookie (or an unreadable one) means unknown consent, which grants nothing."""
    assert resolver().resolve(facts()).consent is None
    assert resolver().resolve(facts(cookies={"persona_consent": "%7Bnot json"})).consent is None


def test_gpc_withdraws_sale_and_sharing_purposes() -> None:
    """Sec-GPC: 1 turns off the purposes marked sale_sharing, whatever the cookie says."""
    cookie = write_consent({"analytics": True, "advertising": True})
    args = resolver().resolve(
        facts(headers={"sec-gpc": "1"}, cookies={"persona_consent": cookie})
    )
    assert args.consent == {"analytics": True, "advertising": False}
    assert resolver().resolve(facts(headers={"sec-gpc": "1"})).consent == {"advertising": False}


def test_excluded_paths_are_prefixes() -> None:
    """exclude_paths matches by prefix."""
    r = resolver(exclude_paths=("/static/", "/v1/"))
    assert r.excluded("/static/app.css")
    assert r.excluded("/v1/batch")
    assert not r.excluded("/products")
    assert not resolver().excluded("/static/x")



def test_the_bootstrap_cannot_be_broken_out_of() -> None:
    """Feature values are escaped for a script element: no </script>, <!-- or line separator
    survives, and the JSON still decodes to the original value."""
    import json

    from persona_sdk import Persona
    from persona_sdk.web import render_bootstrap

    hostile = "</script><script>alert(1)</script><!-- \u2028 & done"
    with Persona({"features": {"x": {"defaultValue": hostile}}}) as persona:
        html = render_bootstrap(persona.visitor(anonymous_id="a-1"), ["x"], nonce='n"1')
    assert html.startswith('<script nonce="n&quot;1">window.__persona=')
    inner = html[html.index("=") + 1 : -len(";</script>")]
    inner = inner[inner.index("{"):]
    for bad in ("</", "<!--", "\u2028", "&"):
        assert bad not in inner
    assert json.loads(inner)["features"]["x"]["value"] == hostile


def test_one_cookie_definition_for_the_collector_and_every_middleware() -> None:
    """The middleware's cookie settings are the collector's (one ``CookieSettings``); a
    ``cookie`` mapping overrides single fields. A framework's ``set_cookie`` (Django's,
    Flask's) writes ``SameSite=None`` with ``Secure``, as the collector's header does."""
    from werkzeug.wrappers import Response

    from persona_sdk import Persona
    from persona_sdk.web._middleware import build_resolver

    container = {"collector": {"cookie": {"name": "sid", "samesite": "None", "secure": False}}}
    with Persona(container) as persona:
        shared = build_resolver(persona, None)
        assert shared.cookie is persona.container.collector.cookie
        renamed = build_resolver(persona, None, cookie={"name": "vid"})
        assert (renamed.cookie.name, renamed.cookie.samesite) == ("vid", "None")
    assert "; Secure; " in shared.cookie_header("v1")
    response = Response()
    shared.set_cookie(response, "v1")
    written = response.headers["Set-Cookie"]
    assert written.startswith("sid=v1; ")
    assert {"Secure", "SameSite=None"} <= {p.strip() for p in written.split(";")}
