"""The facade end to end: one track() fans out per tags and consent, reload is atomic,
forget purges, and the accounting identity holds (real delivery thread, capture destinations)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from persona_sdk import ClosedError, ConfigError, Persona, ProfileSourceKind, Reason
from persona_sdk.testing import CaptureDestination


def _container(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "consent": {"purposes": {"analytics": {}, "advertising": {"sale_sharing": True}}},
        "destinations": {
            "lake": {"type": "capture", "consent": ["analytics"]},
            "ads": {"type": "capture", "consent": ["advertising"]},
        },
        "tags": [
            {"name": "everything", "destination": "lake"},
            {"name": "orders", "destination": "ads",
             "trigger": {"event": "Order Completed"}},
        ],
        "features": {
            "banner": {"defaultValue": "plain",
                       "rules": [{"condition": {"country": "FR"}, "force": "bonjour"}]},
        },
    }
    doc.update(extra)
    return doc


@pytest.fixture
def captures() -> dict[str, CaptureDestination]:
    return {"lake": CaptureDestination(name="lake"), "ads": CaptureDestination(name="ads")}


def _persona(captures: dict[str, CaptureDestination], **extra: Any) -> Persona:
    doc = _container(**extra)
    # the container names the destinations; ready instances stand in for them by name
    for name in captures:
        doc["destinations"][name]["type"] = "jsonl"
        doc["destinations"][name]["options"] = {"path": "unused"}
    return Persona(doc, destinations=captures)


def _identity(row: dict[str, Any]) -> bool:
    dropped = sum(row.get("dropped", {}).values())
    rejected = sum(row.get("rejected", {}).values())
    return row["tracked"] == (
        row["delivered"] + row["queued"] + row["spooled"] + row["in_flight"] + dropped + rejected
        + row["dead_lettered"]
    )


def test_track_fans_out_per_tag_and_consent(captures: dict[str, CaptureDestination]) -> None:
    """One track() reaches every destination whose tag fires and whose purposes are all
    granted; denied or unknown consent keeps it out; the identity holds per destination."""
    with _persona(captures) as persona:
        persona.track("Order Completed", anonymous_id="a-1", properties={"revenue": 9.5},
                      consent={"analytics": True, "advertising": True})
        persona.track("Order Completed", anonymous_id="a-2",
                      consent={"analytics": True, "advertising": False})
        persona.track("Product Viewed", anonymous_id="a-3",
                      consent={"analytics": True, "advertising": True})
        persona.track("Order Completed", anonymous_id="a-4")  # consent unknown
        persona.track("Order Completed", anonymous_id="a-5",
                      consent={"analytics": True, "advertising": True},
                      context={"gpc": True})
        assert persona.flush(10)
        lake = [e["anonymousId"] for e in captures["lake"].events]
        ads = [e["anonymousId"] for e in captures["ads"].events]
        assert sorted(lake) == ["a-1", "a-2", "a-3", "a-5"]
        assert ads == ["a-1"]
        assert captures["lake"].events[0]["properties"] == {"revenue": 9.5}
        stats = persona.stats()["destinations"]
        assert stats["lake"]["delivered"] == 4
        assert stats["ads"]["delivered"] == 1
        assert stats["ads"]["filtered"]["consent"] == 3
        assert all(_identity(stats[name]) for name in ("lake", "ads"))


def test_ingest_enters_the_same_tag_layer(captures: dict[str, CaptureDestination]) -> None:
    """Segment-shaped payloads given to ingest() are routed like track(); bad ones are
    reported without spoiling the rest."""
    with _persona(captures) as persona:
        ok = {"type": "track", "event": "Order Completed", "anonymousId": "x",
              "messageId": "m-1",
              "context": {"consent": {"categoryPreferences": {"analytics": True}}}}
        results = persona.ingest({"batch": [ok, {"type": "track", "anonymousId": "x"}]})
        assert [r.ok for r in results] == [True, False]
        assert persona.flush(10)
        assert [e["messageId"] for e in captures["lake"].events] == ["m-1"]


def test_reload_is_atomic(captures: dict[str, CaptureDestination]) -> None:
    """An invalid container is refused with every path, and the running one stays; a valid
    one replaces routing and features at once."""
    with _persona(captures) as persona:
        bad = _container(tags=[{"name": "x", "destination": "nowhere",
                                "trigger": {"event": {"$nope": 1}}}])
        with pytest.raises(ConfigError) as info:
            persona.reload(bad)
        text = "\n".join(info.value.errors)
        assert "tags[0].destination" in text
        assert "tags[0].trigger" in text
        assert persona.visitor(anonymous_id="v", attributes={"country": "FR"}).get("banner", None) \
            == "bonjour"
        new = _container(features={"banner": {"defaultValue": "new"}})
        for name in captures:
            new["destinations"][name].update(type="jsonl", options={"path": "unused"})
        persona.reload(new)
        assert persona.visitor(anonymous_id="v", attributes={"country": "FR"}).get("banner", None) \
            == "new"


def test_visitor_without_profile_source_is_local_not_fallback(
    captures: dict[str, CaptureDestination],
) -> None:
    """With no profile source configured the profile is `local` and decisions carry no
    fallback reason."""
    with _persona(captures) as persona:
        visitor = persona.visitor(anonymous_id="a-1", attributes={"country": "FR"})
        assert visitor.profile.source is ProfileSourceKind.LOCAL
        result = visitor.feature("banner")
        assert result.value == "bonjour"
        assert Reason.FALLBACK_PROFILE not in result.reasons


def test_forget_purges_spooled_events(tmp_path: Path) -> None:
    """forget() removes a visitor's queued and spooled events; others stay."""
    dead = CaptureDestination(name="lake")
    doc = _container(delivery={"spool": "sync", "spool_path": str(tmp_path / "spool.db")})
    doc["destinations"] = {"lake": {"type": "jsonl", "options": {"path": "unused"}}}
    doc["tags"] = [{"name": "all", "destination": "lake"}]
    from persona_sdk import SendResult

    dead.fail_next(*[SendResult.retry("down", retry_after=3600.0)] * 50)
    persona = Persona(doc, destinations={"lake": dead})
    for i in range(3):
        persona.track("Viewed", user_id="u-forget", properties={"i": i})
    persona.track("Viewed", user_id="u-keep")
    purged = persona.forget(user_id="u-forget")
    assert purged == 3
    persona.close(timeout=0.5)


def test_closed_persona_refuses_events(captures: dict[str, CaptureDestination]) -> None:
    """After close(), tracking raises ClosedError; close() is idempotent."""
    persona = _persona(captures)
    assert persona.close()
    assert persona.close()
    with pytest.raises(ClosedError):
        persona.track("Late", anonymous_id="a")


def test_visitor_is_the_runtime_s_builder_and_follows_reloads(
    captures: dict[str, CaptureDestination],
) -> None:
    """``persona.visitor`` is the builder of the runtime in force (one call per visitor):
    called through the class it builds the same visitor, it shows the documented
    signature, a reload swaps it, a builder kept from before decides with the runtime in
    force, and a subclass's own ``visitor`` stays in force."""
    with _persona(captures) as persona:
        kept = persona.visitor
        through_class = Persona.visitor(persona, anonymous_id="v", attributes={"country": "FR"})
        direct = persona.visitor(anonymous_id="v", attributes={"country": "FR"})
        assert dict(through_class.attributes) == dict(direct.attributes)
        assert through_class.feature("banner") == direct.feature("banner")
        assert kept.__name__ == "visitor"
        assert kept.__doc__ == Persona.visitor.__doc__
        shown = inspect.signature(kept).parameters
        assert list(shown) == [
            "anonymous_id", "user_id", "attributes", "consent", "url", "forced_variations",
            "sticky_store", "gpc",
        ]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in shown.values())
        new = _container(features={"banner": {"defaultValue": "new"}})
        for name in captures:
            new["destinations"][name].update(type="jsonl", options={"path": "unused"})
        persona.reload(new)
        assert persona.visitor is not kept
        assert persona.visitor(anonymous_id="v").get("banner", None) == "new"
        # a builder kept across the reload hands over to the one in force
        old = kept(anonymous_id="v", attributes={"country": "FR"})
        assert old.get("banner", None) == "new"
        assert old._engine is persona._runtime.engine

    class Mine(Persona):
        def visitor(self, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs.setdefault("attributes", {"country": "FR"})
            return super().visitor(**kwargs)

    doc = _container()
    for name in captures:
        doc["destinations"][name].update(type="jsonl", options={"path": "unused"})
    with Mine(doc, destinations=captures) as mine:
        assert mine.visitor(anonymous_id="v").get("banner", None) == "bonjour"


def test_a_patched_visitor_stays_patched_through_reloads(
    captures: dict[str, CaptureDestination],
) -> None:
    """What a test sets on the instance (``patch.object(persona, "visitor", ...)``)
    stands until it is undone, reloads and flag updates included; undone, the builder in
    force decides again. A class patched before the persona is built is used too."""
    with _persona(captures) as persona:
        new = _container(features={"banner": {"defaultValue": "new"}})
        for name in captures:
            new["destinations"][name].update(type="jsonl", options={"path": "unused"})
        with mock.patch.object(persona, "visitor", return_value="fake") as fake:
            persona.reload(new)
            assert persona.visitor(anonymous_id="v") == "fake"
            assert fake.call_count == 1
        assert persona.visitor(anonymous_id="v").get("banner", None) == "new"
        persona.reload(new)
        assert persona.visitor(anonymous_id="v").get("banner", None) == "new"
    with (
        mock.patch.object(Persona, "visitor", return_value="class fake"),
        _persona(captures) as patched,
    ):
        assert patched.visitor(anonymous_id="v") == "class fake"


def test_engine_visitors_of_different_personas_keep_their_own(
    captures: dict[str, CaptureDestination],
) -> None:
    """``engine.visitor`` reuses the builder of the last (persona, hooks, segments) it
    was asked for, and makes a new one for any other: a visitor's events go to the
    persona it was built for."""
    with _persona(captures) as persona:
        engine = persona._runtime.engine
        seen: dict[str, list[str]] = {"a": [], "b": []}

        class Sink:
            def __init__(self, name: str) -> None:
                self.name = name

            def track(self, event: str, **_: Any) -> str:
                seen[self.name].append(event)
                return "id"

        a, b = Sink("a"), Sink("b")
        for i in range(3):
            for sink in (a, b, a):
                engine.visitor(anonymous_id=f"v{i}", persona=sink).track("Clicked")
        assert seen == {"a": ["Clicked"] * 6, "b": ["Clicked"] * 3}
        kept = engine._last_builder
        assert kept is not None
        assert kept[0] is a
        engine.visitor(anonymous_id="w", persona=a)
        assert engine._last_builder is kept  # the same parts: the same builder


def test_a_visitor_is_bare_only_while_nothing_local_names_it(
    captures: dict[str, CaptureDestination],
) -> None:
    """With no profile source, a visitor's profile is built on first read while no local
    traits or linked id name the visitor; once one does (here an identify linking the
    anonymous id), the visitor resolves through it, and a new id is bare again."""
    with _persona(captures) as persona:
        fresh = persona.visitor(anonymous_id="a-1")
        assert callable(fresh._profile)  # bare: nothing built yet
        assert fresh.profile.canonical_id == "a-1"
        persona.identify(user_id="u-1", anonymous_id="a-1", traits={"plan": "pro"})
        linked = persona.visitor(anonymous_id="a-1")
        assert not callable(linked._profile)  # resolved through the link
        assert linked.profile.canonical_id == "u-1"
        assert linked.id == "u-1"
        other = persona.visitor(anonymous_id="a-2")
        assert callable(other._profile)
        assert other.profile.canonical_id == "a-2"


def test_the_bare_test_reads_a_dict_only_where_membership_is_one() -> None:
    """``_looked_in`` gives the dict a membership test looks in (an ``LRUCache``'s), and an
    always-true stand-in for any other test (a ``TTLCache`` checks expiry), so the look-up
    is then always made."""
    from cachetools import LRUCache, TTLCache

    from persona_sdk._speed import membership
    from persona_sdk.decisions._visitor_factory import _looked_in

    lru: LRUCache[str, int] = LRUCache(maxsize=4)
    assert _looked_in(membership(lru)) is lru._Cache__data  # type: ignore[attr-defined]
    assert not _looked_in(membership(lru))
    lru["k"] = 1
    assert _looked_in(membership(lru))
    ttl: TTLCache[str, int] = TTLCache(maxsize=4, ttl=60)
    assert _looked_in(membership(ttl)) == (True,)
    assert _looked_in(len) == (True,)
