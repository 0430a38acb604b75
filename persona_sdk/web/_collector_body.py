"""Reading request bodies safely: content types, gzip, JSON with depth and duplicate-key checks.

msgspec decodes fast but keeps the last of duplicate keys and nests as deep as the C stack
allows; both are checked here, after decoding, without a second parse in the common case.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from itertools import repeat
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from ._collector_http import Reject

__all__ = [
    "check_content_encoding",
    "check_content_type",
    "check_duplicates",
    "decode_json_object",
    "encode_batch",
    "gunzip",
    "pixel_message",
]

_JSON_TYPES = frozenset({"application/json", "text/plain"})
_decoder = msgspec.json.Decoder()
_encode = msgspec.json.encode


def check_content_type(value: str | None) -> None:
    """Accept JSON (``application/json``, ``application/*+json``) or ``text/plain`` (what
    ``sendBeacon`` sends); a missing header is read as JSON."""
    if value is None:
        return
    mime = value.partition(";")[0].strip().lower()
    if not mime or mime in _JSON_TYPES:
        return
    if mime.startswith("application/") and mime.endswith("+json"):
        return
    raise Reject(
        415,
        f"unsupported content type {mime[:64]!r}; send application/json or text/plain",
        "Content-Type",
        "unsupported_media_type",
    )


def check_content_encoding(value: str | None) -> bool:
    """Whether the body is gzip-compressed; other encodings are refused."""
    if value is None:
        return False
    enc = value.strip().lower()
    if enc in ("", "identity"):
        return False
    if enc in ("gzip", "x-gzip"):
        return True
    raise Reject(
        415,
        f"unsupported content encoding {enc[:32]!r}; send gzip or identity",
        "Content-Encoding",
        "unsupported_media_type",
    )


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing more than ``limit`` bytes of output (no bombs)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error:
        raise Reject(
            400, "the body is not valid gzip", "Content-Encoding", "invalid_gzip"
        ) from None
    if len(out) > limit or d.unconsumed_tail:
        raise Reject(
            413, f"the decompressed body is over the {limit}-byte limit", "body", "too_large"
        )
    if not d.eof or d.unused_data:
        raise Reject(400, "the gzip stream is truncated or has trailing data",
                     "Content-Encoding", "invalid_gzip")
    return out


def _too_deep(obj: Any, limit: int) -> bool:
    # Level by level, containers only, no recursion: a hostile body cannot exhaust the Python
    # stack here. One comprehension per level (not one per container) keeps the common wide,
    # shallow batch cheap.
    level: list[Any] = [obj]
    depth = 1
    while level:
        if depth > limit:
            return True
        level = [
            v
            for node in level
            for v in (node.values() if type(node) is dict else node)
            if type(v) is dict or type(v) is list
        ]
        depth += 1
    return False


def _duplicate_key(body: bytes) -> str | None:
    # The slow, exact check: only reached when the fast count says something is off.
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out and not found:
                found.append(key)
            out[key] = value
        return out

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        # msgspec accepted the body; the stdlib can still refuse (e.g. ints over its digit
        # limit). Then only the fast check's verdict stands, without a key name.
        pass
    return found[0] if found else None


def check_duplicates(body: bytes, obj: Any, kept: int | None = None) -> None:
    """Raise ``Reject`` (400) when ``body`` wrote a key twice in one object; ``kept`` is the
    colon count of ``obj`` re-encoded, when the caller has it (see ``encode_batch``)."""
    written = body.count(b":")
    if b"\\u003" in body and (b"\\u003a" in body or b"\\u003A" in body):
        key = _duplicate_key(body)
        duplicate = key is not None
    elif written == 0 or written == (_encode(obj).count(b":") if kept is None else kept):
        return
    else:
        duplicate, key = True, _duplicate_key(body)
    if duplicate:
        raise Reject(
            400,
            f"duplicate key {key!r} in a JSON object" if key else "duplicate key in a JSON object",
            key if key is not None else "body",
            "duplicate_key",
        )


def encode_batch(body: bytes, payload: dict[str, Any], batch: list[Any]) -> list[bytes]:
    """Each message of ``batch`` (``payload["batch"]``) encoded once, as msgspec writes it:
    its length is what the per-event cap counts, and the colons of all of them (with the
    rest of ``payload``) are what the duplicate-key check compares ``body`` with, so the
    body is not encoded a second time for that. Raises ``Reject`` on a duplicate key."""
    encoded = list(map(_encode, batch))
    # A body that is exactly the compact encoding of what it decoded to (what JSON.stringify
    # and msgspec write) wrote each key once: a key written twice would be in the body and
    # not in the encoding. Checked with one comparison, the body's envelope re-encoded
    # around the messages' encodings (msgspec writes Raw as it is).
    whole = _encode({**payload, "batch": msgspec.Raw(b"[" + b",".join(encoded) + b"]")})
    if whole == body:
        return encoded
    # Otherwise count colons (see check_duplicates); the envelope's own, plus the one
    # after "batch".
    rest = {k: v for k, v in payload.items() if k != "batch"}
    kept = sum(map(bytes.count, encoded, repeat(b":"))) + _encode(rest).count(b":") + 1
    check_duplicates(body, payload, kept)
    return encoded


def decode_json_object(
    body: bytes, max_depth: int, field: str = "body", *, duplicates: bool = True
) -> dict[str, Any]:
    """Decode ``body`` as one JSON object, or raise ``Reject`` (400) saying what is wrong.

    With ``duplicates=False`` the duplicate-key check is left to the caller
    (``check_duplicates``, or ``encode_batch`` for a batch)."""
    if not body:
        raise Reject(400, "the body is empty; expected a JSON object", field, "invalid_json")
    try:
        obj = _decoder.decode(body)
    except UnicodeDecodeError:
        raise Reject(400, "the body is not valid UTF-8", field, "invalid_utf8") from None
    except RecursionError:
        raise Reject(400, f"JSON nested deeper than {max_depth} levels", field,
                     "too_deep") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Reject(400, f"invalid JSON: {exc}", field, "invalid_json") from None
    if type(obj) is not dict:
        raise Reject(400, f"expected a JSON object, got {_kind(obj)}", field, "invalid_type")
    if _too_deep(obj, max_depth):
        raise Reject(400, f"JSON nested deeper than {max_depth} levels", field, "too_deep")
    if duplicates:
        check_duplicates(body, obj)
    return obj


def _kind(obj: Any) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, (int, float)):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    if isinstance(obj, list):
        return "an array"
    return "an object"


# Query parameters a pixel may carry as plain text, by their Segment field names.
_PIXEL_FIELDS = ("type", "event", "name", "category", "userId", "anonymousId", "messageId",
                 "timestamp")
_PIXEL_PAGE = ("url", "path", "referrer", "title", "search")
_MAX_PARAMS = 64


def pixel_message(query: str, max_depth: int) -> tuple[dict[str, Any], str | None]:
    """Build one message from a ``/p.gif`` query string; returns it and the write key.

    Either ``data`` holds the base64 (standard or URL-safe) JSON message, as Segment's pixel
    API takes it, or plain parameters do: ``event``/``name``/``type``/ids, ``url``, ``path``,
    ``referrer``, ``title``, and ``properties`` as URL-encoded JSON.
    """
    try:
        # Servers hand over the raw query as latin-1 text; parse the bytes, then decode each
        # name and value as UTF-8, strictly.
        try:
            raw = query.encode("latin-1")
        except UnicodeEncodeError:
            raw = query.encode("utf-8")
        pairs = [
            (k.decode("utf-8"), v.decode("utf-8"))
            for k, v in parse_qsl(raw, keep_blank_values=True, max_num_fields=_MAX_PARAMS)
        ]
    except UnicodeError:
        raise Reject(400, "the query string is not valid UTF-8", "query", "invalid_utf8") from None
    except ValueError:
        raise Reject(400, f"more than {_MAX_PARAMS} query parameters", "query",
                     "invalid_query") from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise Reject(400, f"duplicate query parameter {key[:64]!r}", key[:64],
                         "duplicate_key")
        params[key] = value
    write_key = params.get("writeKey") or None
    if "data" in params:
        data = params["data"].strip()
        data += "=" * (-len(data) % 4)
        try:
            decoded = base64.b64decode(data, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            try:
                decoded = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise Reject(400, "data is not valid base64", "data", "invalid_base64") from None
        given = decode_json_object(decoded, max_depth, "data")
        key = given.pop("writeKey", None)
        return given, write_key or (key if isinstance(key, str) else None)
    msg: dict[str, Any] = {}
    for name in _PIXEL_FIELDS:
        if params.get(name):
            msg[name] = params[name]
    if "type" not in msg:
        msg["type"] = "track" if "event" in msg else "page"
    if "properties" in params:
        msg["properties"] = decode_json_object(
            params["properties"].encode("utf-8", "surrogatepass"), max_depth, "properties"
        )
    page = {name: params[name] for name in _PIXEL_PAGE if name in params}
    if page:
        msg["context"] = {"page": page}
    return msg, write_key
