"""`/v1/batch` work and answers are bounded by message count (issue #12, item 3): a small
gzipped body of many bad messages gets a small answer, and the rate limiter counts messages.

Nothing here is timed: the bound is shown by the answer's size and by what the collector and
the ``Persona`` counted (no message looked at when the batch is over the cap).
"""

from __future__ import annotations

import gzip
from typing import Any

import msgspec
from collector_helpers import Clock, head

from persona_sdk.config import CollectorConfig
from persona_sdk.web._collector import Collector
from persona_sdk.web._collector_pending import MAX_LISTED_ERRORS

enc = msgspec.json.encode


def _gz_batch(items: list[Any]) -> bytes:
    return gzip.compress(enc({"batch": items}), 9)


GZ = {"content-encoding": "gzip"}


def test_a_small_gzipped_request_of_250000_bad_items_gets_a_small_answer(world) -> None:
    """The issue's request (250,000 bad items, under 1 KB gzipped) is refused with a 413
    naming the cap, before any message is validated: a small answer, nothing counted as
    accepted or rejected, nothing tracked."""
    persona, _ = world
    c = Collector(persona, CollectorConfig(rate_limit_per_second=0), clock=Clock())
    body = _gz_batch([1] * 250_000)
    assert len(body) < 1024
    r = c.handle(head("POST", "/v1/batch", headers=GZ), body)
    assert r.status == 413, r.body
    assert len(r.body) < 300
    doc = r.json()
    assert doc["code"] == "too_large"
    assert doc["field"] == "batch"
    assert "2500-message limit" in doc["message"]
    stats = c.stats()
    assert "rejected" not in stats
    assert "accepted" not in stats  # no message was looked at
    assert persona.stats()["destinations"]["capture"]["tracked"] == 0


def test_errors_are_summarised_first_n_plus_counts_by_reason(world) -> None:
    """A batch at the cap, all bad, answers with the first rejections in full and counts by
    reason: the answer stays small however many messages failed."""
    persona, _ = world
    c = Collector(persona, CollectorConfig(rate_limit_per_second=0), clock=Clock())
    bad = [1] * 1500 + [{"type": "track", "anonymousId": "a"}] * 1000  # two kinds of mistake
    r = c.handle(head("POST", "/v1/batch", headers=GZ), _gz_batch(bad))
    assert r.status == 400, r.body
    assert len(r.body) < 4096
    doc = r.json()
    assert doc["rejected"] == 2500
    assert len(doc["errors"]) == MAX_LISTED_ERRORS
    assert [e["index"] for e in doc["errors"]] == list(range(MAX_LISTED_ERRORS))
    assert sum(doc["reasons"].values()) == 2500
    assert sorted(doc["reasons"].values()) == [1000, 1500]
    assert c.stats()["rejected"] == 2500


def test_partial_acceptance_is_summarised_too(world) -> None:
    """With some messages accepted, the 200 carries the same bounded summary."""
    persona, _ = world
    c = Collector(persona, CollectorConfig(rate_limit_per_second=0), clock=Clock())
    good = {"type": "track", "event": "E", "anonymousId": "a"}
    r = c.handle(head("POST", "/v1/batch"), enc({"batch": [good] * 5 + [1] * 100}))
    assert r.status == 200, r.body
    doc = r.json()
    assert doc["accepted"] == 5
    assert doc["rejected"] == 100
    assert len(doc["errors"]) == MAX_LISTED_ERRORS
    assert doc["errors"][0]["index"] == 5
    assert list(doc["reasons"].values()) == [100]


def test_max_batch_items_is_configurable(world) -> None:
    """``max_batch_items`` sets the cap; at the cap the batch is taken, one over is a 413."""
    persona, capture = world
    c = Collector(persona, CollectorConfig(max_batch_items=3, rate_limit_per_second=0),
                  clock=Clock())  # fmt: skip
    good = {"type": "track", "event": "E", "anonymousId": "a"}
    assert c.handle(head("POST", "/v1/batch"), enc({"batch": [good] * 3})).status == 200
    r = c.handle(head("POST", "/v1/batch"), enc({"batch": [good] * 4}))
    assert r.status == 413
    assert "3-message limit" in r.json()["message"]
    assert persona.flush(5)
    assert capture.wait_for(3, timeout=5)
    assert len(capture.events) == 3


def test_the_rate_limit_counts_messages_not_requests(world) -> None:
    """With a bucket of 10, two batches of 8 messages cannot both pass (the second is a 429
    with Retry-After), though two requests would; a batch over the burst is a 413."""
    persona, _ = world
    clock = Clock()
    c = Collector(persona, CollectorConfig(rate_limit_per_second=1, rate_limit_burst=10),
                  clock=clock)  # fmt: skip
    good = {"type": "track", "event": "E", "anonymousId": "a"}
    assert c.handle(head("POST", "/v1/batch"), enc({"batch": [good] * 8})).status == 200
    r = c.handle(head("POST", "/v1/batch"), enc({"batch": [good] * 8}))
    assert r.status == 429, r.body
    assert dict(r.headers)["retry-after"] == "6"  # 1 token left, 7 more needed, 1 per second
    clock.now += 60  # the bucket refills
    r = c.handle(head("POST", "/v1/batch"), enc({"batch": [good] * 11}))
    assert r.status == 413
    assert "burst of 10" in r.json()["message"]


def test_a_message_id_that_cannot_be_a_header_is_refused_at_the_collector(world) -> None:
    """A batch message whose ``messageId`` holds CR/LF is refused alone with a reason naming
    ``batch[1].messageId``; its neighbours are accepted and delivered with their ids."""
    persona, capture = world
    c = Collector(persona, CollectorConfig(rate_limit_per_second=0), clock=Clock())
    good = {"type": "track", "event": "E", "anonymousId": "a"}
    batch = [{**good, "messageId": "m-1"}, {**good, "messageId": "x\r\ny"},
             {**good, "messageId": "m-3"}]  # fmt: skip
    r = c.handle(head("POST", "/v1/batch"), enc({"batch": batch}))
    assert r.status == 200, r.body
    doc = r.json()
    assert doc["accepted"] == 2
    assert doc["errors"][0]["field"] == "batch[1].messageId"
    assert persona.flush(5)
    assert capture.wait_for(2, timeout=5)
    assert sorted(e["messageId"] for e in capture.events) == ["m-1", "m-3"]
    r = c.handle(head("POST", "/v1/track"), enc({**good, "messageId": "caf\u00e9"}))
    assert r.status == 400
    assert r.json()["field"] == "messageId"
