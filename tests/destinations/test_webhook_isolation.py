"""A client-chosen ``messageId`` cannot poison webhook batches (issue #12, item 2).

Ids are validated at the edge (``ingest`` and the collector refuse one that is not printable
ASCII of at most 200 characters, naming the field); an event that still carries such an id
(``track(message_id=...)`` by the embedding app) is rejected alone by the webhook destination,
counted and logged once, and every other event is delivered to a real loopback receiver
without a retry.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import msgspec
import pytest
from servers.sink import Sink
from standardwebhooks import Webhook

from persona_sdk import Persona
from persona_sdk.destinations.webhook import WebhookDestination
from persona_sdk.events._model import MAX_MESSAGE_ID_CHARS

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
POISON = ["bad\r\nX-Injected: 1", "caf\u00e9-1", "x" * (MAX_MESSAGE_ID_CHARS + 1), " lead"]


def _persona(sink: Sink, mode: str = "event") -> tuple[Persona, WebhookDestination]:
    hook = WebhookDestination(
        name="hook",
        options={"url": f"{sink.url}/hook", "secret": SECRET, "mode": mode, "max_events": 100},
    )
    persona = Persona(
        {"tags": [{"name": "all", "destination": "hook"}]}, destinations={"hook": hook}
    )
    return persona, hook


@pytest.mark.parametrize("mode", ["event", "batch"])
def test_one_poisoned_event_never_fails_its_neighbours(
    sink: Sink, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Clean events around poisoned ids are all delivered, signed, with no retry and the
    breaker closed; each poisoned event is rejected alone, counted by reason, and logged
    once."""
    persona, hook = _persona(sink, mode)
    try:
        sent: list[str] = []
        with caplog.at_level(logging.WARNING, logger="persona_sdk.destinations.webhook"):
            for i in range(60):
                if i % 15 == 7:
                    persona.track("Poison", anonymous_id="a", message_id=POISON[i // 15])
                else:
                    sent.append(persona.track("Clean", anonymous_id="a", message_id=f"m-{i}"))
            assert persona.flush(10)
        assert sorted(sink.message_ids()) == sorted(sent)
        stats = persona.stats()["destinations"]["hook"]
        assert stats["delivered"] == 56
        assert stats["retried"] == 0
        assert stats["rejected_total"] == 4
        assert stats["breaker"] == "closed"
        assert hook.rejections() == {"invalid_message_id": 4}
        warnings = [r for r in caplog.records if "event rejected" in r.getMessage()]
        assert len(warnings) == 1
        # what arrived verifies with a Standard Webhooks receiver
        verifier = Webhook(SECRET)
        for req in sink.requests:
            verifier.verify(req.body, dict(req.headers))
    finally:
        persona.close()


@pytest.mark.parametrize("bad", POISON)
def test_ingest_refuses_an_id_that_cannot_be_a_header(bad: str) -> None:
    """``persona.ingest`` refuses the message at the edge, naming ``messageId``; its
    neighbours in the same batch are accepted."""
    persona = Persona({})
    try:
        good: dict[str, Any] = {"type": "track", "event": "E", "anonymousId": "a"}
        results = persona.ingest({"batch": [good, {**good, "messageId": bad}, good]})
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].error is not None
        assert results[1].error.startswith("batch[1].messageId: must be")
        # the same through bytes, the collector's other path
        body = msgspec.json.encode({**good, "messageId": bad})
        (one,) = persona.ingest(body)
        assert not one.ok
    finally:
        persona.close()


def test_ids_up_to_the_limit_are_kept() -> None:
    """A printable ASCII id of exactly the limit, with inner spaces, is kept as given."""
    persona = Persona({})
    try:
        mid = "a b" + "c" * (MAX_MESSAGE_ID_CHARS - 3)
        (r,) = persona.ingest({"type": "track", "event": "E", "anonymousId": "a",
                               "messageId": mid})  # fmt: skip
        assert r.ok
        assert r.message_id == mid
    finally:
        persona.close()
