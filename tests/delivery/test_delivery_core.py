"""Delivery against a real loopback sink: batching, caps and drops, rejects, lifecycle."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading

import pytest
from delivery_helpers import (
    SinkDestination,
    identity_holds,
    make_delivery,
    message,
    render,
    wait_stats,
)
from servers.sink import Reply, Sink

from persona_sdk.config import Container, DestinationConfig
from persona_sdk.delivery import BatchConfig, Delivery, DeliveryConfig
from persona_sdk.events import MAX_EVENT_BYTES


def _thread_names() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_import_and_construction_start_nothing() -> None:
    """Importing and building a Delivery starts no thread; importing opens nothing either."""
    code = (
        "import threading, persona_sdk.delivery as d\n"
        "x = d.Delivery(d.DeliveryConfig())\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_delivers_everything_in_gzip_batches(sink: Sink) -> None:
    """Events arrive once each, in gzip batches of at most ``max_events``; the thread starts
    on the first event and the counters add up."""
    dest = SinkDestination("s", f"{sink.url}/v1/batch", BatchConfig(max_events=7, interval=10))
    d = make_delivery({"s": dest})
    assert "persona-delivery" not in _thread_names()
    for i in range(50):
        d.enqueue("s", message(i), render)
    assert "persona-delivery" in _thread_names()
    assert d.flush(5)
    assert sorted(sink.message_ids()) == sorted(f"m-{i}" for i in range(50))
    assert all(len(r.items) <= 7 for r in sink.requests)
    req = sink.requests[0]
    assert req.headers["content-encoding"] == "gzip"
    assert gzip.decompress(req.raw_body) == req.body
    s = d.stats()["s"]
    assert (s["tracked"], s["delivered"], s["queued"], s["in_flight"]) == (50, 50, 0, 0)
    assert identity_holds(s)
    assert d.close()
    assert dest.closed == 1


def test_batches_are_bounded_by_bytes(sink: Sink) -> None:
    """A batch never exceeds ``max_bytes`` of encoded events (one oversize event goes alone)."""
    dest = SinkDestination("s", f"{sink.url}/b",
                           BatchConfig(max_events=100, max_bytes=2_000, gzip=False))
    d = make_delivery({"s": dest})
    for i in range(20):
        d.enqueue("s", message(i, size=300), render)
    assert d.flush(5)
    assert len(sink.message_ids()) == 20
    assert all(len(r.body) <= 2_000 + 20 for r in sink.requests)
    assert len(sink.requests) > 1
    d.close()


def test_rejects_are_counted_by_reason(sink: Sink) -> None:
    """render → None is ``skipped``, a raising render ``render_error``, an unencodable payload
    ``encode_error``, an event over 32 KB ``too_large``; the rest is delivered."""
    dest = SinkDestination("s", f"{sink.url}/b")
    d = make_delivery({"s": dest})

    def boom(msg: object) -> dict[str, object]:
        raise RuntimeError("bad mapping")

    d.enqueue("s", message(1), lambda m: None)
    d.enqueue("s", message(2), boom)
    d.enqueue("s", message(3), lambda m: {"x": object()})
    d.enqueue("s", message(4, size=MAX_EVENT_BYTES), render)
    d.enqueue("s", message(5), render)
    assert d.flush(5)
    s = d.stats()["s"]
    assert s["rejected"] == {"skipped": 1, "render_error": 1, "encode_error": 1, "too_large": 1}
    assert (s["tracked"], s["delivered"]) == (5, 1)
    assert identity_holds(s)
    assert sink.message_ids() == ["m-5"]
    d.close()


@pytest.mark.parametrize(("overflow", "kept"), [
    ("drop_newest", [f"m-{i}" for i in range(1, 11)]),
    ("drop_oldest", [f"m-{i}" for i in range(91, 101)]),
])
def test_overflow_policies_drop_and_count(sink: Sink, overflow: str, kept: list[str]) -> None:
    """With one batch stuck in flight and a 10-event queue, 100 more events keep the first 10
    (drop_newest) or the last 10 (drop_oldest); exactly 90 drops are counted."""
    sink.reply_with(Reply(hang=True))
    dest = SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=5, interval=0))
    cfg = DeliveryConfig(max_queue_events=10, overflow=overflow, concurrency=1)  # type: ignore[arg-type]
    d = make_delivery({"s": dest}, cfg)
    d.enqueue("s", message(0), render)
    assert sink.wait_for(lambda s: len(s.requests) == 1)
    for i in range(1, 101):
        d.enqueue("s", message(i), render)
    assert wait_stats(d, lambda st: st["s"]["queued"] == 10)
    s = d.stats()["s"]
    assert s["dropped"] == {"queue_full": 90}
    assert identity_holds(s)
    sink.release()
    assert d.flush(5)
    assert sink.message_ids() == ["m-0", *kept]
    assert identity_holds(d.stats()["s"])
    d.close()


def test_byte_cap_drops_are_counted(sink: Sink) -> None:
    """The queue is bounded in bytes too: events beyond ``max_queue_bytes`` are dropped as
    ``queue_bytes``."""
    sink.reply_with(Reply(hang=True))
    dest = SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=1, interval=0))
    d = make_delivery({"s": dest}, DeliveryConfig(max_queue_bytes=5_000, concurrency=1))
    d.enqueue("s", message(0), render)
    assert sink.wait_for(lambda s: len(s.requests) == 1)
    for i in range(1, 41):
        d.enqueue("s", message(i, size=900), render)
    assert wait_stats(d, lambda st: st["s"]["dropped"].get("queue_bytes", 0) >= 30)
    s = d.stats()["s"]
    assert identity_holds(s)
    sink.release()
    assert d.flush(5)
    d.close()


def test_per_destination_settings_come_from_the_container(sink: Sink) -> None:
    """``container.destinations[name]`` sets the batch and the caps of that outbox only."""
    a = SinkDestination("a", f"{sink.url}/a")
    b = SinkDestination("b", f"{sink.url}/b")
    d = make_delivery({"a": a, "b": b}, per_destination={
        "a": DestinationConfig(type="x", batch=BatchConfig(max_events=3), max_queue_events=5),
    })
    assert d._boxes["a"].batch.max_events == 3
    assert d._boxes["a"].max_events == 5
    assert d._boxes["b"].max_events == DeliveryConfig().max_queue_events
    d.close()


def test_reload_keeps_queues_and_retires_removed_destinations(sink: Sink) -> None:
    """configure() again keeps the queue of a destination that stays (its new instance sends),
    closes replaced and removed instances, and counts late events for a removed one."""
    a1 = SinkDestination("a", f"{sink.url}/a")
    gone = SinkDestination("g", f"{sink.url}/g")
    d = make_delivery({"a": a1, "g": gone})
    d.enqueue("a", message(1), render)
    d.enqueue("g", message(2), render)
    assert d.flush(5)
    a2 = SinkDestination("a", f"{sink.url}/a2")
    d.configure({"a": a2}, Container())
    d.enqueue("a", message(3), render)
    d.enqueue("g", message(4), render)
    assert d.flush(5)
    assert [r.path for r in sink.requests if "m-3" in str(r.items)] == ["/a2"]
    assert wait_stats(d, lambda st: a1.closed == 1 and gone.closed == 1)
    assert d.stats()["g"]["dropped"] == {"removed": 1}
    assert all(identity_holds(s) for s in d.stats().values())
    d.close()
    assert a2.closed == 1


def test_unknown_destination_is_counted() -> None:
    """An event for a destination that was never configured is counted, not lost silently."""
    d = Delivery()
    d.enqueue("nope", message(1), render)
    s = d.stats()["nope"]
    assert s["dropped"] == {"unknown_destination": 1}
    assert identity_holds(s)


def test_close_is_idempotent_and_counts_leftovers(sink: Sink) -> None:
    """close() on a stuck destination returns False within its timeout, counts what it could
    not deliver as dropped ``closed`` (spool off), returns the same on a second call, and
    counts later events too."""
    sink.set_default(Reply(hang=True))
    dest = SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=2, interval=0))
    d = make_delivery({"s": dest}, DeliveryConfig(concurrency=1))
    for i in range(5):
        d.enqueue("s", message(i), render)
    assert sink.wait_for(lambda s: len(s.requests) == 1)
    assert d.close(timeout=0.2) is False
    assert d.close() is False
    d.enqueue("s", message(9), render)
    s = d.stats()["s"]
    assert s["dropped"] == {"closed": 6}
    assert identity_holds(s)
    assert d._worker is not None
    assert not d._worker.thread.is_alive()
    sink.release()


def test_context_managers(sink: Sink) -> None:
    """``with`` and ``async with`` close (and so flush) the delivery."""
    dest = SinkDestination("s", f"{sink.url}/b")
    with make_delivery({"s": dest}) as d:
        d.enqueue("s", message(1), render)
    assert sink.message_ids() == ["m-1"]
    assert d.close() is True


async def test_async_flush_and_close(sink: Sink) -> None:
    """aflush/aclose deliver without blocking the caller's event loop."""
    dest = SinkDestination("s", f"{sink.url}/b")
    d = make_delivery({"s": dest})
    d.enqueue("s", message(1), render)
    assert await d.aflush(5)
    d.enqueue("s", message(2), render)
    async with d:
        pass
    assert sorted(sink.message_ids()) == ["m-1", "m-2"]


def test_forget_purges_queued_events(sink: Sink) -> None:
    """forget(ids) removes queued events of those users, counts them as dropped
    ``forgotten``, and the others are still delivered."""
    sink.reply_with(Reply(hang=True))
    dest = SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=1, interval=0))
    d = make_delivery({"s": dest}, DeliveryConfig(concurrency=1))
    d.enqueue("s", message(0), render)
    assert sink.wait_for(lambda s: len(s.requests) == 1)
    for i in range(1, 7):
        d.enqueue("s", message(i, user="u-x" if i % 2 else None, anon=f"a-{i}"), render)
    assert d.forget({"u-x", "a-2"}) == 4
    sink.release()
    assert d.flush(5)
    assert sorted(sink.message_ids()) == ["m-0", "m-4", "m-6"]
    s = d.stats()["s"]
    assert s["dropped"] == {"forgotten": 4}
    assert identity_holds(s)
    d.close()
