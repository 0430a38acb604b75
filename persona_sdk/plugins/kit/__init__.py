"""The plugin-author kit: what the built-in destinations and profile sources share, public.

A third-party plugin needs :mod:`persona_sdk.plugins` (the contract) and, when it wants them,
these helpers; the built-in destinations use nothing else of the SDK's internals.

- **Options**: :func:`load_options` structures a factory's ``options`` mapping into an attrs
  class with the SDK's converter (``Secret`` fields, error paths relative to ``options``:
  ``url: required field is missing``); :func:`option_errors` adds the checks every
  destination shares.
- **Privacy**: :class:`PrivacyOptions` (``pii``, ``truncate_ip``, ``remove``,
  ``pii_fields``: the per-destination overrides), :func:`privacy_policy` (the container's
  ``pii`` plus those overrides, compiled), :class:`PolicyTransform` (a ``transform`` that is
  the policy and nothing else).
- **HTTP**: :class:`HttpDestinationBase` (a destination says which :class:`HttpRequest` a
  batch becomes; retry, dead-letter and ``Retry-After`` policy are shared), :func:`perform`,
  :func:`classify_status`, :func:`classify_error`, :func:`gzip_body`, :func:`chunk_by_size`.
- **Small things**: :class:`Rejections` (counts of refused events by reason),
  :func:`parse_iso` (ISO-8601 to epoch seconds), :class:`StrEnum` (a ``str`` enum that
  renders as its value on every supported Python, for option choices).

See ``docs/plugins.md``.
"""

from ..._strenum import StrEnum
from ._http import (
    HttpDestinationBase,
    HttpRequest,
    chunk_by_size,
    classify_error,
    classify_status,
    gzip_body,
    parse_retry_after,
    perform,
)
from ._options import (
    PolicyTransform,
    PrivacyOptions,
    Rejections,
    load_options,
    option_errors,
    parse_iso,
    privacy_policy,
)

__all__ = [
    "HttpDestinationBase",
    "HttpRequest",
    "PolicyTransform",
    "PrivacyOptions",
    "Rejections",
    "StrEnum",
    "chunk_by_size",
    "classify_error",
    "classify_status",
    "gzip_body",
    "load_options",
    "option_errors",
    "parse_iso",
    "parse_retry_after",
    "perform",
    "privacy_policy",
]
