"""The ``ga4`` destination: GA4 names and limits checked locally (GA4 answers 2xx to bad
payloads), e-commerce mapping, Google-normalized user data, batching per client."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from dest_helpers import encode_all, segment_event  # type: ignore[import-not-found]
from servers.sink import Sink

from persona_sdk import ConfigError
from persona_sdk.destinations.ga4 import GA4Destination
from persona_sdk.plugins import SendOutcome
from persona_sdk.privacy import PiiConfig, sha256_hex

NOW = 1_700_000_100.0


def _dest(
    url: str = "http://ga.test", pii: PiiConfig | None = None, **options: Any
) -> GA4Destination:
    opts = {"measurement_id": "G-TEST", "api_secret": "s3cret", "base_url": url, **options}
    return GA4Destination(name="ga4", options=opts, pii=pii, clock=lambda: NOW)


def _event(dest: GA4Destination, *args: Any, **kwargs: Any) -> dict[str, Any]:
    out = dest.transform(segment_event(*args, **kwargs))
    assert out is not None, dest.rejections()
    (event,) = out["events"]
    return {"envelope": out, **event}


def test_order_completed_becomes_purchase() -> None:
    """Segment's Order Completed maps to GA4's purchase with value, currency,
    transaction_id and items; the timestamp goes in microseconds."""
    dest = _dest()
    ev = _event(dest, properties={
        "order_id": "o-1", "total": 59.9, "currency": "EUR", "coupon": "SUMMER",
        "products": [{"product_id": "p-1", "name": "Mug", "price": 19.95, "quantity": 2},
                     {"sku": "s-2", "category": "Tea"}, {"nothing": True}],
    })  # fmt: skip
    assert ev["name"] == "purchase"
    assert ev["timestamp_micros"] == 1_700_000_000_000_000
    p = ev["params"]
    assert (p["transaction_id"], p["value"], p["currency"], p["coupon"]) == (
        "o-1",
        59.9,
        "EUR",
        "SUMMER",
    )
    assert p["items"] == [
        {"item_id": "p-1", "item_name": "Mug", "price": 19.95, "quantity": 2},
        {"item_id": "s-2", "item_category": "Tea"},
    ]
    assert ev["envelope"]["client_id"] == "a-1"


def test_single_product_pages_and_custom_events() -> None:
    """Product Viewed carries one item from its properties; page becomes page_view with
    page_location/title/referrer; other names become snake_case, properties too."""
    dest = _dest()
    viewed = _event(dest, "Product Viewed", properties={"product_id": "p-9", "price": 5})
    assert viewed["name"] == "view_item"
    assert viewed["params"] == {"value": 5, "items": [{"item_id": "p-9", "price": 5}]}
    page = _event(
        dest,
        type_="page",
        properties={"title": "Home"},
        context={"page": {"url": "https://shop.test/", "referrer": "https://a.b/"}},
    )
    assert page["name"] == "page_view"
    assert page["params"] == {"page_location": "https://shop.test/", "page_title": "Home",
                              "page_referrer": "https://a.b/"}  # fmt: skip
    custom = _event(dest, "Button Clicked", properties={"buttonColor": "red", "isPrimary": True})
    assert custom["name"] == "button_clicked"
    assert custom["params"] == {"button_color": "red", "is_primary": "true"}
    mapped = _dest(event_names={"Button Clicked": "cta_click"})
    assert _event(mapped, "Button Clicked")["name"] == "cta_click"


@pytest.mark.parametrize(
    ("event", "kwargs", "reason"),
    [
        ("First Visit", {}, "invalid_event_name"),  # reserved
        ("3D View", {}, "invalid_event_name"),  # must start with a letter
        ("x" * 41, {}, "invalid_event_name"),  # over 40 characters
        ("Order Completed", {"timestamp": NOW - 73 * 3600}, "too_old"),
        ("Order Completed", {"anonymous_id": None}, "missing_client_id"),
        ("Signed Up", {"type_": "identify"}, "unsupported_type"),
    ],
)
def test_events_ga4_would_drop_are_rejected_and_counted(
    event: str, kwargs: dict[str, Any], reason: str
) -> None:
    """Invalid or reserved names, events back-dated over 72 h, missing client ids and
    non-event calls are not sent; each rejection is counted by reason."""
    dest = _dest()
    assert dest.transform(segment_event(event, **kwargs)) is None
    assert dest.rejections() == {reason: 1}


def test_limits_are_enforced() -> None:
    """More than 25 parameters are cut to 25, values over 100 characters truncated
    (page_location may hold 1,000), invalid parameter names dropped; each counted. Strict
    mode rejects such events instead."""
    dest = _dest()
    props: dict[str, Any] = {f"p{i}": i for i in range(30)}
    props.update({"long": "y" * 150, "3d": 1, "nested": {"a": 1}})
    ev = _event(dest, properties=props)
    assert len(ev["params"]) == 25
    page = _event(dest, type_="page", properties={"url": "https://x.test/" + "z" * 2000})
    assert len(page["params"]["page_location"]) == 1000
    adjustments = dest.adjustments()
    assert adjustments["too_many_params"] == 1
    assert adjustments["invalid_param_name"] == 1
    assert adjustments["param_not_scalar"] == 1
    assert adjustments["value_truncated"] == 1
    strict = _dest(strict=True)
    assert strict.transform(segment_event(properties={"long": "y" * 150})) is None
    assert strict.rejections() == {"value_truncated": 1}


def test_user_data_is_normalized_per_google_and_hashed() -> None:
    """Email (Gmail dots removed), phone (E.164 with +), names and street are SHA-256
    hashed; city, region, postal code and country go in clear as Google requires, unless
    configured as PII (then they are left out). Emails in properties never become params."""
    pii = PiiConfig(
        fields={"context.traits.address.city": "city"},  # type: ignore[dict-item]
        phone_country_code="33",
    )
    dest = _dest(pii=pii)
    traits = {
        "email": " John.Smith@Gmail.com", "phone": "06 12 34 56 78", "firstName": "Zoë",
        "lastName": "Brown", "address": {"street": "1 Rue X", "city": "Paris",
                                         "state": "IDF", "postalCode": "75001", "country": "fr"},
    }  # fmt: skip
    ev = _event(dest, context={"traits": traits}, properties={"email": "a@b.c", "x": 1},
                user_id="u-1")  # fmt: skip
    data = ev["envelope"]["user_data"]
    assert data["sha256_email_address"] == [sha256_hex("johnsmith@gmail.com")]
    assert data["sha256_phone_number"] == [sha256_hex("+33612345678")]
    assert data["address"] == [{
        "sha256_first_name": sha256_hex("zoë"), "sha256_last_name": sha256_hex("brown"),
        "sha256_street": sha256_hex("1 rue x"), "region": "idf", "postal_code": "75001",
        "country": "FR",
    }]  # fmt: skip
    assert ev["params"] == {"x": 1}
    assert ev["envelope"]["user_id"] == "u-1"


def test_ga_cookie_client_ids_user_properties_and_consent() -> None:
    """A _ga-shaped id yields its client id; configured traits become user properties;
    GA4 consent fields follow the mapped purposes."""
    dest = _dest(
        user_properties=["plan"], consent={"ad_user_data": "ads", "ad_personalization": "perso"}
    )
    ev = _event(dest, anonymous_id="GA1.1.1234567890.1700000000",
                context={"traits": {"plan": "gold"},
                         "consent": {"categoryPreferences": {"ads": True}}})  # fmt: skip
    env = ev["envelope"]
    assert env["client_id"] == "1234567890.1700000000"
    assert env["user_properties"] == {"plan": {"value": "gold"}}
    assert env["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}


async def test_requests_group_by_client_with_25_events_at_most(sink: Sink) -> None:
    """Events of one client share requests of at most 25 events; the measurement id and API
    secret go in the query string; every event arrives once."""
    dest = _dest(sink.url)
    events = [
        segment_event(message_id=f"m-{i}", anonymous_id=f"c-{i % 2}", properties={"n": i})
        for i in range(60)
    ]
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, events), client)
    assert result.outcome is SendOutcome.DELIVERED
    per_request = [(r.json["client_id"], len(r.json["events"])) for r in sink.requests]
    assert all(n <= 25 for _, n in per_request)
    assert Counter(c for c, _ in per_request) == {"c-0": 2, "c-1": 2}
    assert sum(n for _, n in per_request) == 60
    req = sink.requests[0]
    assert req.path == "/mp/collect"
    assert parse_qs(req.query) == {"measurement_id": ["G-TEST"], "api_secret": ["s3cret"]}
    assert sorted(e["params"]["n"] for r in sink.requests for e in r.json["events"]) == list(
        range(60)
    )


def test_bad_options() -> None:
    """Reserved mapped names, bad user property names and unknown consent fields are
    reported with their paths."""
    with pytest.raises(ConfigError) as info:
        _dest(event_names={"A": "session_start"}, user_properties=["user_id"],
              consent={"analytics_storage": "x"})  # fmt: skip
    errors = "\n".join(info.value.errors)
    assert "event_names.A: 'session_start' is reserved" in errors
    assert "user_properties[0]: 'user_id' is reserved" in errors
    assert "consent.analytics_storage: " in errors
    with pytest.raises(ConfigError) as info:
        GA4Destination(options={})
    assert {e.split(":")[0] for e in info.value.errors} == {"measurement_id", "api_secret"}
