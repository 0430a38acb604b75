"""Sticky-bucket documents: the in-memory store (sync and async) and the cookie format the
GrowthBook browser SDK uses."""

from __future__ import annotations

import json
from urllib.parse import unquote

import msgspec

from persona_sdk.allocation import (
    AsyncStickyBucketStore,
    InMemoryStickyBucketStore,
    StickyAssignments,
    StickyBucketStore,
    decode_sticky_cookies,
    encode_sticky_cookies,
    sticky_key,
)
from persona_sdk.allocation._sticky import STICKY_COOKIE_PREFIX

DOC = StickyAssignments(
    attribute_name="id", attribute_value="u-1", assignments={"hero-test__0": "treatment"}
)


def test_documents_serialize_in_growthbook_shape() -> None:
    """A document encodes as {attributeName, attributeValue, assignments}."""
    assert json.loads(msgspec.json.encode(DOC)) == {
        "attributeName": "id",
        "attributeValue": "u-1",
        "assignments": {"hero-test__0": "treatment"},
    }
    assert DOC.key == sticky_key("id", "u-1") == "id||u-1"


def test_in_memory_store_loads_only_what_is_asked_and_remembers_changes() -> None:
    """load() returns the requested identifiers' documents; changed() lists saves."""
    other = StickyAssignments(attribute_name="deviceId", attribute_value="d-9", assignments={})
    store = InMemoryStickyBucketStore([DOC, other])
    assert isinstance(store, StickyBucketStore)
    assert isinstance(store, AsyncStickyBucketStore)
    assert store.load({"id": "u-1", "anonymousId": "a-1"}) == {"id||u-1": DOC}
    assert store.changed() == []
    updated = StickyAssignments(
        attribute_name="id", attribute_value="u-1", assignments={"x__0": "1"}
    )
    store.save(updated)
    assert store.load({"id": "u-1"})["id||u-1"] == updated
    assert store.changed() == [updated]
    assert len(store) == 2


async def test_in_memory_store_async_forms() -> None:
    """aload/asave behave as load/save."""
    store = InMemoryStickyBucketStore()
    await store.asave(DOC)
    assert await store.aload({"id": "u-1"}) == {"id||u-1": DOC}


def test_cookies_round_trip() -> None:
    """Documents encoded as cookies decode back to equal documents."""
    cookies = encode_sticky_cookies([DOC])
    (name, value), *_ = cookies.items()
    assert unquote(name) == STICKY_COOKIE_PREFIX + "id||u-1"
    assert not set(value) & set(';, "')
    assert decode_sticky_cookies(cookies) == {"id||u-1": DOC}


def test_browser_written_cookies_are_read() -> None:
    """Cookies as js-cookie writes them (plain name, JSON value) or already decoded."""
    raw = json.dumps(
        {"attributeName": "id", "attributeValue": "u-1", "assignments": {"hero-test__0": "1"}}
    )
    found = decode_sticky_cookies({"gbStickyBuckets__id||u-1": raw, "session": "x"})
    assert found["id||u-1"].assignments == {"hero-test__0": "1"}


def test_malformed_cookies_are_ignored() -> None:
    """A corrupt or foreign cookie never breaks a request: it is skipped."""
    cookies = {
        "gbStickyBuckets__id||u-1": "%7Bnot json",
        "gbStickyBuckets__id||u-2": json.dumps({"attributeName": "", "assignments": {}}),
        "other": "1",
    }
    assert decode_sticky_cookies(cookies) == {}
