"""The resolver: L1 → L2 → CDP, single flight, stale-while-revalidate, negative caching,
the breaker, one retry, and a fallback profile that says why.

Each case runs with threads (``resolve``) and with asyncio (``aresolve``) through the
``driver`` fixture. TTLs, grace windows and the breaker run on an injected clock; nothing
sleeps: a stalled CDP is released through an event, background work is awaited with
``drain()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from profile_helpers import Driver, FakeClock, segment_source
from servers.cdp import CdpServer, Fault

from persona_sdk.profiles import (
    FetchErrorKind,
    FetchResult,
    FileSource,
    InMemoryProfileStore,
    ProfileReason,
    ProfileResolver,
    ProfileSourceKind,
)

L1, L2, REMOTE, STALE, FALLBACK = (
    ProfileSourceKind.L1,
    ProfileSourceKind.L2,
    ProfileSourceKind.REMOTE,
    ProfileSourceKind.STALE,
    ProfileSourceKind.FALLBACK,
)
Make = Callable[..., ProfileResolver]


def profiles(cdp: CdpServer, **cfg: Any) -> dict[str, Any]:
    """A container dict using the fake CDP (a generous deadline unless a test sets one)."""
    return {"profiles": {"source": segment_source(cdp), "deadline": 5.0, **cfg}}


def test_remote_then_l1(cdp: CdpServer, make_resolver: Make, driver: Driver) -> None:
    """The first lookup asks the CDP (``remote``); the next ones hit L1 without a request."""
    r = make_resolver(profiles(cdp))
    first = driver.resolve(r, user_id="u-1")
    assert first.source is REMOTE
    assert first.traits["plan"] == "pro"
    assert first.reasons == ()
    again = driver.resolve(r, user_id="u-1", anonymous_id="a-9")
    assert again.source is L1
    assert again.canonical_id == "u-1"
    assert cdp.count() == 1
    assert r.stats()["l1"] == 1


def test_ttl_expiry_then_stale_while_revalidate(
    cdp: CdpServer, make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """Past the TTL, inside the grace window, the stale entry is served at once and one
    background refresh brings the new traits; past the grace window it is a miss."""
    r = make_resolver(profiles(cdp, ttl=60, stale_grace=600, fetch_timeout=5.0))
    assert driver.resolve(r, user_id="u-1").source is REMOTE
    cdp.add("u-1", {"plan": "enterprise"})
    cdp.stall()  # the refresh waits, so every hit below sees the stale entry
    clock.advance(61)
    stale = [driver.resolve(r, user_id="u-1") for _ in range(5)]
    assert {p.source for p in stale} == {STALE}
    assert stale[0].traits["plan"] == "pro"
    assert stale[0].reasons == (ProfileReason.REVALIDATING,)
    cdp.release()
    assert r.drain(5)
    assert cdp.count() == 2  # one refresh for five stale hits
    fresh = driver.resolve(r, user_id="u-1")
    assert (fresh.source, fresh.traits["plan"]) == (L1, "enterprise")
    clock.advance(60 + 600 + 1)
    assert driver.resolve(r, user_id="u-1").source is REMOTE


def test_not_found_is_cached_negatively(
    cdp: CdpServer, make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """A not-found answer is cached for ``negative_ttl``: no request per page view."""
    r = make_resolver(profiles(cdp, negative_ttl=30, stale_grace=0))
    first = driver.resolve(r, anonymous_id="a-1")
    assert (first.source, first.reasons) == (REMOTE, (ProfileReason.NOT_FOUND,))
    again = driver.resolve(r, anonymous_id="a-1")
    assert (again.source, again.reasons) == (L1, (ProfileReason.NOT_FOUND,))
    assert cdp.count() == 1
    assert cdp.lookups == [("anonymous_id", "a-1")]
    clock.advance(31)
    driver.resolve(r, anonymous_id="a-1")
    assert cdp.count() == 2


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault(status=500), ProfileReason.HTTP_STATUS),
        (Fault(bad_json=True), ProfileReason.BAD_JSON),
        (Fault(reset=True), ProfileReason.CONNECTION),
        (Fault(status=429, retry_after="30"), ProfileReason.RATE_LIMITED),
    ],
    ids=["500", "bad-json", "reset", "429"],
)
def test_failures_fall_back_with_a_reason(
    cdp: CdpServer, make_resolver: Make, driver: Driver, fault: Fault, reason: ProfileReason
) -> None:
    """Any CDP failure gives a fallback profile (never an exception) that says why."""
    cdp.set_default(fault)
    r = make_resolver(profiles(cdp))
    profile = driver.resolve(r, user_id="u-1")
    assert profile.source is FALLBACK
    assert profile.reasons == (reason,)
    assert profile.traits == {}
    assert r.stats()["fallbacks"] == {reason.value: 1}


def test_stalled_cdp_falls_back_at_the_deadline(
    cdp: CdpServer, make_resolver: Make, driver: Driver
) -> None:
    """A CDP that does not answer costs one deadline, then a ``timeout`` fallback; the
    lookup goes on in the background and fills L1 once the CDP answers."""
    cdp.stall()
    r = make_resolver(profiles(cdp, deadline=0.05, fetch_timeout=10.0))
    profile = driver.resolve(r, user_id="u-1")
    assert (profile.source, profile.reasons) == (FALLBACK, (ProfileReason.TIMEOUT,))
    cdp.release()
    assert r.drain(10)
    assert driver.resolve(r, user_id="u-1").source is L1
    assert cdp.count() == 1


def test_one_retry_on_a_transient_error(
    cdp: CdpServer, make_resolver: Make, driver: Driver
) -> None:
    """A 500, a reset or a 429 with a short Retry-After is retried once within the deadline."""
    cdp.fail_next(Fault(status=500))
    r = make_resolver(profiles(cdp, breaker={"enabled": False}))
    assert driver.resolve(r, user_id="u-1").source is REMOTE
    cdp.fail_next(Fault(status=429, retry_after="0"))
    assert driver.resolve(r, user_id="u-2").reasons == (ProfileReason.NOT_FOUND,)
    cdp.fail_next(Fault(reset=True), Fault(reset=True))
    assert driver.resolve(r, user_id="u-3").reasons == (ProfileReason.CONNECTION,)
    assert cdp.count() == 6, [(q.path[-20:], q.status) for q in cdp.requests]


def test_no_retry_when_disabled_or_not_transient(
    cdp: CdpServer, make_resolver: Make, driver: Driver
) -> None:
    """Bad JSON is not retried; with ``retry = false`` nothing is."""
    cdp.fail_next(Fault(bad_json=True))
    r = make_resolver(profiles(cdp))
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.BAD_JSON,)
    assert cdp.count() == 1
    r2 = make_resolver(profiles(cdp, retry=False))
    cdp.fail_next(Fault(status=503))
    assert driver.resolve(r2, user_id="u-1").reasons == (ProfileReason.HTTP_STATUS,)
    assert cdp.count() == 2


def test_long_retry_after_holds_the_source(
    cdp: CdpServer, make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """A Retry-After longer than the deadline is not waited for: the source is held until
    then, and lookups fall back as ``rate_limited`` without a request."""
    cdp.fail_next(Fault(status=429, retry_after="120"))
    r = make_resolver(profiles(cdp))
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.RATE_LIMITED,)
    assert driver.resolve(r, user_id="u-2").reasons == (ProfileReason.RATE_LIMITED,)
    assert cdp.count() == 1
    clock.advance(121)
    assert driver.resolve(r, user_id="u-1").source is REMOTE


@pytest.mark.parametrize("header", ["inf", "Infinity", "1e400", "100000"])
def test_an_infinite_or_huge_retry_after_does_not_hold_the_source_forever(
    cdp: CdpServer, make_resolver: Make, driver: Driver, clock: FakeClock, header: str
) -> None:
    """A 429 with ``Retry-After: inf`` (or a huge value) does not turn remote profiles off for
    the life of the process: ``inf`` is refused, a huge value is capped at 300 s."""
    cdp.fail_next(Fault(status=429, retry_after=header))
    r = make_resolver(profiles(cdp, retry=False))
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.RATE_LIMITED,)
    held = r.stats()["breaker"]["held_until"]
    assert held is None or held <= clock.now + 300  # inf is refused: no hold at all
    clock.advance(301)
    assert driver.resolve(r, user_id="u-1").source is REMOTE


class _RateLimited:
    """A plugin source answering 429 with whatever ``retry_after`` float it was given."""

    name = "limited"
    in_process = True

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        self.calls = 0

    def get(self, profile_id: str, *, id_type: str = "user_id", timeout: float) -> FetchResult:
        self.calls += 1
        return FetchResult.failed(FetchErrorKind.RATE_LIMITED, "429", http_status=429,
                                  retry_after=self.retry_after)

    async def aget(
        self, profile_id: str, *, id_type: str = "user_id", timeout: float
    ) -> FetchResult:
        return self.get(profile_id, id_type=id_type, timeout=timeout)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("retry_after", "held_for"),
    [(float("nan"), None), (float("inf"), None), (-5.0, None), (1e12, 300.0), (12.0, 12.0)],
)
def test_a_plugin_sources_retry_after_is_checked_like_a_header(
    make_resolver: Make, driver: Driver, clock: FakeClock, retry_after: float,
    held_for: float | None,
) -> None:
    """A plugin's ``FetchResult.retry_after`` goes through the same check as a header:
    ``nan``, infinities and negative delays hold nothing, a huge one is capped at
    ``breaker.max_hold``."""
    source = _RateLimited(retry_after)
    r = make_resolver({"profiles": {"deadline": 1.0, "retry": False}}, source=source)
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.RATE_LIMITED,)
    held = r.stats()["breaker"]["held_until"]
    assert held == (None if held_for is None else clock.now + held_for)


def test_breaker_max_hold_caps_a_retry_after(
    cdp: CdpServer, make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """``breaker.max_hold`` bounds how long a 429 holds the source."""
    cdp.fail_next(Fault(status=429, retry_after="250"))
    r = make_resolver(profiles(cdp, retry=False, breaker={"max_hold": 60}))
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.RATE_LIMITED,)
    assert r.stats()["breaker"]["held_until"] == clock.now + 60
    clock.advance(61)
    assert driver.resolve(r, user_id="u-1").source is REMOTE


def test_breaker_opens_on_errors_and_probes_half_open(
    cdp: CdpServer, make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """Failures open the breaker (no more requests); after ``open_for`` one probe goes
    through and its success closes the breaker again."""
    breaker = {"window": 4, "min_calls": 2, "failure_rate": 0.5, "open_for": 30}
    r = make_resolver(profiles(cdp, retry=False, breaker=breaker))
    cdp.set_default(Fault(status=500))
    for uid in ("u-1", "u-2"):
        assert driver.resolve(r, user_id=uid).reasons == (ProfileReason.HTTP_STATUS,)
    assert r.stats()["breaker"]["state"] == "open"
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.CIRCUIT_OPEN,)
    assert cdp.count() == 2
    clock.advance(31)
    assert r.stats()["breaker"]["state"] == "half_open"
    cdp.set_default(None)
    assert driver.resolve(r, user_id="u-1").source is REMOTE
    assert r.stats()["breaker"]["state"] == "closed"


def test_breaker_failed_probe_reopens(
    cdp: CdpServer, make_resolver: Make, driver: Driver, clock: FakeClock
) -> None:
    """A failing half-open probe reopens the breaker for another ``open_for``."""
    breaker = {"window": 2, "min_calls": 1, "open_for": 10}
    r = make_resolver(profiles(cdp, retry=False, breaker=breaker))
    cdp.set_default(Fault(status=502))
    driver.resolve(r, user_id="u-1")
    clock.advance(11)
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.HTTP_STATUS,)
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.CIRCUIT_OPEN,)
    assert r.stats()["breaker"]["opened"] == 2


def test_breaker_opens_on_slow_calls(cdp: CdpServer, make_resolver: Make, driver: Driver) -> None:
    """Calls slower than the deadline count as slow; enough of them open the breaker."""
    cdp.stall()
    breaker = {"window": 4, "min_calls": 2, "slow_rate": 0.5, "failure_rate": 1.0}
    r = make_resolver(
        profiles(cdp, deadline=0.03, fetch_timeout=0.03, retry=False, breaker=breaker)
    )
    for uid in ("u-1", "u-2"):
        assert driver.resolve(r, user_id=uid).reasons == (ProfileReason.TIMEOUT,)
        assert r.drain(5)
    assert r.stats()["breaker"]["state"] == "open"
    assert driver.resolve(r, user_id="u-3").reasons == (ProfileReason.CIRCUIT_OPEN,)


def test_single_flight_200_concurrent_misses(
    cdp: CdpServer, make_resolver: Make, driver: Driver
) -> None:
    """200 concurrent misses for one key send exactly one request to the CDP."""
    cdp.stall()
    r = make_resolver(profiles(cdp))
    many = driver.start_many(r, 200, user_id="u-1")
    assert cdp.wait_for(lambda s: s.count() >= 1)
    cdp.release()
    results = many.result()
    assert len(results) == 200
    assert cdp.count() == 1
    assert all(p.traits["plan"] == "pro" for p in results)
    assert {p.source for p in results} <= {REMOTE, L1}
    stats = r.stats()
    assert stats["flights"] == 1
    assert stats["joined"] + stats["l1"] == 199


def test_l2_store_shares_profiles_between_resolvers(
    cdp: CdpServer, make_resolver: Make, driver: Driver
) -> None:
    """A profile fetched by one process lands in the shared store; another reads it (``l2``)
    without asking the CDP."""
    store = InMemoryProfileStore()
    a = make_resolver(profiles(cdp), store=store)
    b = make_resolver(profiles(cdp), store=store)
    assert driver.resolve(a, user_id="u-1").source is REMOTE
    assert a.drain(5)
    shared = driver.resolve(b, user_id="u-1")
    assert (shared.source, shared.traits["plan"]) == (L2, "pro")
    assert driver.resolve(b, user_id="u-1").source is L1
    assert cdp.count() == 1


def test_store_from_container(cdp: CdpServer, make_resolver: Make, driver: Driver) -> None:
    """``profiles.store = {type = "memory"}`` builds the in-memory L2 store."""
    r = make_resolver(profiles(cdp, store={"type": "memory", "max_entries": 10}))
    driver.resolve(r, user_id="u-1")
    assert r.stats()["store"] == "InMemoryProfileStore"


def test_no_source_and_no_id(make_resolver: Make, driver: Driver) -> None:
    """Without a source the profile is ``local`` (reason ``no_source``), not a failure;
    without ids, a ``no_id`` fallback."""
    r = make_resolver()
    local = driver.resolve(r, user_id="u-1")
    assert local.reasons == (ProfileReason.NO_SOURCE,)
    assert local.source is ProfileSourceKind.LOCAL
    assert driver.resolve(r).reasons == (ProfileReason.NO_ID,)


def test_in_process_source_answers_inline(make_resolver: Make, driver: Driver) -> None:
    """An in-memory source is asked on the calling thread: no I/O thread is started."""
    r = make_resolver(source=FileSource.from_records({"u-1": {"plan": "pro"}}))
    assert driver.resolve(r, user_id="u-1").source is REMOTE
    assert driver.resolve(r, user_id="u-1").source is L1
    assert not r._st.io.running


def test_overload_fails_fast(cdp: CdpServer, make_resolver: Make, driver: Driver) -> None:
    """Past ``max_in_flight`` lookups under way, a miss falls back at once (``overloaded``)."""
    cdp.stall()
    r = make_resolver(profiles(cdp, deadline=0.02, max_in_flight=1, fetch_timeout=10.0))
    assert driver.resolve(r, user_id="u-1").reasons == (ProfileReason.TIMEOUT,)
    assert driver.resolve(r, user_id="u-2").reasons == (ProfileReason.OVERLOADED,)
    cdp.release()


def test_closed_resolver_falls_back(cdp: CdpServer, make_resolver: Make, driver: Driver) -> None:
    """After ``close`` cached profiles still answer and misses fall back (``closed``)."""
    r = make_resolver(profiles(cdp))
    driver.resolve(r, user_id="u-1")
    r.close()
    r.close()
    assert driver.resolve(r, user_id="u-1").source is L1
    assert driver.resolve(r, user_id="u-2").reasons == (ProfileReason.CLOSED,)


def test_reconfigure_keeps_or_swaps(cdp: CdpServer, make_resolver: Make, driver: Driver) -> None:
    """``configure`` keeps the source and L1 when the source options stay; new options mean
    a new source and an empty L1."""
    from persona_sdk.config import Container

    doc = profiles(cdp)
    r = make_resolver(doc)
    driver.resolve(r, user_id="u-1")
    source = r._st.settings.source
    r.configure(Container.from_dict({**doc, "segments": {}}))
    assert r._st.settings.source is source
    assert driver.resolve(r, user_id="u-1").source is L1
    r.configure(
        Container.from_dict(
            profiles(cdp, ttl=10.0)
            | {"profiles": {"source": segment_source(cdp, limit=50), "deadline": 5.0}}
        )
    )
    assert r._st.settings.source is not source
    assert driver.resolve(r, user_id="u-1").source is REMOTE
