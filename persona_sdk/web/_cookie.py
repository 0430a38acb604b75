"""The first-party visitor cookie: reading the ``Cookie`` header and minting ids (how it is
written is ``CookieSettings``'s, in ``_config``)."""

from __future__ import annotations

import re
import uuid

__all__ = ["new_visitor_id", "parse_cookies", "valid_visitor_id"]

# Ids accepted from a cookie or a body: what uuid4, analytics.js and GA write, nothing that
# could carry markup or separators into logs, events or headers. (The middleware uses the
# same rule, so both sides agree on which cookies are valid.)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def parse_cookies(header: str | None) -> dict[str, str]:
    """Parse a ``Cookie`` request header leniently; the first value of a name wins.

    ``http.cookies.SimpleCookie`` drops the whole header for one odd cookie that some other
    script on the domain set; browsers do not, and neither does this.
    """
    out: dict[str, str] = {}
    if not header:
        return out
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            continue
        name = name.strip()
        if name and name not in out:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[name] = value
    return out


def valid_visitor_id(value: str | None) -> str | None:
    """Return ``value`` when it is an acceptable visitor id, else ``None``."""
    if value and _ID.fullmatch(value):
        return value
    return None


def new_visitor_id() -> str:
    """Mint a new anonymous visitor id (a random UUID4).

    Unlike message ids these come from the OS's random source: a visitor id is a bearer
    identifier and must not be guessable from other ids.
    """
    return str(uuid.uuid4())

