"""Identity: identify/alias stitch ids, profiles are keyed by the canonical id, ids other
tools set are adopted, and ``forget`` purges every trace here and upstream."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from profile_helpers import START, Driver, segment_source
from servers.cdp import CdpServer

from persona_sdk.events import Message, new_message_id
from persona_sdk.profiles import (
    FileSource,
    InMemoryProfileStore,
    ProfileResolver,
    ProfileSourceKind,
    adopt_anonymous_id,
    ga_client_id,
)
from persona_sdk.profiles._identity import IdentityMap

Make = Callable[..., ProfileResolver]
VIEWS = {"computed_traits": {"views": {"kind": "count", "event": "Product Viewed"}}}


def msg(type_: str, **kw: Any) -> Message:
    return Message(type=type_, message_id=new_message_id(), timestamp=START, **kw)


def test_identify_stitches_anonymous_to_user(
    cdp: CdpServer, make_resolver: Make, driver: Driver
) -> None:
    """After identify, the anonymous id resolves to the user's profile (keyed by user id)
    and what the anonymous visitor did carries over."""
    r = make_resolver({"profiles": {"source": segment_source(cdp), "deadline": 5.0}, **VIEWS})
    r.observe(msg("track", anonymous_id="a-1", event="Product Viewed"))
    assert driver.resolve(r, anonymous_id="a-1").computed == {"views": 1}
    r.observe(msg("identify", anonymous_id="a-1", user_id="u-1", traits={"name": "Ann"}))
    profile = driver.resolve(r, anonymous_id="a-1")
    assert profile.canonical_id == "u-1"
    assert profile.traits["plan"] == "pro"
    assert profile.traits["name"] == "Ann"
    assert profile.computed == {"views": 1}
    assert cdp.lookups == [("anonymous_id", "a-1"), ("user_id", "u-1")]
    r.observe(msg("track", anonymous_id="a-1", event="Product Viewed"))
    assert driver.resolve(r, user_id="u-1").computed == {"views": 2}


def test_alias_links_previous_id(make_resolver: Make, driver: Driver) -> None:
    """``alias(user_id, previous_id)`` makes the previous id resolve to the user."""
    r = make_resolver(source=FileSource.from_records({"u-2": {"plan": "free"}}))
    r.observe(msg("alias", user_id="u-2", previous_id="old-u"))
    profile = driver.resolve(r, user_id="old-u")
    assert (profile.canonical_id, profile.traits) == ("u-2", {"plan": "free"})


def test_identify_traits_overlay_remote_traits(make_resolver: Make, driver: Driver) -> None:
    """Traits from identify calls overlay the remote profile at once (they are newer)."""
    r = make_resolver(source=FileSource.from_records({"u-1": {"plan": "free", "city": "Lyon"}}))
    assert driver.resolve(r, user_id="u-1").traits["plan"] == "free"
    r.observe(msg("identify", user_id="u-1", traits={"plan": "pro"}))
    profile = driver.resolve(r, user_id="u-1")
    assert profile.traits == {"plan": "pro", "city": "Lyon"}
    assert profile.source is ProfileSourceKind.L1


def test_alias_map_is_bounded() -> None:
    """The alias map keeps at most ``alias_max_entries`` links (least recently used go)."""
    ids = IdentityMap(max_entries=2)
    for i in range(5):
        ids.link(f"a-{i}", f"u-{i}")
    assert len(ids) == 2
    assert ids.canonical("a-4", None) == ("u-4", "user_id")
    assert ids.canonical("a-0", None) == ("a-0", "anonymous_id")


def test_alias_chains_and_cycles() -> None:
    """Links are followed (old → newer → newest) and never loop."""
    ids = IdentityMap(max_entries=10)
    assert ids.link("a", "b")
    assert ids.link("b", "c")
    assert ids.canonical(None, "a") == ("c", "user_id")
    assert not ids.link("c", "a")  # would close a cycle
    assert not ids.link("x", "x")


def test_long_alias_chains_resolve_to_their_root_in_one_hop_after() -> None:
    """A chain of 20 merges (each id merged into the next) resolves to the last id from any
    link of it; afterwards every id on the way links straight to it; ``related`` finds the
    whole chain from either end."""
    ids = IdentityMap(max_entries=100)
    chain = [f"id-{i}" for i in range(21)]
    for older, newer in itertools.pairwise(chain):
        # link as another process would have: straight into the links, no compression
        ids._links[older] = newer
    assert ids.canonical("id-0", None) == ("id-20", "user_id")
    assert all(ids._links[i] == "id-20" for i in chain[:-1])
    assert ids.canonical(None, "id-7") == ("id-20", "user_id")
    assert ids.related(["id-20"]) == set(chain)
    assert ids.related(["id-3"]) == set(chain)


def test_a_cycle_among_links_stops_where_it_closes() -> None:
    """Links forming a cycle (two processes merging each way at once) never loop: the
    lookup ends on the last id before the cycle closes."""
    ids = IdentityMap(max_entries=10)
    ids._links.update({"p": "q", "q": "r", "r": "p"})
    assert ids.canonical("p", None) == ("r", "user_id")
    assert ids.related(["q"]) == {"p", "q", "r"}


@pytest.mark.parametrize(
    ("cookies", "expected"),
    [
        ({"ajs_anonymous_id": "%22d3c5a1f0-8e2b%22"}, "d3c5a1f0-8e2b"),
        ({"ajs_anonymous_id": '"abc-123"'}, "abc-123"),
        ({"_ga": "GA1.1.123456789.1700000000"}, "123456789.1700000000"),
        ({"_ga": "GA1.2.98.76", "ajs_anonymous_id": "x-1"}, "x-1"),
        ({"_ga": "not-a-ga-cookie"}, None),
        ({"ajs_anonymous_id": "<script>"}, None),
        ({}, None),
    ],
)
def test_adopt_existing_ids(cookies: dict[str, str], expected: str | None) -> None:
    """analytics.js and Google Analytics ids are adopted, so visitors keep their id."""
    assert adopt_anonymous_id(cookies) == expected


def test_ga_client_id() -> None:
    """``_ga`` → client id: the last two numbers."""
    assert ga_client_id("GA1.1.123.456") == "123.456"
    assert ga_client_id("GS1.1.123") is None


def test_forget_purges_everything(cdp: CdpServer, make_resolver: Make, driver: Driver) -> None:
    """``forget`` drops L1, links, identify and computed traits, segment memory, the L2
    keys, and calls the source's erase hook (Unomi: DELETE) for every linked id."""
    store = InMemoryProfileStore()
    doc = {
        "profiles": {
            "source": {
                "type": "unomi",
                "base_url": cdp.url,
                "username": "karaf",
                "password": "karaf",
            },
            "deadline": 5.0,
        },
        **VIEWS,
    }
    r = make_resolver(doc, store=store, emit=lambda m: None)
    r.observe(msg("identify", anonymous_id="a-1", user_id="u-1", traits={"name": "Ann"}))
    r.observe(msg("track", user_id="u-1", event="Product Viewed"))
    assert driver.resolve(r, anonymous_id="a-1").traits["plan"] == "pro"
    r.note_segments(user_id="u-1", members=frozenset({"vip"}))
    assert r.flush(5)
    assert r.drain(5)
    assert store.keys()
    purged = r.forget(user_id="u-1")
    assert purged == {"u-1", "a-1"}
    assert sorted(cdp.deleted) == ["a-1", "u-1"]
    assert store.keys() == []
    stats = r.stats()
    assert (stats["aliases"], stats["visitors"], stats["l1_entries"], stats["segment_memory"]) == (
        0,
        0,
        0,
        0,
    )
    again = driver.resolve(r, anonymous_id="a-1")
    assert again.canonical_id == "a-1"
    assert again.computed == {}
    assert "name" not in again.traits


def test_forget_unknown_ids(make_resolver: Make) -> None:
    """Forgetting ids never seen purges just those ids and does not fail."""
    r = make_resolver()
    assert r.forget(anonymous_id="ghost") == {"ghost"}
    assert r.forget() == set()


def test_identity_map_aliases_follow_links_both_ways_and_forget_evicted_ones() -> None:
    """``aliases`` gives the person's user id and every id linked to it (through an old user
    id too) from any of them; an evicted, forgotten or re-pointed link drops out."""
    ids = IdentityMap(max_entries=100)
    ids.link("anon-1", "u-old")
    ids.link("u-old", "u-1")
    ids.link("anon-2", "u-1")
    want = {"anon-1", "u-old", "anon-2", "u-1"}
    for any_id in want:
        assert ids.aliases(any_id) == want
    assert ids.aliases("stranger") == {"stranger"}
    assert len(ids.aliases("u-1", limit=2)) == 2
    ids.link("u-old", "u-3")  # re-pointed: u-old and anon-1 now belong to u-3
    assert ids.aliases("u-1") == {"anon-2", "u-1"}
    assert ids.aliases("anon-1") == {"anon-1", "u-old", "u-3"}
    ids.forget(["anon-2"])
    assert ids.aliases("u-1") == {"u-1"}

    small = IdentityMap(max_entries=2)
    small.link("a1", "u1")
    small.link("a2", "u1")
    small.link("a3", "u3")  # evicts the least recently used link, a1 -> u1
    assert small.aliases("u1") == {"a2", "u1"}
    assert small.aliases("a1") == {"a1"}
    assert small.aliases("u3") == {"a3", "u3"}
