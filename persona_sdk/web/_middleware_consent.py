"""Reading the consent cookie the JS tag writes (provisional until the collector's reader lands)."""

from __future__ import annotations

from urllib.parse import unquote

import msgspec

__all__ = ["read_consent"]

_decode = msgspec.json.Decoder(dict[str, bool])


def read_consent(value: str | None) -> dict[str, bool] | None:
    """Parse the consent cookie (URL-encoded JSON ``{"purpose": bool}``); ``None`` if absent or
    unreadable, so an odd cookie never grants anything."""
    if not value or len(value) > 2048:
        return None
    try:
        return _decode.decode(unquote(value).encode())
    except (msgspec.DecodeError, UnicodeEncodeError):
        return None


def write_consent(consent: dict[str, bool]) -> str:
    """The consent cookie's value for ``consent`` (what ``persona.consent({...})`` writes)."""
    from urllib.parse import quote

    return quote(msgspec.json.encode(consent).decode(), safe="")
