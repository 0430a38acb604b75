"""The core's store hooks without any plugin: a shared DedupStore de-duplicates exposures
across Persona instances, a failing store never reaches a request (it is counted), and
forget reaches every store given in code. The store Protocols' conformance suite (memory,
Redis, Redis Cluster) lives in plugins/persona-redis/tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from persona_sdk import InMemoryDedupStore, Persona
from persona_sdk.profiles import InMemoryProfileStore
from persona_sdk.testing import CaptureDestination

FEATURES = {"cta": {"defaultValue": "none", "rules": [
    {"key": "cta-test", "variations": ["a", "b"], "meta": [{"key": "0"}, {"key": "1"}]}]}}


def make(dedup: Any, capture: CaptureDestination, **kw: Any) -> Persona:
    return Persona(
        {"features": FEATURES, "tags": [{"name": "all", "destination": "capture"}]},
        destinations={"capture": capture}, dedup_store=dedup, **kw,
    )


def viewed(*captures: CaptureDestination) -> list[str]:
    return sorted(e["userId"] for c in captures for e in c.events
                  if e["event"] == "Experiment Viewed")


def test_a_shared_dedup_store_logs_each_exposure_once_across_instances() -> None:
    """Two instances sharing one DedupStore log each visitor's exposure once in all."""
    shared = InMemoryDedupStore()
    ca, cb = CaptureDestination(name="capture"), CaptureDestination(name="capture")
    a, b = make(shared, ca), make(shared, cb)
    for p in (a, b, a, b):
        for i in range(5):
            p.visitor(user_id=f"u-{i}").get("cta", "none")
    a.flush()
    b.flush()
    assert viewed(ca, cb) == [f"u-{i}" for i in range(5)]
    assert b.stats()["decisions"]["deduplicated"] >= 5
    a.close()
    b.close()


class Broken:
    """A store whose every call fails (a shared store that is down)."""

    def add(self, key: str, *, ttl: float) -> bool:
        raise ConnectionError("down")

    def get(self, key: str) -> bytes | None:
        raise ConnectionError("down")

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        raise ConnectionError("down")

    def delete(self, keys: Sequence[str]) -> None:
        raise ConnectionError("down")

    async def aget(self, key: str) -> bytes | None:
        raise ConnectionError("down")

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        raise ConnectionError("down")

    async def adelete(self, keys: Sequence[str]) -> None:
        raise ConnectionError("down")

    def forget(self, ids: Any) -> None:
        raise ConnectionError("down")

    def close(self) -> None:
        pass


def test_failing_stores_never_reach_a_request_and_are_counted() -> None:
    """A dead dedup store: the exposure is logged (not lost) and counted as dedup_errors; a
    dead profile store: the profile falls back and its read failures count as store_errors;
    forget still answers."""
    capture = CaptureDestination(name="capture")
    p = make(Broken(), capture, profile_store=Broken())
    v = p.visitor(user_id="u-1")
    assert v.get("cta", "none") in ("a", "b")
    assert v.profile.is_fallback
    p.flush()
    assert viewed(capture) == ["u-1"]
    stats = p.stats()
    assert stats["decisions"]["dedup_errors"] == 1
    assert stats["profiles"]["store_errors"] >= 1
    p.forget(user_id="u-1")
    p.close()


def test_forget_reaches_the_stores_given_in_code() -> None:
    """forget erases the person's keys from the dedup store (keys name them as {id})."""
    shared = InMemoryDedupStore()
    p = make(shared, CaptureDestination(name="capture"), profile_store=InMemoryProfileStore())
    p.visitor(user_id="u-1").get("cta", "none")
    p.visitor(user_id="u-2").get("cta", "none")
    assert len(shared) == 2
    p.forget(user_id="u-1")
    assert len(shared) == 1
    assert not shared.add("exposure:{u-2}:cta-test:" + str(
        p.visitor(user_id="u-2").feature("cta").variation.variation_id), ttl=60)
    p.close()


def test_identity_links_go_through_the_shared_profile_store() -> None:
    """An anonymous id identified on one instance resolves, on another instance sharing the
    profile store, to the user's profile (computed traits included); forget erases the link."""
    store = InMemoryProfileStore()
    doc = {"computed_traits": {"orders": {"kind": "count", "event": "Order Completed"}}}
    a, b = Persona(doc, profile_store=store), Persona(doc, profile_store=store)
    a.identify("u-1", anonymous_id="a-1")
    a.track("Order Completed", user_id="u-1")
    assert a.flush()
    profile = b.visitor(anonymous_id="a-1").profile
    assert (profile.canonical_id, dict(profile.computed)) == ("u-1", {"orders": 1})
    live = store.keys()  # a list (the store's method), not a dict view
    assert "persona:a:a-1" in live
    b.forget(user_id="u-1", anonymous_id="a-1")
    live = store.keys()
    assert not [k for k in live if k.endswith(("u-1", "a-1"))]
    a.close()
    b.close()
