"""PII normalization and hashing per Meta's and Google's documented rules."""

from __future__ import annotations

import hashlib

import pytest

from persona_sdk.privacy import (
    PiiKind,
    hash_pii,
    is_sha256_hex,
    normalize_pii,
    sha256_hex,
    truncate_ip,
)

# Meta, Conversions API "Customer Information Parameters": input, expected SHA-256 output.
META_VECTORS = [
    ("email", "John_Smith@gmail.com",
     "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    ("first_name", "Mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
    ("first_name", "정", "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
    ("first_name", "Valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "raw", "expected"), META_VECTORS)
def test_meta_documented_vectors(kind: str, raw: str, expected: str) -> None:
    """Meta's documented examples hash to Meta's documented SHA-256 outputs."""
    assert hash_pii(kind, raw, rules="meta") == expected


def test_meta_phone_vector_with_the_us_country_code() -> None:
    """Meta's phone example, "(650)555-1212" for a US number, normalizes to 16505551212 and
    hashes to the documented output."""
    assert normalize_pii("phone", "(650)555-1212", phone_country_code="1") == "16505551212"
    assert (
        hash_pii("phone", "(650)555-1212", phone_country_code="1")
        == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    )


def test_decomposed_accents_hash_like_precomposed_ones() -> None:
    """A name typed with a combining accent (NFD) hashes like Meta's precomposed example."""
    assert hash_pii("first_name", "Vale\u0301ry") == META_VECTORS[3][2]


@pytest.mark.parametrize(
    ("kind", "raw", "meta", "google"),
    [
        ("email", "  John.Smith@GMAIL.com ", "john.smith@gmail.com", "johnsmith@gmail.com"),
        ("email", "a.b@googlemail.com", "a.b@googlemail.com", "ab@googlemail.com"),
        ("email", "a.b@example.com", "a.b@example.com", "a.b@example.com"),
        ("phone", "+44 844 412 4653", "448444124653", "+448444124653"),
        ("phone", "0044 844 412 4653", "448444124653", "+448444124653"),
        ("phone", "+1 (650) 555-1212", "16505551212", "+16505551212"),
        ("first_name", " Mary-Jane ", "maryjane", "maryjane"),
        ("last_name", "O'Brien", "obrien", "obrien"),
        ("first_name", "Anne2", "anne2", "anne"),
        ("city", "Menlo Park", "menlopark", "menlo park"),
        ("state", "California", "ca", "california"),
        ("state", "CA", "ca", "ca"),
        ("zip", "94025-1234", "94025", "94025-1234"),
        ("zip", "SW1A 1AA", "sw1a1", "sw1a 1aa"),
        ("country", "US", "us", "us"),
        ("dob", "1997-02-16", "19970216", "19970216"),
        ("dob", "02/16/1997", "19970216", "19970216"),
        ("dob", "16/02/1997", "19970216", "19970216"),
        ("gender", "Female", "f", "f"),
        ("gender", "M", "m", "m"),
        ("external_id", " User-42 ", "User-42", "User-42"),
        ("street", "1 Hacker Way, Apt. 2", "1 hacker way apt 2", "1 hacker way apt 2"),
    ],
)
def test_normalization_per_platform(kind: str, raw: str, meta: str, google: str) -> None:
    """Each kind normalizes per Meta's rules and per Google's rules (they differ on Gmail
    dots, the phone "+", digits in names, spaces in cities)."""
    assert normalize_pii(kind, raw, rules="meta") == meta
    assert normalize_pii(kind, raw, rules="google") == google


@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("06 12 34 56 78", "33", "33612345678"),  # trunk 0 replaced by the country code
        ("(650) 555-1212", "1", "16505551212"),  # national number gets the code
        ("1-650-555-1212", "1", "16505551212"),  # already has it (11 digits)
        ("+33 6 12 34 56 78", "1", "33612345678"),  # an explicit "+" wins
        ("650 555 1212", None, "6505551212"),  # no code configured: digits only
    ],
)
def test_phone_country_code(raw: str, code: str | None, expected: str) -> None:
    """Numbers written without their country code get the configured one."""
    assert normalize_pii("phone", raw, phone_country_code=code) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("gender", "other"), ("dob", "sometime"), ("dob", "1997-13-40"), ("email", "   "),
     ("phone", "n/a"), ("country", "France")],
)  # fmt: skip
def test_unusable_values_are_dropped_not_sent_raw(kind: str, raw: str) -> None:
    """A value that does not normalize hashes to None: the field is dropped."""
    assert normalize_pii(kind, raw) is None
    assert hash_pii(kind, raw) is None


def test_hash_passthrough_numbers_and_structures() -> None:
    """Already-hashed values pass unchanged, numbers hash as text, structures do not hash."""
    digest = sha256_hex("a@b.c")
    assert is_sha256_hex(digest)
    assert hash_pii("email", digest) == digest
    assert hash_pii("external_id", 42) == hashlib.sha256(b"42").hexdigest()
    assert hash_pii("email", {"x": 1}) is None
    assert hash_pii("email", None) is None
    assert hash_pii("gender", True) is None
    assert hash_pii(PiiKind.OTHER, " Hello ") == sha256_hex("hello")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        (" 10.1.2.3 ", "10.1.2.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        ("1.2.3.4, 5.6.7.8", None),
        ("not an ip", None),
        (None, None),
    ],
)
def test_ip_truncation(raw: str | None, expected: str | None) -> None:
    """IPv4 keeps /24, IPv6 /48; anything else is refused (None)."""
    assert truncate_ip(raw) == expected
