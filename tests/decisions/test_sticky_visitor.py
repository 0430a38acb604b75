"""Sticky bucketing through visitors: sync and async stores, versions, failures, cookies."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from decisions_support import EngineFactory, ab_rule

from persona_sdk.allocation import (
    InMemoryStickyBucketStore,
    StickyAssignments,
    decode_sticky_cookies,
    encode_sticky_cookies,
)
from persona_sdk.decisions import Reason, Visitor


def _features(**rule: Any) -> dict[str, Any]:
    return {"hero": {"defaultValue": "none", "rules": [ab_rule(**rule)]}}


def test_assignment_survives_a_weight_change(make_engine: EngineFactory) -> None:
    """Once bucketed, a visitor keeps the variation when the weights change."""
    store = InMemoryStickyBucketStore()
    first = make_engine(features=_features(weights=[0.5, 0.5]), sticky_store=store)
    before = {i: Visitor(engine=first, anonymous_id=f"a{i}").get("hero", None) for i in range(40)}
    assert len(store) == 40
    shifted = make_engine(features=_features(weights=[0.01, 0.99]), sticky_store=store)
    for i, value in before.items():
        result = Visitor(engine=shifted, anonymous_id=f"a{i}").feature("hero")
        assert result.value == value
        assert result.reasons == (Reason.STICKY_BUCKET,)


def test_bucket_versions_rebucket_and_block(make_engine: EngineFactory) -> None:
    """A new bucketVersion re-buckets; minBucketVersion excludes visitors bucketed before."""
    store = InMemoryStickyBucketStore()
    v0 = make_engine(features=_features(), sticky_store=store)
    Visitor(engine=v0, anonymous_id="a").feature("hero")
    v1 = make_engine(features=_features(bucketVersion=1), sticky_store=store)
    assert Visitor(engine=v1, anonymous_id="a").feature("hero").reasons == (Reason.SPLIT,)
    assert set(store.docs()["id||a"].assignments) == {"hero-test__0", "hero-test__1"}
    blocked = make_engine(
        features=_features(bucketVersion=2, minBucketVersion=2), sticky_store=store
    )
    visitor = Visitor(engine=blocked, anonymous_id="a")
    assert visitor.get("hero", None) == "none"
    assert visitor.experiment("hero-test").reason is Reason.STICKY_VERSION_BLOCKED


def test_fallback_attribute_is_used_and_upgraded(make_engine: EngineFactory) -> None:
    """Without the hash attribute, the fallback buckets; once known, the assignment moves
    over to the hash attribute."""
    store = InMemoryStickyBucketStore()
    engine = make_engine(
        features=_features(hashAttribute="userId", fallbackAttribute="anonymousId"),
        sticky_store=store,
    )
    anonymous = Visitor(engine=engine, anonymous_id="a-1").feature("hero")
    assert anonymous.variation is not None
    assert anonymous.variation.hash_attribute == "anonymousId"
    signed_in = Visitor(engine=engine, anonymous_id="a-1", user_id="u-1").feature("hero")
    assert signed_in.value == anonymous.value
    assert "userId||u-1" in store.docs()


class AsyncOnlyStore:
    """A store with only the async form (as an asyncio Redis client would be)."""

    def __init__(self) -> None:
        self.inner = InMemoryStickyBucketStore()

    async def aload(self, attributes: Mapping[str, str]) -> Mapping[str, StickyAssignments]:
        return await self.inner.aload(attributes)

    async def asave(self, doc: StickyAssignments) -> None:
        await self.inner.asave(doc)


async def test_async_store_is_used_by_afeature(make_engine: EngineFactory) -> None:
    """await visitor.afeature() loads and saves through the store's async form."""
    store = AsyncOnlyStore()
    engine = make_engine(features=_features(), sticky_store=store)
    result = await Visitor(engine=engine, anonymous_id="a").afeature("hero")
    assert "id||a" in store.inner.docs()
    again = await Visitor(engine=engine, anonymous_id="a").afeature("hero")
    assert (again.value, again.reasons) == (result.value, (Reason.STICKY_BUCKET,))
    assert (await Visitor(engine=engine, anonymous_id="a").aexperiment("hero-test")).in_experiment
    assert await Visitor(engine=engine, anonymous_id="a").ais_on("hero")
    assert await Visitor(engine=engine, anonymous_id="a").aget("hero", None) == result.value


def test_sync_call_with_an_async_only_store_degrades(make_engine: EngineFactory) -> None:
    """feature() cannot await: it decides by hashing and says the store was unavailable."""
    engine = make_engine(features=_features(), sticky_store=AsyncOnlyStore())
    result = Visitor(engine=engine, anonymous_id="a").feature("hero")
    assert result.variation is not None
    assert result.reasons == (Reason.SPLIT, Reason.STICKY_UNAVAILABLE)


class SyncOnlyStore:
    """A blocking store; the async path must run it off the event loop."""

    def __init__(self) -> None:
        self.inner = InMemoryStickyBucketStore()
        self.threads: set[int] = set()

    def load(self, attributes: Mapping[str, str]) -> Mapping[str, StickyAssignments]:
        self.threads.add(threading.get_ident())
        return self.inner.load(attributes)

    def save(self, doc: StickyAssignments) -> None:
        self.threads.add(threading.get_ident())
        self.inner.save(doc)


async def test_sync_store_runs_off_the_event_loop(make_engine: EngineFactory) -> None:
    """A sync-only store used from afeature() runs in a worker thread."""
    store = SyncOnlyStore()
    engine = make_engine(features=_features(), sticky_store=store)
    await Visitor(engine=engine, anonymous_id="a").afeature("hero")
    assert store.threads
    assert threading.get_ident() not in store.threads
    assert "id||a" in store.inner.docs()


class BrokenStore:
    def load(self, attributes: Mapping[str, str]) -> Mapping[str, StickyAssignments]:
        raise ConnectionError("store down")

    def save(self, doc: StickyAssignments) -> None:
        raise ConnectionError("store down")


def test_a_failing_store_never_breaks_a_decision(make_engine: EngineFactory) -> None:
    """A store that raises: the visitor is bucketed by hashing, with a reason."""
    engine = make_engine(features=_features(), sticky_store=BrokenStore())
    result = Visitor(engine=engine, anonymous_id="a").feature("hero")
    assert result.value in ("control", "treatment")
    assert Reason.STICKY_UNAVAILABLE in result.reasons


def test_cookie_round_trip_through_a_per_request_store(make_engine: EngineFactory) -> None:
    """Request cookies seed a per-visitor store; changed documents go back as cookies and
    make the next request sticky."""
    engine = make_engine(features=_features(weights=[0.5, 0.5]))
    first = InMemoryStickyBucketStore(decode_sticky_cookies({}))
    value = Visitor(engine=engine, anonymous_id="a", sticky_store=first).get("hero", None)
    cookies = encode_sticky_cookies(first.changed())
    assert len(cookies) == 1
    shifted = make_engine(
        features=_features(weights=[0.0, 1.0])
        if value == "control"
        else _features(weights=[1.0, 0.0])
    )
    second = InMemoryStickyBucketStore(decode_sticky_cookies(cookies))
    again = Visitor(engine=shifted, anonymous_id="a", sticky_store=second).feature("hero")
    assert (again.value, again.reasons) == (value, (Reason.STICKY_BUCKET,))
    assert second.changed() == []
