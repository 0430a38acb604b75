"""The JetStream destination: every event stored once (one message per event under its
messageId, or packs of events under their digest, as ``Nats-Msg-Id``), acknowledgements
awaited, retries while NATS is down."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec
import nats
import pytest
from nats_servers import NatsServer
from persona_nats import PACK_HEADER, JetStreamDestination, NatsWorker, StreamOptions

from persona_sdk import ConfigError, Persona, SendOutcome


def stored(url: str, stream: str = "PERSONA") -> list[tuple[str, list[str]]]:
    """Every stored message: its Nats-Msg-Id and the messageIds of the events it holds."""

    async def read() -> list[tuple[str, list[str]]]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            headers = msg.headers or {}
            lines = msg.data.split(b"\n") if PACK_HEADER in headers else [msg.data]
            if PACK_HEADER in headers:
                assert int(headers[PACK_HEADER]) == len(lines)
            ids = [msgspec.json.decode(line)["messageId"] for line in lines]
            out.append((headers.get("Nats-Msg-Id", ""), ids))
        await nc.close()
        return out

    return asyncio.run(read())


def event_ids(url: str) -> list[str]:
    """The messageIds of every stored event, in order."""
    return [i for _, ids in stored(url) for i in ids]


def collector(url: str, **extra: Any) -> Persona:
    options = {"url": url, **extra}
    return Persona(
        {"destinations": {"stream": {"type": "jetstream", "options": options}},
         "tags": [{"name": "all", "destination": "stream"}]},
        destinations={"stream": JetStreamDestination.from_options(name="stream",
                                                                   options=options)},
    )


def test_events_are_published_once_per_message_id(nats_server: NatsServer) -> None:
    """With ``pack = 1``, tracked events are stored one per message with Nats-Msg-Id =
    messageId; a batch published again is acknowledged as duplicates (counted) and not
    stored twice."""
    persona = collector(nats_server.url, pack=1)
    ids = [persona.track("Product Viewed", anonymous_id=f"a-{i}") for i in range(100)]
    assert persona.flush(timeout=10.0)
    persona.close()
    assert stored(nats_server.url) == [(i, [i]) for i in ids]

    dest = JetStreamDestination.from_options(
        name="again", options={"url": nats_server.url, "pack": 1}
    )
    items = [msgspec.json.encode({"messageId": i, "type": "track"}) for i in ids[:10]]

    async def resend() -> Any:
        async with httpx.AsyncClient() as client:
            result = await dest.send(items, client)
        await dest.aclose()
        return result

    assert asyncio.run(resend()).outcome is SendOutcome.DELIVERED
    assert dest.duplicates == 10
    assert len(stored(nats_server.url)) == 100


def test_concurrent_first_sends_share_one_connection(nats_server: NatsServer) -> None:
    """The delivery loop sends its first batches concurrently: they wait for one connection
    instead of each opening one (all but the last were left open, never closed)."""
    dest = JetStreamDestination.from_options(name="d", options={"url": nats_server.url})
    made: list[Any] = []
    connect = nats.connect

    async def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(await connect(*args, **kwargs))
        return made[-1]

    async def burst() -> list[Any]:
        async with httpx.AsyncClient() as client:
            results = await asyncio.gather(*(
                dest.send([msgspec.json.encode({"messageId": f"m-{i}", "type": "track"})],
                          client)
                for i in range(8)
            ))
        await dest.aclose()
        return [r.outcome for r in results]

    patch = pytest.MonkeyPatch()
    patch.setattr(nats, "connect", counting)
    try:
        assert asyncio.run(burst()) == [SendOutcome.DELIVERED] * 8
    finally:
        patch.undo()
    assert len(made) == 1
    assert made[0].is_closed


def test_packs_hold_every_event_once_and_a_resent_batch_is_a_duplicate(
    nats_server: NatsServer,
) -> None:
    """By default events go in packs (one message, newline-separated, ``Persona-Events``
    header): every event is stored once, in order; the same batch sent again has the same
    digest as ``Nats-Msg-Id``, so JetStream drops it (counted as duplicates)."""
    dest = JetStreamDestination.from_options(name="d", options={"url": nats_server.url,
                                                                 "pack": 40})
    items = [msgspec.json.encode({"messageId": f"m-{i}", "type": "track", "event": "E"})
             for i in range(100)]

    async def send_twice() -> tuple[Any, Any]:
        async with httpx.AsyncClient() as client:
            first = await dest.send(items, client)
            again = await dest.send(items, client)
        await dest.aclose()
        return first, again

    first, again = asyncio.run(send_twice())
    assert (first.outcome, again.outcome) == (SendOutcome.DELIVERED, SendOutcome.DELIVERED)
    messages = stored(nats_server.url)
    assert [len(ids) for _, ids in messages] == [40, 40, 20]
    assert [i for _, ids in messages for i in ids] == [f"m-{i}" for i in range(100)]
    assert len({mid for mid, _ in messages}) == 3
    assert all(mid.startswith("pack-") for mid, _ in messages)
    assert dest.duplicates == 3


def test_worker_delivers_every_event_of_a_pack_and_skips_a_bad_one(
    nats_server: NatsServer, sink: Any
) -> None:
    """A worker splits a pack into its events and delivers each (one unreadable line is
    counted as rejected, not a reason to lose its neighbours)."""
    import threading

    dest = JetStreamDestination.from_options(name="d", options={"url": nats_server.url})
    good = [msgspec.json.encode({"messageId": f"w-{i}", "type": "track", "event": "E",
                                 "anonymousId": "a-1"}) for i in range(5)]

    async def send() -> Any:
        async with httpx.AsyncClient() as client:
            result = await dest.send([*good[:2], b"{not json", *good[2:]], client)
        await dest.aclose()
        return result

    assert asyncio.run(send()).outcome is SendOutcome.DELIVERED
    persona = Persona({
        "destinations": {"sink": {"type": "http", "options": {"url": f"{sink.url}/v1/batch"},
                                  "batch": {"max_events": 1}}},
        "tags": [{"name": "all", "destination": "sink"}],
    })
    worker = NatsWorker(persona, StreamOptions(nats_server.url, durable="pack-test"))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert sink.wait_for(lambda s: len(s.message_ids()) >= 5, timeout=20.0)
    finally:
        worker.stop()
        thread.join(10)
        persona.close()
    assert sorted(sink.message_ids()) == [f"w-{i}" for i in range(5)]
    assert worker.counts["rejected"] == 1
    assert worker.counts["acked"] == 1


def test_nats_down_keeps_events_until_it_returns(nats_server: NatsServer) -> None:
    """With NATS down, sends are retried (events wait in the outbox, counted as retried);
    when NATS returns on the same address, every event is stored once."""
    nats_server.kill()
    persona = collector(nats_server.url)
    ids = [persona.track("Order Completed", anonymous_id=f"a-{i}") for i in range(20)]
    assert not persona.flush(timeout=0.5)
    stats = persona.stats()["destinations"]["stream"]
    assert stats["delivered"] == 0
    nats_server.start()
    assert persona.flush(timeout=30.0)
    persona.close()
    assert sorted(event_ids(nats_server.url)) == sorted(ids)


def test_stream_options_are_checked() -> None:
    """Bad options and URLs raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as err:
        JetStreamDestination.from_options(name="s", options={"url": "http://x", "bogus": 1})
    assert "bogus: unknown field" in str(err.value)
    with pytest.raises(ConfigError) as err:
        StreamOptions.from_url("nats://h:4222/S?ack_wait=soon")
    assert "ack_wait: must be a positive number" in str(err.value)
    opts = StreamOptions.from_url("nats://h:4222/EVENTS?durable=w&ack_wait=2&subject=a.b")
    assert (opts.url, opts.stream, opts.durable, opts.ack_wait, opts.subject) == (
        "nats://h:4222", "EVENTS", "w", 2.0, "a.b")
    assert isinstance(NatsWorker.from_url(url=opts.url, persona=None), NatsWorker)


def test_worker_command_reports_bad_sources(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``persona worker --from`` names the missing plugin group for an unknown scheme, and
    the bad field of a nats:// URL; both exit 1 without starting anything."""
    from persona_sdk.cli import main

    container = tmp_path / "c.json"
    container.write_text("{}")
    assert main(["worker", "--from", "kafka://h:9092/t", str(container)]) == 1
    assert "persona_sdk.workers" in capsys.readouterr().err
    assert main(["worker", "--from", "nats://h:4222/S?ack_wait=soon", str(container)]) == 1
    err = capsys.readouterr().err
    assert "--from: " in err
    assert "ack_wait: must be a positive number" in err
