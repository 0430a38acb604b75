"""The collector's duplicate-key check: its counting fast path agrees with an exact parse.

Bodies are written by hand from random JSON values, with random spacing around colons,
random escapes (quotes, backslashes, ``\\u003a``) in keys and strings, and sometimes a key
written twice, so every spelling the fast path reasons about is exercised.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from persona_sdk.web._collector_body import Reject, decode_json_object, encode_batch

_TEXT = st.text(alphabet=st.sampled_from(['a', 'b', ':', '"', '\\', ' ', 'é', '/']), max_size=6)
_SPACES = st.sampled_from(["", " ", "\t", "\n"])


def _string(draw: Any, text: str) -> str:
    out = json.dumps(text)
    if draw(st.booleans()):  # spell ':' as an escape sometimes
        out = out.replace(":", "\\u003a")
    return out


@st.composite
def _value(draw: Any, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["str", "num", "obj", "arr"] if depth < 3 else ["str", "num"]))
    if kind == "str":
        return _string(draw, draw(_TEXT))
    if kind == "num":
        return str(draw(st.integers(-5, 5)))
    if kind == "arr":
        items = draw(st.lists(_value(depth + 1), max_size=3))
        return "[" + ",".join(items) + "]"
    keys = draw(st.lists(_TEXT, max_size=4, unique=True))
    pairs = [(k, draw(_value(depth + 1))) for k in keys]
    if pairs and draw(st.booleans()):  # write one key twice
        pairs.append((pairs[0][0], draw(_value(depth + 1))))
    body = ",".join(
        f"{_string(draw, k)}{draw(_SPACES)}:{draw(_SPACES)}{v}" for k, v in pairs
    )
    return "{" + body + "}"


def _exact_duplicate(body: bytes) -> bool:
    found = []

    def hook(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            found.append(True)
        return dict(items)

    json.loads(body, object_pairs_hook=hook)
    return bool(found)


@settings(max_examples=400, deadline=None)
@given(st.builds(lambda k, v: "{" + json.dumps(k) + ":" + v + "}", _TEXT, _value()))
def test_duplicate_check_agrees_with_an_exact_parse(doc: str) -> None:
    body = doc.encode()
    try:
        decode_json_object(body, 32)
        rejected = None
    except Reject as exc:
        rejected = exc
    duplicate = _exact_duplicate(body)
    if duplicate:
        assert rejected is not None
        assert rejected.code == "duplicate_key"
    else:
        assert rejected is None, (body, rejected)


@st.composite
def _batch_body(draw: Any) -> str:
    # A batch envelope: messages written by hand (spacing, escapes, maybe a key twice), or
    # as the compact encoding msgspec and JSON.stringify write (the comparison fast path).
    items = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            items.append(draw(_value(1)))
        else:
            data = draw(st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers(-9, 9)), max_size=3))
            items.append(msgspec.json.encode(data).decode())
    envelope = ['"batch":[' + ",".join(items) + "]"]
    if draw(st.booleans()):
        envelope.append(f'"sentAt":{_string(draw, draw(_TEXT))}')
    if draw(st.booleans()):  # the envelope's own key written twice
        envelope.append('"batch":[]')
    if draw(st.booleans()):
        envelope.reverse()
    return "{" + ",".join(envelope) + "}"


@settings(max_examples=400, deadline=None)
@given(_batch_body())
def test_batch_duplicate_check_agrees_with_an_exact_parse(doc: str) -> None:
    """``encode_batch`` (per-message encodings, compared or counted) rejects exactly the
    batch bodies that wrote a key twice in one object."""
    body = doc.encode()
    payload = decode_json_object(body, 32, duplicates=False)
    try:
        encoded = encode_batch(body, payload, payload["batch"])
        rejected = None
    except Reject as exc:
        rejected = exc
    if _exact_duplicate(body):
        assert rejected is not None
        assert rejected.code == "duplicate_key"
    else:
        assert rejected is None, (body, rejected)
        assert encoded == [msgspec.json.encode(m) for m in payload["batch"]]
