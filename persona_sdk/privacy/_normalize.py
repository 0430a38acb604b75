"""PII normalization and SHA-256 hashing, per platform rules (Meta's and Google's differ).

Meta (Conversions API, customer information parameters): email trimmed and lower-cased;
phone digits only, with the country code and no leading zeros or ``+``; names lower-cased
without punctuation (UTF-8); city lower-cased without spaces or punctuation; state as the
2-letter code, lower-cased; zip lower-cased without spaces, the first 5 digits for a US zip;
country as ISO 3166-1 alpha-2, lower-cased; date of birth ``YYYYMMDD``; gender ``f``/``m``.

Google (enhanced conversions, GA4 user-provided data): email trimmed and lower-cased, and
for ``gmail.com``/``googlemail.com`` the dots before the ``@`` removed; phone in E.164 with
the ``+``; names and street lower-cased and trimmed, digits (names only) and symbols removed.

Both hash the normalized UTF-8 string with SHA-256 and send it as lower-case hex.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable

from ..config import PiiKind, PiiRules

__all__ = ["hash_pii", "is_sha256_hex", "normalize_pii", "sha256_hex"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_US_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")
_UK_POSTCODE = re.compile(r"([a-z]{1,2}\d[a-z\d]?)(\d)[a-z]{2}")
_ISO_DATE = re.compile(r"(\d{4})\D?(\d{1,2})\D?(\d{1,2})(?:\D.*)?")
_YEAR_LAST = re.compile(r"(\d{1,2})\D(\d{1,2})\D(\d{4})")
_GMAIL = frozenset({"gmail.com", "googlemail.com"})

# US states and territories by name, so "California" and "CA" both normalize to "ca".
_US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi",
    "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "newhampshire": "nh", "newjersey": "nj",
    "newmexico": "nm", "newyork": "ny", "northcarolina": "nc", "northdakota": "nd",
    "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd", "tennessee": "tn",
    "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy", "puertorico": "pr",
    "guam": "gu", "americansamoa": "as", "virginislands": "vi",
    "northernmarianaislands": "mp",
}  # fmt: skip


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``value``, as lower-case hex."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """Whether ``value`` already looks like a SHA-256 hex digest (64 lower-case hex digits)."""
    return len(value) == 64 and _HEX64.fullmatch(value) is not None


def _base(value: str) -> str:
    # NFC first: "é" typed as e + combining accent must hash like the precomposed letter
    return unicodedata.normalize("NFC", value).strip().lower()


def _keep(value: str, keep: Callable[[str], bool]) -> str:
    return "".join(ch for ch in value if keep(ch))


def _not_punct_or_symbol(ch: str) -> bool:
    return unicodedata.category(ch)[0] not in "PS"


def _letter_or_space(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "LM"


def _collapse(value: str) -> str:
    return " ".join(value.split())


def _email(value: str, rules: PiiRules) -> str | None:
    s = _base(value)
    if rules is PiiRules.GOOGLE:
        local, at, domain = s.rpartition("@")
        if at and domain in _GMAIL:
            s = local.replace(".", "") + "@" + domain
    return s or None


def _phone(value: str, rules: PiiRules, country_code: str | None) -> str | None:
    s = value.strip()
    digits = "".join(ch for ch in s if "0" <= ch <= "9")
    if not digits:
        return None
    if s.startswith("+"):
        national = digits.lstrip("0")
    elif digits.startswith("00"):  # the international call prefix stands for "+"
        national = digits[2:].lstrip("0")
    elif country_code and digits.startswith("0"):  # a trunk prefix: replace with the code
        national = country_code + digits.lstrip("0")
    elif country_code and len(digits) <= 10:  # a national number without its country code
        national = country_code + digits
    else:
        national = digits.lstrip("0")
    if not national:
        return None
    return "+" + national if rules is PiiRules.GOOGLE else national


def _name(value: str, rules: PiiRules) -> str | None:
    s = _base(value)
    keep = _letter_or_space if rules is PiiRules.GOOGLE else _not_punct_or_symbol
    return _collapse(_keep(s, keep)) or None


def _street(value: str) -> str | None:
    return _collapse(_keep(_base(value), _not_punct_or_symbol)) or None


def _city(value: str, rules: PiiRules) -> str | None:
    s = _base(value)
    if rules is PiiRules.GOOGLE:
        return _collapse(_keep(s, _letter_or_space)) or None
    return _keep(s, str.isalnum) or None


def _state(value: str, rules: PiiRules) -> str | None:
    s = _base(value)
    if rules is PiiRules.GOOGLE:
        return _collapse(_keep(s, _letter_or_space)) or None
    compact = _keep(s, str.isalnum)
    return _US_STATES.get(compact, compact) or None


def _zip(value: str, rules: PiiRules) -> str | None:
    s = _base(value)
    if rules is PiiRules.GOOGLE:
        return s or None
    s = "".join(s.split())
    m = _US_ZIP.fullmatch(s)
    if m:
        return m.group(1)
    m = _UK_POSTCODE.fullmatch(s)
    if m:  # area + district + sector: "SW1A 1AA" -> "sw1a1"
        return m.group(1) + m.group(2)
    return s or None


def _country(value: str) -> str | None:
    s = _keep(_base(value), str.isalpha)
    return s if len(s) == 2 else None


def _dob(value: str) -> str | None:
    s = value.strip()
    m = _ISO_DATE.fullmatch(s)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = _YEAR_LAST.fullmatch(s)
        if not m:
            return None
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        mo, d = (b, a) if a > 12 else (a, b)  # month first unless that cannot be a month
    if not (1900 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}{mo:02d}{d:02d}"


def _gender(value: str) -> str | None:
    s = _base(value)
    if s in ("f", "female", "woman", "w"):
        return "f"
    if s in ("m", "male", "man"):
        return "m"
    return None


def normalize_pii(
    kind: PiiKind | str,
    value: str,
    *,
    rules: PiiRules | str = PiiRules.META,
    phone_country_code: str | None = None,
) -> str | None:
    """Normalize one personal value the way ``rules`` require before hashing.

    Returns ``None`` when nothing usable is left (an empty string, a gender other than
    f/m, an unreadable date): such a value is dropped, never sent as is.

    Example::

        normalize_pii("phone", "(650) 555-1212", phone_country_code="1")     # "16505551212"
        normalize_pii("phone", "06 12 34 56 78", rules="google", phone_country_code="33")
        # "+33612345678"
        normalize_pii("email", "John.Smith@Gmail.com", rules="google")  # "johnsmith@gmail.com"
    """
    kind = PiiKind(kind)
    rules = PiiRules(rules)
    if kind is PiiKind.EMAIL:
        return _email(value, rules)
    if kind is PiiKind.PHONE:
        return _phone(value, rules, phone_country_code)
    if kind in (PiiKind.FIRST_NAME, PiiKind.LAST_NAME, PiiKind.NAME):
        return _name(value, rules)
    if kind is PiiKind.STREET:
        return _street(value)
    if kind is PiiKind.CITY:
        return _city(value, rules)
    if kind is PiiKind.STATE:
        return _state(value, rules)
    if kind is PiiKind.ZIP:
        return _zip(value, rules)
    if kind is PiiKind.COUNTRY:
        return _country(value)
    if kind is PiiKind.DOB:
        return _dob(value)
    if kind is PiiKind.GENDER:
        return _gender(value)
    if kind is PiiKind.EXTERNAL_ID:
        return value.strip() or None
    return _base(value) or None


def hash_pii(
    kind: PiiKind | str,
    value: object,
    *,
    rules: PiiRules | str = PiiRules.META,
    phone_country_code: str | None = None,
) -> str | None:
    """Normalize ``value`` per ``rules`` and return its SHA-256 hex digest.

    A value that is already a SHA-256 hex digest is returned unchanged (hashing twice would
    break matching); numbers are hashed as their decimal text; ``None``, structures and
    values that do not normalize return ``None``.

    Example::

        hash_pii("email", " John_Smith@gmail.com ")
        # "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    if is_sha256_hex(value):
        return value
    normalized = normalize_pii(kind, value, rules=rules, phone_country_code=phone_country_code)
    return sha256_hex(normalized) if normalized is not None else None
