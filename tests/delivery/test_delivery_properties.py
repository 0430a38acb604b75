"""Property: the accounting identity holds at every moment under random faults and caps."""

from __future__ import annotations

import tempfile
from typing import Any

from delivery_helpers import FakeTime, SinkDestination, identity_holds, make_delivery, message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers.sink import Reply, Sink

from persona_sdk.delivery import BatchConfig, DeliveryConfig, Overflow, SpoolMode
from persona_sdk.events import MAX_EVENT_BYTES, Message, to_segment

REPLIES = st.sampled_from([
    Reply(), Reply(status=503), Reply(status=500), Reply(status=429, retry_after=3),
    Reply(status=400), Reply(status=408), Reply(reset=True),
])


def _render(kind: int) -> Any:
    def render(msg: Message) -> dict[str, Any] | None:
        if kind == 1:
            return None
        if kind == 2:
            raise ValueError("mapping failed")
        doc = to_segment(msg)
        if kind == 3:
            doc["properties"] = {"pad": "x" * MAX_EVENT_BYTES}
        return doc

    return render


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(st.sampled_from([0, 0, 0, 0, 1, 2, 3]), min_size=1, max_size=120),
    faults=st.lists(REPLIES, max_size=25),
    queue=st.integers(1, 60),
    batch=st.integers(1, 15),
    concurrency=st.integers(1, 3),
    retries=st.integers(0, 4),
    overflow=st.sampled_from(list(Overflow)),
    spool=st.sampled_from([SpoolMode.OFF, SpoolMode.GROUP, SpoolMode.SYNC]),
)
def test_identity_holds_under_random_faults(
    *,
    events: list[int], faults: list[Reply], queue: int, batch: int, concurrency: int,
    retries: int, overflow: Overflow, spool: SpoolMode,
) -> None:
    """Whatever the sink answers, whatever the caps: at every sample ``tracked = delivered +
    queued + spooled + in_flight + dropped + rejected + dead_lettered``; after recovery and
    flush nothing is left waiting and the sink holds exactly the delivered events."""
    with tempfile.TemporaryDirectory() as tmp, Sink() as sink:
        sink.reply_with(*faults)
        dest = SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=batch,
                                                                 interval=0.001))
        cfg = DeliveryConfig(max_queue_events=queue, overflow=overflow, max_retries=retries,
                             concurrency=concurrency, breaker_threshold=3,
                             spool=spool, spool_path=f"{tmp}/spool.db")
        d = make_delivery({"s": dest}, cfg, fake=FakeTime())
        renders = {k: _render(k) for k in range(4)}
        for i, kind in enumerate(events):
            d.enqueue("s", message(i), renders[kind])
            if i % 7 == 0:
                s = d.stats()["s"]
                assert identity_holds(s), s
        d.flush(10)
        s = d.stats()["s"]
        assert identity_holds(s), s
        assert (s["queued"], s["spooled"], s["in_flight"]) == (0, 0, 0), s
        assert s["tracked"] == len(events)
        assert s["rejected_total"] <= sum(1 for k in events if k)  # some were dropped first
        assert len(sink.message_ids()) == s["delivered"]
        d.close()
        assert identity_holds(d.stats()["s"])
