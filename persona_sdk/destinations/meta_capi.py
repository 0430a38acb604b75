"""``meta_capi``: Meta's Conversions API (server events for Facebook/Instagram ads).

Each ``track`` or ``page`` becomes one server event: ``event_name`` (Segment e-commerce names
map to Meta's standard events: ``Order Completed`` -> ``Purchase``, ``Product Viewed`` ->
``ViewContent``, ...; ``page`` -> ``PageView``; others keep their name as a custom event),
``event_time`` (unix seconds), ``event_id`` = ``messageId`` (so Meta deduplicates it against
the same event from the Pixel), ``action_source`` and ``event_source_url``, ``user_data``
normalized and SHA-256 hashed per Meta's rules (``em ph fn ln ct st zp country db ge
external_id``; ``client_ip_address``, ``client_user_agent``, ``fbp`` and ``fbc`` unhashed, as
Meta requires) and ``custom_data`` (``value``, ``currency``, ``content_ids``, ``contents``,
...). Batches of up to 1,000 events are POST-ed to
``https://graph.facebook.com/{api_version}/{pixel_id}/events``::

    [destinations.meta]
    type = "meta_capi"
    consent = ["advertising"]
    options = { pixel_id = "1234567890", access_token = "${env:META_CAPI_TOKEN}" }

Events Meta would refuse (older than 7 days; a ``website`` event without a user agent or
URL) are not sent, and counted by reason in :meth:`MetaCapiDestination.rejections`.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from attrs import Factory, field, frozen

from ..plugins import BatchConfig, ConfigError, PiiConfig, PiiKind, PiiRules, Secret, SendResult
from ..plugins.kit import (
    HttpDestinationBase,
    HttpRequest,
    PrivacyOptions,
    Rejections,
    chunk_by_size,
    classify_status,
    load_options,
    option_errors,
    parse_iso,
    privacy_policy,
)
from ._identity import first_value, get_path, identity_properties, identity_sources

__all__ = ["MetaCapiDestination", "MetaCapiOptions"]

MAX_EVENTS = 1000
MAX_EVENT_AGE = 7 * 86400.0

#: Segment e-commerce spec event names and Meta's standard events.
STANDARD_EVENTS = {
    "Order Completed": "Purchase",
    "Product Viewed": "ViewContent",
    "Product Added": "AddToCart",
    "Product Added to Wishlist": "AddToWishlist",
    "Checkout Started": "InitiateCheckout",
    "Payment Info Entered": "AddPaymentInfo",
    "Products Searched": "Search",
    "Signed Up": "CompleteRegistration",
    "Lead Generated": "Lead",
}
_USER_DATA = (
    (PiiKind.EMAIL, "em"),
    (PiiKind.PHONE, "ph"),
    (PiiKind.FIRST_NAME, "fn"),
    (PiiKind.LAST_NAME, "ln"),
    (PiiKind.CITY, "ct"),
    (PiiKind.STATE, "st"),
    (PiiKind.ZIP, "zp"),
    (PiiKind.COUNTRY, "country"),
    (PiiKind.DOB, "db"),
    (PiiKind.GENDER, "ge"),
    (PiiKind.EXTERNAL_ID, "external_id"),
)
_ACTION_SOURCES = frozenset({
    "email", "website", "app", "phone_call", "chat", "physical_store", "system_generated",
    "business_messaging", "other",
})  # fmt: skip
# Graph API error codes for throttling and temporary failures (answered with HTTP 400)
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80004})
_SEGMENT_KEYS = frozenset({"value", "revenue", "total", "currency", "products", "order_id",
                           "query", "name", "category", "product_id", "sku", "price",
                           "quantity"})  # fmt: skip


@frozen(kw_only=True)
class MetaCapiOptions(PrivacyOptions):
    """Options of the ``meta_capi`` destination.

    ``event_names`` maps Segment event names to Meta event names (before the built-in
    map); ``test_event_code`` routes events to Events Manager's Test Events tab;
    ``custom_properties`` also sends the remaining (scalar) properties in ``custom_data``.
    """

    pixel_id: str
    access_token: Secret = field(repr=False)
    api_version: str = "v24.0"
    base_url: str = "https://graph.facebook.com"
    action_source: str = "website"
    test_event_code: str | None = None
    event_names: dict[str, str] = Factory(dict)
    custom_properties: bool = True
    timeout: float = 10.0


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _valid_ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None  # a hashed or unparsable address: Meta only takes it in clear


class MetaCapiDestination(HttpDestinationBase):
    """Sends conversions to Meta's Conversions API.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        name: str = "meta_capi",
        options: Mapping[str, Any] | None = None,
        pii: PiiConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        opts = load_options(MetaCapiOptions, options)
        errors = option_errors(opts)
        if not opts.pixel_id.isdigit():
            errors.append(f"pixel_id: {opts.pixel_id!r} is not a numeric pixel (dataset) id")
        if opts.action_source not in _ACTION_SOURCES:
            errors.append(
                f"action_source: {opts.action_source!r} is not one of "
                + ", ".join(sorted(_ACTION_SOURCES))
            )
        if not opts.api_version.startswith("v"):
            errors.append(f"api_version: {opts.api_version!r} should look like 'v24.0'")
        if not opts.base_url.startswith(("http://", "https://")):
            errors.append(f"base_url: {opts.base_url!r} is not an http(s) URL")
        if errors:
            raise ConfigError(errors)
        super().__init__(
            name=name,
            batch=BatchConfig(max_events=MAX_EVENTS, max_bytes=2_000_000, gzip=False),
            timeout=opts.timeout,
            clock=clock,
        )
        self.options = opts
        self.policy = privacy_policy(opts, pii, PiiRules.META)
        self.url = f"{opts.base_url.rstrip('/')}/{opts.api_version}/{opts.pixel_id}/events"
        self._sources = identity_sources(pii)
        # identifiers go in user_data (hashed), never in clear in custom_data
        self._identity_props = identity_properties(self._sources) | {"fbp", "fbc"}
        self._rejected = Rejections()
        # the token rides in the body (the Graph API reads parameters from it), not in the
        # query string, where request logs and proxies would record it
        tail = b',"access_token":' + msgspec.json.encode(str(opts.access_token)) + b"}"
        if opts.test_event_code:
            tail = b',"test_event_code":' + msgspec.json.encode(opts.test_event_code) + tail
        self._tail = tail

    def rejections(self) -> dict[str, int]:
        """Events not sent because Meta would refuse them, by reason."""
        return self._rejected.snapshot()

    def event_name(self, segment_name: str) -> str:
        """Meta's name for a Segment event name."""
        return self.options.event_names.get(segment_name) or STANDARD_EVENTS.get(
            segment_name, segment_name
        )

    def _reject(self, reason: str) -> None:
        self._rejected.note(reason)

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """One Conversions API server event, or ``None`` (counted) when Meta would refuse it."""
        ev = self.policy.apply(event)
        kind = ev.get("type")
        if kind == "track" and isinstance(ev.get("event"), str) and ev["event"]:
            name = self.event_name(ev["event"])
        elif kind == "page":
            name = self.options.event_names.get("page", "PageView")
        else:
            self._reject("unsupported_type")
            return None
        now = self.clock()
        ts = parse_iso(ev.get("timestamp")) or now
        if now - ts > MAX_EVENT_AGE:
            self._reject("too_old")
            return None
        url = get_path(ev, "context.page.url")
        if not isinstance(url, str) or not url:
            props = ev.get("properties")
            url = props.get("url") if kind == "page" and isinstance(props, dict) else None
        user_data = self._user_data(ev, ts)
        website = self.options.action_source == "website"
        if website and "client_user_agent" not in user_data:
            self._reject("missing_client_user_agent")
            return None
        if website and not url:
            self._reject("missing_event_source_url")
            return None
        out: dict[str, Any] = {
            "event_name": name,
            "event_time": int(ts),
            "action_source": self.options.action_source,
            "user_data": user_data,
        }
        mid = ev.get("messageId")
        if isinstance(mid, str) and mid:
            out["event_id"] = mid
        if url:
            out["event_source_url"] = url
        custom = self._custom_data(ev)
        if custom:
            out["custom_data"] = custom
        return out

    def _user_data(self, ev: Mapping[str, Any], ts: float) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for kind, key in _USER_DATA:
            h = self.policy.hash(kind, first_value(ev, self._sources[kind]))
            if h:
                data[key] = [h] if key in ("em", "ph") else h
        ip = _valid_ip(get_path(ev, "context.ip"))
        if ip:
            data["client_ip_address"] = ip
        ua = get_path(ev, "context.userAgent")
        if isinstance(ua, str) and ua:
            data["client_user_agent"] = ua
        for key in ("fbp", "fbc"):
            v = first_value(ev, (f"context.{key}", f"properties.{key}"))
            if isinstance(v, str) and v:
                data[key] = v
        if "fbc" not in data:
            # a click id in the landing URL makes the fbc value Meta documents
            url = get_path(ev, "context.page.url")
            if isinstance(url, str) and "fbclid=" in url:
                clid = parse_qs(urlsplit(url).query).get("fbclid")
                if clid and clid[0]:
                    data["fbc"] = f"fb.1.{int(ts * 1000)}.{clid[0]}"
        return data

    def _custom_data(self, ev: Mapping[str, Any]) -> dict[str, Any]:
        props = ev.get("properties")
        if not isinstance(props, dict):
            return {}
        out: dict[str, Any] = {}
        for key in ("value", "revenue", "total", "price"):
            v = _number(props.get(key))
            if v is not None:
                out["value"] = v
                break
        if isinstance(props.get("currency"), str):
            out["currency"] = props["currency"]
        products = props.get("products")
        if not isinstance(products, list):
            products = [props] if ("product_id" in props or "sku" in props) else []
        contents = []
        for p in products:
            if not isinstance(p, dict):
                continue
            pid = p.get("product_id", p.get("sku", p.get("id")))
            if pid is None:
                continue
            item: dict[str, Any] = {"id": str(pid)}
            if _number(p.get("quantity")) is not None:
                item["quantity"] = p["quantity"]
            if _number(p.get("price")) is not None:
                item["item_price"] = p["price"]
            contents.append(item)
        if contents:
            out["content_ids"] = [c["id"] for c in contents]
            out["contents"] = contents
            out["content_type"] = "product"
            out["num_items"] = sum(int(c.get("quantity", 1)) for c in contents)
        for src, dst in (("order_id", "order_id"), ("query", "search_string"),
                         ("name", "content_name"), ("category", "content_category")):  # fmt: skip
            v = props.get(src)
            if (isinstance(v, str) and v) or (
                isinstance(v, (int, float)) and v is not True and v is not False
            ):
                out[dst] = v
        if self.options.custom_properties:
            for key, v in props.items():
                if key in _SEGMENT_KEYS or key in out or key in self._identity_props:
                    continue
                if isinstance(v, (str, int, float, bool)):
                    out[key] = v
        return out

    def requests(self, items: Sequence[bytes]) -> Iterable[HttpRequest]:
        """``{"data": [...], "access_token": ...}`` requests of at most 1,000 events."""
        for chunk in chunk_by_size(items, max_bytes=1 << 62, max_items=MAX_EVENTS, overhead=0):
            yield HttpRequest(
                url=self.url,
                content=b'{"data":[' + b",".join(chunk) + b"]" + self._tail,
                headers={"content-type": "application/json"},
            )

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
        """Graph API throttling and temporary errors come as HTTP 400 with an error code or
        ``is_transient``: those are retried; other 4xx are dead."""
        result = classify_status(status, headers, body, now=self.clock())
        if status == 400 and body:
            try:
                error = msgspec.json.decode(body).get("error") or {}
            except (msgspec.DecodeError, AttributeError):
                error = {}
            if isinstance(error, dict) and (
                error.get("is_transient") is True or error.get("code") in _TRANSIENT_CODES
            ):
                return SendResult.retry(result.detail, status=status)
        return result
