"""``ga4``: Google Analytics 4 through the Measurement Protocol.

Each ``track`` becomes one GA4 event (Segment e-commerce names map to GA4's recommended
events: ``Order Completed`` -> ``purchase``, ``Product Viewed`` -> ``view_item``, ...; other
names become snake_case), ``page`` becomes ``page_view`` and ``screen`` ``screen_view``.
``identify``, ``group`` and ``alias`` are not sent. GA4 answers 2xx even to payloads it then
drops, so names and limits are checked here (see ``_ga4_rules``): an event GA4 would drop is
not sent, and counted by reason in :meth:`GA4Destination.rejections`; parameters over a limit
are trimmed and counted in :meth:`GA4Destination.adjustments` (``strict = true`` rejects the
event instead). Email, phone, names and street go out as GA4 user-provided data, normalized
per Google's rules and SHA-256 hashed::

    [destinations.ga4]
    type = "ga4"
    consent = ["analytics"]
    options = { measurement_id = "G-XXXXXXX", api_secret = "${env:GA4_API_SECRET}" }
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec
from attrs import Factory, field, frozen

from ..plugins import BatchConfig, ConfigError, PiiConfig, PiiKind, PiiRules, Secret
from ..plugins.kit import (
    HttpDestinationBase,
    HttpRequest,
    PrivacyOptions,
    Rejections,
    load_options,
    option_errors,
    parse_iso,
    privacy_policy,
)
from ..privacy import is_sha256_hex, normalize_pii
from . import _ga4_rules as rules
from ._ga4_params import SCALARS, event_params, truncate_value
from ._identity import first_value, get_path, identity_properties, identity_sources

__all__ = ["GA4Destination", "GA4Options"]

_GA_COOKIE = re.compile(r"GA\d\.\d+\.(\d+\.\d+)")
_CONSENT_FIELDS = ("ad_user_data", "ad_personalization")
_ADDRESS = (
    (PiiKind.FIRST_NAME, "sha256_first_name", True),
    (PiiKind.LAST_NAME, "sha256_last_name", True),
    (PiiKind.STREET, "sha256_street", True),
    (PiiKind.CITY, "city", False),
    (PiiKind.STATE, "region", False),
    (PiiKind.ZIP, "postal_code", False),
    (PiiKind.COUNTRY, "country", False),
)


@frozen(kw_only=True)
class GA4Options(PrivacyOptions):
    """Options of the ``ga4`` destination.

    ``event_names`` maps Segment event names to GA4 names (before the built-in e-commerce
    map); ``user_properties`` lists trait names sent as user properties; ``consent`` maps
    GA4's ``ad_user_data``/``ad_personalization`` to one of your purposes; ``client_id_path``
    reads the client id from an event path instead of ``anonymousId``.
    """

    measurement_id: str
    api_secret: Secret = field(repr=False)
    base_url: str = "https://www.google-analytics.com"
    event_names: dict[str, str] = Factory(dict)
    convert_names: bool = True
    strict: bool = False
    user_properties: list[str] = Factory(list)
    user_data: bool = True
    consent: dict[str, str] = Factory(dict)
    client_id_path: str | None = None
    engagement_time_msec: int | None = None
    timeout: float = 10.0


class GA4Destination(HttpDestinationBase):
    """Sends events to GA4's Measurement Protocol, validated locally.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        name: str = "ga4",
        options: Mapping[str, Any] | None = None,
        pii: PiiConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        opts = load_options(GA4Options, options)
        errors = option_errors(opts) + [
            f"consent.{k}: GA4 consent fields are {', '.join(_CONSENT_FIELDS)}"
            for k in opts.consent
            if k not in _CONSENT_FIELDS
        ]
        for i, prop in enumerate(opts.user_properties):
            problem = rules.user_property_name_problem(prop)
            if problem:
                errors.append(f"user_properties[{i}]: {problem}")
        for src, dst in opts.event_names.items():
            problem = rules.event_name_problem(dst)
            if problem:
                errors.append(f"event_names.{src}: {problem}")
        if not opts.base_url.startswith(("http://", "https://")):
            errors.append(f"base_url: {opts.base_url!r} is not an http(s) URL")
        if errors:
            raise ConfigError(errors)
        super().__init__(
            name=name,
            batch=BatchConfig(max_events=rules.MAX_EVENTS, max_bytes=120_000, gzip=False),
            timeout=opts.timeout,
            clock=clock,
        )
        self.options = opts
        self.policy = privacy_policy(opts, pii, PiiRules.GOOGLE)
        self.url = opts.base_url.rstrip("/") + "/mp/collect"
        self._params = {"measurement_id": opts.measurement_id, "api_secret": opts.api_secret}
        self._sources = identity_sources(pii)
        # identifiers go in user_data (hashed); GA4 forbids personal data in parameters
        self._identity_props = identity_properties(self._sources)
        self._rejected = Rejections()
        self._adjusted = Rejections()

    def rejections(self) -> dict[str, int]:
        """Events not sent because GA4 would drop them, by reason."""
        return self._rejected.snapshot()

    def adjustments(self) -> dict[str, int]:
        """Parameters trimmed to fit GA4's limits, by reason."""
        return self._adjusted.snapshot()

    # -- transform --------------------------------------------------------------------------

    def event_name(self, segment_name: str) -> str:
        """The GA4 name of a Segment event name (mapping, e-commerce map, snake_case)."""
        mapped = self.options.event_names.get(segment_name)
        if mapped is None:
            mapped = rules.ECOMMERCE_EVENTS.get(segment_name)
        if mapped is None:
            mapped = rules.snake_case(segment_name) if self.options.convert_names else segment_name
        return mapped

    def _reject(self, reason: str) -> None:
        self._rejected.note(reason)

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """One GA4 request envelope holding this one event, or ``None`` (counted) when GA4
        would drop it."""
        ev = self.policy.apply(event)
        kind = str(ev.get("type"))  # a non-string type is "unsupported_type" either way
        names = self._names(ev, kind)
        if names is None:
            return None
        source, name = names
        if rules.event_name_problem(name):
            self._reject("invalid_event_name")
            return None
        now = self.clock()
        ts = parse_iso(ev.get("timestamp")) or now
        if now - ts > rules.MAX_EVENT_AGE:
            self._reject("too_old")
            return None
        client_id = self._client_id(ev)
        if client_id is None:
            self._reject("missing_client_id")
            return None
        notes: list[str] = []
        params = event_params(
            ev,
            kind,
            source,
            notes,
            convert_names=self.options.convert_names,
            skip=self._identity_props,
            engagement_time_msec=self.options.engagement_time_msec,
        )
        if notes and self.options.strict:
            self._reject(notes[0])
            return None
        for note in notes:
            self._adjusted.note(note)
        out = self._identities(ev, client_id)
        out["events"] = [{"name": name, "params": params, "timestamp_micros": int(ts * 1e6)}]
        return out

    def _names(self, ev: Mapping[str, Any], kind: str) -> tuple[str, str] | None:
        """The Segment event name (empty for pages and screens) and its GA4 name; ``None``
        (counted) for an event GA4 cannot take."""
        if kind == "track":
            source = ev.get("event")
            if not isinstance(source, str) or not source:
                self._reject("missing_event_name")
                return None
            return source, self.event_name(source)
        if kind == "page":
            return "", "page_view"
        if kind == "screen":
            return "", "screen_view"
        self._reject("unsupported_type")
        return None

    def _identities(self, ev: Mapping[str, Any], client_id: str) -> dict[str, Any]:
        """The envelope around the event: client and user ids, user properties and data,
        consent."""
        out: dict[str, Any] = {"client_id": client_id}
        user_id = ev.get("userId")
        if isinstance(user_id, str) and user_id:
            if len(user_id) <= rules.MAX_USER_ID:
                out["user_id"] = user_id
            else:
                self._adjusted.note("user_id_too_long")
        props = self._user_properties(ev)
        if props:
            out["user_properties"] = props
        if self.options.user_data:
            data = self._user_data(ev)
            if data:
                out["user_data"] = data
        if self.options.consent:
            out["consent"] = self._consent(ev)
        return out

    def _client_id(self, ev: Mapping[str, Any]) -> str | None:
        path = self.options.client_id_path
        value = get_path(ev, path) if path else ev.get("anonymousId")
        if not isinstance(value, str) or not value:
            return None
        m = _GA_COOKIE.fullmatch(value)
        return m.group(1) if m else value

    def _user_properties(self, ev: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.options.user_properties[: rules.MAX_USER_PROPERTIES]:
            v = first_value(ev, (f"traits.{name}", f"context.traits.{name}"))
            if isinstance(v, (*SCALARS, bool)):
                v, cut = truncate_value(v, rules.MAX_USER_PROPERTY_VALUE)
                if cut:
                    self._adjusted.note("user_property_truncated")
                out[name] = {"value": v}
        return out

    def _user_data(self, ev: Mapping[str, Any]) -> dict[str, Any]:
        src, policy = self._sources, self.policy
        data: dict[str, Any] = {}
        for kind, key in ((PiiKind.EMAIL, "sha256_email_address"),
                          (PiiKind.PHONE, "sha256_phone_number")):  # fmt: skip
            h = policy.hash(kind, first_value(ev, src[kind]))
            if h:
                data[key] = [h]
        address: dict[str, Any] = {}
        for kind, key, hashed in _ADDRESS:
            v = first_value(ev, src[kind])
            if hashed:
                h = policy.hash(kind, v)
                if h:
                    address[key] = h
            elif isinstance(v, str) and not is_sha256_hex(v):
                # Google takes these in clear; a configured (hashed) one is left out
                plain = normalize_pii(kind, v, rules=PiiRules.GOOGLE)
                if plain:
                    address[key] = plain.upper() if kind is PiiKind.COUNTRY else plain
        if address:
            data["address"] = [address]
        return data

    def _consent(self, ev: Mapping[str, Any]) -> dict[str, str]:
        prefs = get_path(ev, "context.consent.categoryPreferences")
        prefs = prefs if isinstance(prefs, dict) else {}
        return {
            field_: "GRANTED" if prefs.get(purpose) is True else "DENIED"
            for field_, purpose in self.options.consent.items()
        }

    # -- send -------------------------------------------------------------------------------

    def requests(self, items: Sequence[bytes]) -> Iterable[HttpRequest]:
        """Events of one client (same envelope) share requests of at most 25 events and
        130 kB."""
        groups: dict[bytes, list[bytes]] = {}
        for raw in items:
            doc = msgspec.json.decode(raw)
            events = doc.pop("events", [])
            envelope = msgspec.json.encode(doc)
            bucket = groups.setdefault(envelope, [])
            bucket.extend(msgspec.json.encode(e) for e in events)
        for envelope, events in groups.items():
            head = envelope[:-1] + (b',"events":[' if len(envelope) > 2 else b'"events":[')
            start, size = 0, len(head) + 2
            for i, e in enumerate(events):
                full = i - start >= rules.MAX_EVENTS or size + len(e) + 1 > rules.MAX_BODY_BYTES
                if i > start and full:
                    yield self._request(head, events[start:i])
                    start, size = i, len(head) + 2
                size += len(e) + 1
            if start < len(events):
                yield self._request(head, events[start:])

    def _request(self, head: bytes, events: Sequence[bytes]) -> HttpRequest:
        return HttpRequest(
            url=self.url,
            content=head + b",".join(events) + b"]}",
            headers={"content-type": "application/json"},
            params=self._params,
        )
