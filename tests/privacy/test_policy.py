"""The per-destination privacy policy: hash, remove, keep, truncate; never mutates input."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_sdk.privacy import PiiConfig, PrivacyPolicy, hash_pii, sha256_hex


def _event() -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "u-1",
        "traits": {"email": "Ann@Example.org", "name": "Ann"},
        "context": {"ip": "203.0.113.9", "userAgent": "UA", "traits": {"phone": "+33 6 12"}},
        "properties": {
            "products": [{"id": 1, "email": "b@c.d"}, {"id": 2}],
            "emails": ["X@Y.z", "w@v.u"],
            "profile": {"email": "nested@x.y"},
        },
    }


def test_hash_is_copy_on_write() -> None:
    """Configured fields are hashed in a new dict; the input and untouched branches are
    shared, never mutated."""
    ev = _event()
    before = copy.deepcopy(ev)
    policy = PrivacyPolicy(fields={"traits.email": "email", "context.traits.phone": "phone"})
    out = policy.apply(ev)
    assert ev == before
    assert out["traits"]["email"] == hash_pii("email", "Ann@Example.org")
    assert out["context"]["traits"]["phone"] == hash_pii("phone", "+33 6 12")
    assert out["properties"] is ev["properties"]  # untouched branch shared
    assert out["traits"] is not ev["traits"]


def test_wildcards_lists_and_structures() -> None:
    """``*`` reaches every list element; list values hash element-wise; a structure under a
    PII path is removed (it cannot be hashed as one value)."""
    policy = PrivacyPolicy(
        fields={
            "properties.products.*.email": "email",
            "properties.emails": "email",
            "properties.profile": "email",
        }
    )
    out = policy.apply(_event())
    products = out["properties"]["products"]
    assert products[0]["email"] == sha256_hex("b@c.d")
    assert products[1] == {"id": 2}
    assert out["properties"]["emails"] == [sha256_hex("x@y.z"), sha256_hex("w@v.u")]
    assert "profile" not in out["properties"]


def test_remove_keep_truncate_and_priorities() -> None:
    """``remove`` beats hashing on the same path; ``keep`` sends fields as they are but
    still truncates IPs; an IP configured as PII is hashed, not truncated."""
    removed = PrivacyPolicy(
        fields={"traits.email": "email"}, remove=["traits.email", "context.userAgent"]
    ).apply(_event())
    assert "email" not in removed["traits"]
    assert "userAgent" not in removed["context"]

    kept = PrivacyPolicy(fields={"traits.email": "email"}, action="keep", truncate_ip=True)
    out = kept.apply(_event())
    assert out["traits"]["email"] == "Ann@Example.org"
    assert out["context"]["ip"] == "203.0.113.0"

    hashed_ip = PrivacyPolicy(fields={"context.ip": "other"}, truncate_ip=True).apply(_event())
    assert hashed_ip["context"]["ip"] == sha256_hex("203.0.113.9")

    gone = PrivacyPolicy(fields={"traits.email": "email"}, action="remove").apply(_event())
    assert "email" not in gone["traits"]


def test_from_config_merges_destination_overrides() -> None:
    """A destination's options override the container's action and truncation and add
    fields and removals; the container's phone country code applies."""
    pii = PiiConfig(
        fields={"traits.email": "email"},  # type: ignore[dict-item]
        truncate_ip=True,
        phone_country_code="33",
    )
    policy = PrivacyPolicy.from_config(
        pii, truncate_ip=False, fields={"context.traits.phone": "phone"}, remove=["userId"]
    )
    out = policy.apply(_event())
    assert out["context"]["ip"] == "203.0.113.9"
    assert out["context"]["traits"]["phone"] == sha256_hex("33612")
    assert "userId" not in out
    assert PrivacyPolicy.from_config(None).is_noop


def test_a_noop_policy_returns_the_same_object() -> None:
    """Nothing configured: the event passes through untouched, without a copy."""
    ev = _event()
    assert PrivacyPolicy().apply(ev) is ev


_emails = st.from_regex(r"[A-Za-z0-9._%+-]{1,24}@[A-Za-z0-9-]{1,16}\.[A-Za-z]{2,6}", fullmatch=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(email=_emails, phone=st.from_regex(r"\+[1-9][0-9]{7,12}", fullmatch=True))
def test_configured_pii_never_survives_hashing(email: str, phone: str) -> None:
    """Property: after a hashing policy, the encoded event contains neither raw value."""
    ev = {"traits": {"email": email}, "context": {"traits": {"phone": phone}}}
    policy = PrivacyPolicy(fields={"traits.email": "email", "context.traits.phone": "phone"})
    wire = msgspec.json.encode(policy.apply(ev)).decode()
    assert email not in wire
    assert email.lower() not in wire
    assert phone not in wire
    assert phone.lstrip("+") not in wire
