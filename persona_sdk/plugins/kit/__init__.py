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
- **HTTP destinations**: :class:`HttpDestinationBase` (a destination says which
  :class:`HttpRequest` a batch becomes; retry, dead-letter and ``Retry-After`` policy are
  shared), :func:`perform`, :func:`classify_status`, :func:`classify_error`,
  :func:`gzip_body`, :func:`chunk_by_size`, :func:`parse_retry_after`.
- **HTTP profile sources**: :class:`HttpSourceBase` / :class:`OptionsHttpSource` (a source
  writes its protocol once as a :data:`Flow`, a generator yielding :class:`HttpCall` and
  receiving :class:`HttpReply`; the base runs it with ``httpx`` for ``get`` and ``aget``
  within the deadline), :func:`check_status`, :func:`reply_document`, :func:`decode_json`,
  :func:`compile_pointer` / :func:`resolve_pointer` (RFC 6901 JSON pointers, :data:`MISSING`
  when nothing is there).
- **Small things**: :class:`Rejections` (counts of refused events by reason),
  :func:`parse_iso` (ISO-8601 to epoch seconds), :class:`StrEnum` (a ``str`` enum that
  renders as its value on every supported Python, for option choices).

See ``docs/plugins.md``.
"""

from ..._strenum import StrEnum
from ._flow import Flow, HttpCall, HttpReply
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
from ._http_source import (
    MISSING,
    HttpSourceBase,
    OptionsHttpSource,
    check_status,
    compile_pointer,
    decode_json,
    reply_document,
    resolve_pointer,
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
    "MISSING",
    "Flow",
    "HttpCall",
    "HttpDestinationBase",
    "HttpReply",
    "HttpRequest",
    "HttpSourceBase",
    "OptionsHttpSource",
    "PolicyTransform",
    "PrivacyOptions",
    "Rejections",
    "StrEnum",
    "check_status",
    "chunk_by_size",
    "classify_error",
    "classify_status",
    "compile_pointer",
    "decode_json",
    "gzip_body",
    "load_options",
    "option_errors",
    "parse_iso",
    "parse_retry_after",
    "perform",
    "privacy_policy",
    "reply_document",
    "resolve_pointer",
]
