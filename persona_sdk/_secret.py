"""Secrets in config: strings that work as strings but never print themselves.

A ``Secret`` is a ``str``: HTTP clients, HMAC and URL builders use it unchanged. Only its
``repr`` is redacted, and ``repr`` is what attrs reprs, containers (dicts, lists), ``%r`` log
arguments and the config errors use, so ``repr(container)``, a logged options dict or a
``ConfigError`` never show the value. ``str(secret)`` returns the plain value on purpose (it
is how a destination reads it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["SECRET_KEY", "Secret", "mark_secrets", "redact_http_logs"]

#: Option names whose string values are secrets wherever they appear (case-insensitive):
#: ``api_secret``, ``access_token``, ``write_key``, ``password``, ``authorization`` ...
SECRET_KEY = re.compile(
    r"secret|token|passw|write_?key|api_?key|private_?key|authori[sz]ation|credential|cookie",
    re.IGNORECASE,
)


class Secret(str):
    """A config string that must not be printed: its ``repr`` is ``Secret('***')``.

    The loader makes every value resolved from ``${env:NAME}`` in ``destinations`` and
    ``profiles`` a ``Secret``, and every string under a secret-looking option name
    (:data:`SECRET_KEY`) or under ``headers``. Plugin option classes may type a field
    ``Secret`` to have the shared converter mark it.

    .. versionadded:: 0.2.0
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def __reduce__(self) -> tuple[Any, ...]:
        # pickles (e.g. a container sent to a worker process) keep the value and the type
        return (Secret, (str(self),))


def _secret_key(key: Any) -> bool:
    return isinstance(key, str) and (key.lower() == "headers" or bool(SECRET_KEY.search(key)))


def _mark(value: Any, secret: bool) -> Any:
    if isinstance(value, str):
        return Secret(value) if secret and not isinstance(value, Secret) else value
    if isinstance(value, Mapping):
        return {k: _mark(v, secret or _secret_key(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v, secret) for v in value]
    return value


def mark_secrets(options: Any) -> Any:
    """``options`` with every string under a secret-looking key or ``headers`` made a
    :class:`Secret` (nested tables included); other values unchanged. Used as the attrs
    converter of plugin option tables (``destinations.*.options``, ``profiles.source``)."""
    if options is None:
        return None
    return _mark(options, False)


class _RedactQuery(logging.Filter):
    """Rewrites httpx's ``HTTP Request: POST <url> ...`` records so that secret-looking query
    parameters (GA4's ``api_secret``, ``access_token``, ``key`` ...) read ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        # imported here: the filter only runs on httpx's own records (httpx is loaded by
        # then), and config, which imports this module, should not load an HTTP client
        import httpx

        args = record.args
        if isinstance(args, tuple) and any(
            isinstance(a, httpx.URL) and a.query for a in args
        ):
            record.args = tuple(
                _redact_url(a) if isinstance(a, httpx.URL) else a for a in args
            )
        return True


def _redact_url(url: httpx.URL) -> str | httpx.URL:
    params = url.params
    if not any(SECRET_KEY.search(k) for k in params):
        return url
    redacted = [(k, "***" if SECRET_KEY.search(k) else v) for k, v in params.multi_items()]
    return str(url.copy_with(params=redacted))


_FILTER = _RedactQuery()


def redact_http_logs() -> None:
    """Keep secrets that travel in a query string out of httpx's INFO request log lines.

    Idempotent; called by every built-in HTTP destination and profile source when built (the
    filter sits on the ``httpx`` logger, where those lines are emitted)."""
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
