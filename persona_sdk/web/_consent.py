"""The consent cookie the JS tag writes, and the Global Privacy Control header.

Format: the cookie ``persona_consent`` (name configurable) holds the URL-encoded JSON object
of the visitor's purposes, ``{"analytics":true,"advertising":false}``, exactly what
``persona.consent({...})`` in ``persona.js`` writes. Only ``true`` grants a purpose; an
unreadable cookie is treated as absent, so an odd value never grants anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote

import msgspec

from ..privacy import gpc_header_signal

__all__ = ["MAX_CONSENT_COOKIE", "gpc_enabled", "read_consent_cookie", "write_consent_cookie"]

#: Longest consent cookie value read; longer values are ignored.
MAX_CONSENT_COOKIE = 2048
_MAX_PURPOSES = 64

_decode = msgspec.json.Decoder(dict[str, bool])


def read_consent_cookie(value: str | None) -> dict[str, bool] | None:
    """Parse the consent cookie; ``None`` when absent or unreadable.

    Example::

        read_consent_cookie("%7B%22analytics%22%3Atrue%7D")   # {"analytics": True}
    """
    if not value or len(value) > MAX_CONSENT_COOKIE:
        return None
    try:
        out = _decode.decode(unquote(value, errors="strict").encode("utf-8"))
    except (msgspec.DecodeError, UnicodeError):
        return None
    if len(out) > _MAX_PURPOSES or not all(k and len(k) <= 64 for k in out):
        return None
    return out


def write_consent_cookie(consent: Mapping[str, bool]) -> str:
    """The consent cookie's value for ``consent`` (what ``persona.consent({...})`` writes)."""
    return quote(msgspec.json.encode(dict(consent)).decode(), safe="")


def gpc_enabled(header: str | None) -> bool:
    """Whether a ``Sec-GPC`` request header value signals Global Privacy Control (``"1"``,
    ``"1, 1"``, or any doubtful value; see ``persona_sdk.privacy.gpc_header_signal``)."""
    return gpc_header_signal(header)
