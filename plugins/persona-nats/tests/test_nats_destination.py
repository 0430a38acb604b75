"""The JetStream destination: every event stored once under its messageId
(``Nats-Msg-Id``), acknowledgements awaited, retries while NATS is down."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec
import nats
import pytest
from nats_servers import NatsServer
from persona_nats import JetStreamDestination, NatsWorker, StreamOptions

from persona_sdk import ConfigError, Persona, SendOutcome


def stream_ids(url: str, stream: str = "PERSONA") -> list[str]:
    """Every stored message's Nats-Msg-Id, in order."""

    async def read() -> list[str]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append((msg.headers or {}).get("Nats-Msg-Id", ""))
        await nc.close()
        return out

    return asyncio.run(read())


def collector(url: str) -> Persona:
    options = {"url": url}
    return Persona(
        {"destinations": {"stream": {"type": "jetstream", "options": options}},
         "tags": [{"name": "all", "destination": "stream"}]},
        destinations={"stream": JetStreamDestination.from_options(name="stream",
                                                                   options=options)},
    )


def test_events_are_published_once_per_message_id(nats_server: NatsServer) -> None:
    """Tracked events are stored with Nats-Msg-Id = messageId; a batch published again is
    acknowledged as duplicates (counted) and not stored twice."""
    persona = collector(nats_server.url)
    ids = [persona.track("Product Viewed", anonymous_id=f"a-{i}") for i in range(100)]
    assert persona.flush(timeout=10.0)
    persona.close()
    assert stream_ids(nats_server.url) == ids

    dest = JetStreamDestination.from_options(name="again", options={"url": nats_server.url})
    items = [msgspec.json.encode({"messageId": i, "type": "track"}) for i in ids[:10]]

    async def resend() -> Any:
        async with httpx.AsyncClient() as client:
            result = await dest.send(items, client)
        await dest.aclose()
        return result

    assert asyncio.run(resend()).outcome is SendOutcome.DELIVERED
    assert dest.duplicates == 10
    assert len(stream_ids(nats_server.url)) == 100


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
    assert sorted(stream_ids(nats_server.url)) == sorted(ids)


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
