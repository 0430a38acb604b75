"""The facade end to end: one track() fans out per tags and consent, reload is atomic,
forget purges, and the accounting identity holds (real delivery thread, capture destinations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    called through the class it builds the same visitor, a reload swaps it, and a
    subclass's own ``visitor`` stays in force."""
    with _persona(captures) as persona:
        first = persona.visitor
        through_class = Persona.visitor(persona, anonymous_id="v", attributes={"country": "FR"})
        direct = persona.visitor(anonymous_id="v", attributes={"country": "FR"})
        assert dict(through_class.attributes) == dict(direct.attributes)
        assert through_class.feature("banner") == direct.feature("banner")
        assert first.__name__ == "visitor"
        assert first.__doc__ == Persona.visitor.__doc__
        new = _container(features={"banner": {"defaultValue": "new"}})
        for name in captures:
            new["destinations"][name].update(type="jsonl", options={"path": "unused"})
        persona.reload(new)
        assert persona.visitor is not first
        assert persona.visitor(anonymous_id="v").get("banner", None) == "new"
        old = first(anonymous_id="v", attributes={"country": "FR"})
        assert old.get("banner", None) == "bonjour"  # its own engine

    class Mine(Persona):
        def visitor(self, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs.setdefault("attributes", {"country": "FR"})
            return super().visitor(**kwargs)

    doc = _container()
    for name in captures:
        doc["destinations"][name].update(type="jsonl", options={"path": "unused"})
    with Mine(doc, destinations=captures) as mine:
        assert mine.visitor(anonymous_id="v").get("banner", None) == "bonjour"


def test_engine_visitors_of_different_personas_keep_their_own(
    captures: dict[str, CaptureDestination],
) -> None:
    """``engine.visitor`` reuses the builder of the last (persona, hooks, segments,
    exposer) it was asked for, and makes a new one for any other: a visitor's events go
    to the persona it was built for."""
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
        kept = engine.last_builder
        assert kept is not None
        assert kept[0] is a
        engine.visitor(anonymous_id="w", persona=a)
        assert engine.last_builder is kept  # the same parts: the same builder
