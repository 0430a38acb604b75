"""Background threads in a forked worker (gunicorn ``--preload``): the flag feed, the content
feed poller and the actions timer each run again in the child, which picks up changes served
by a loopback server after the fork. The child reports through its exit status (and writes
what went wrong to stderr)."""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from servers.growthbook_api import GrowthBookApi
from servers.sink import Reply, Request, Sink

import persona_sdk as ps

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.slow,
]


def _until(pred: Callable[[], bool], timeout: float = 20.0) -> bool:
    wait = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if pred():
            return True
        wait.wait(0.01)
    return bool(pred())


def _in_child(check: Callable[[], None], after_fork_in_parent: Callable[[], None]) -> None:
    """Fork; the child runs ``check`` (an assertion failure exits 1), the parent runs
    ``after_fork_in_parent`` (the change the child must pick up) and waits for the child."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            check()
            code = 0
        except BaseException:
            traceback.print_exc(file=sys.stderr)
        finally:
            os._exit(code)
    after_fork_in_parent()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _threads(name: str) -> int:
    return sum(t.name == name and t.is_alive() for t in threading.enumerate())


def test_the_flag_feed_polls_again_in_a_forked_child() -> None:
    """A child's flag feed has its own thread and sees a payload published after the fork."""
    api = GrowthBookApi({"features": {"hero": {"defaultValue": "v1"}}})
    persona = ps.Persona.from_growthbook(api_host=api.url, client_key=api.client_key,
                                         poll_interval=0.02)
    try:
        assert persona.wait_until_ready(10)

        def child() -> None:
            assert _threads("persona-flags") == 1
            assert _until(lambda: persona.visitor(anonymous_id="a").feature("hero").value
                          == "v2")

        _in_child(child, lambda: api.set_payload({"features": {"hero": {"defaultValue": "v2"}}}))
    finally:
        persona.close()
        api.close()


class _Feed:
    def __init__(self, sink: Sink) -> None:
        self.body, self.etag = b'[{"id": "p1", "type": "promo"}]', '"v1"'
        sink.responder = self._respond

    def _respond(self, request: Request) -> Reply | None:
        if request.headers.get("if-none-match") == self.etag:
            return Reply(status=304, body=b"")
        return Reply(status=200, body=self.body, headers={"ETag": self.etag})


def test_the_content_feed_poller_polls_again_in_a_forked_child(sink: Sink) -> None:
    """A poller running in the parent runs again in the child (its own thread, its own
    connections), which then serves an item published after the fork."""
    feed = _Feed(sink)
    persona = ps.Persona({
        "placements": {"promo": {"strategy": "first_match", "select": {"type": "promo"}}},
        "content_sources": {"cms": {"url": f"{sink.url}/f", "interval": 0.02}},
    })

    def decide() -> list[str]:
        return persona.visitor(anonymous_id="v").decide("promo").ids()

    try:
        decide()  # the first decision starts the poller
        assert _until(lambda: decide() == ["p1"])

        def child() -> None:
            assert _threads("persona-content-feeds") == 1
            assert _until(lambda: decide() == ["p2"])

        def publish() -> None:
            feed.body, feed.etag = b'[{"id": "p2", "type": "promo"}]', '"v2"'

        _in_child(child, publish)
    finally:
        persona.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_actions_timer_runs_again_in_a_forked_child(sink: Sink) -> None:
    """The child's first scheduled action starts its own timer thread, which fires it (sent
    to the loopback webhook); what the parent scheduled stays the parent's."""
    clock = _Clock()
    action = {"name": "cart", "on": "Product Added", "after": "30m", "emit": "Cart Abandoned"}
    persona = ps.Persona({
        "destinations": {"crm": {"type": "http", "options": {"url": f"{sink.url}/hook"}}},
        "tags": [{"name": "crm", "destination": "crm",
                  "trigger": {"event": "Cart Abandoned"}}],
        "actions": [action],
    }, clock=clock)

    def counts() -> dict[str, Any]:
        return persona.stats()["actions"]  # type: ignore[no-any-return]

    try:
        persona.track("Product Added", anonymous_id="parent")  # starts the parent's timer
        assert _threads("persona-actions") == 1

        def child() -> None:
            assert counts()["pending"] == 0  # the parent's scheduled action is not here
            persona.track("Product Added", anonymous_id="child")
            assert _threads("persona-actions") == 1
            clock.now += 1800
            assert _until(lambda: counts()["actions"]["cart"]["fired"] == 1)
            assert persona.flush(10)

        _in_child(child, lambda: None)
        assert sink.wait_for(lambda s: any(b"child" in r.body for r in s.requests),
                             timeout=20)
        assert not any(b"parent" in r.body for r in sink.requests)
    finally:
        persona.close()


def test_the_segment_sweep_runs_again_in_a_forked_child() -> None:
    """The periodic segment sweep (armed on the parent's profile I/O thread) is armed again
    in the child, which then finds a time-dependent segment change on its own."""
    from persona_sdk.testing import CaptureDestination

    clock = _Clock()
    capture = CaptureDestination()
    persona = ps.Persona({
        "tags": [{"name": "all", "destination": "capture"}],
        "computed_traits": {"last_seen": {"kind": "last_seen"}},
        "segments": {"lapsed": {"condition": {"last_seen": {"$olderThan": "1d"}}}},
        "profiles": {"segment_sweep_interval": 0.02},
    }, destinations={"capture": capture}, clock=clock)

    def entered(who: str) -> bool:
        return any(e["event"] == "Segment Entered" and e["anonymousId"] == who
                   for e in capture.events)

    try:
        persona.track("Product Viewed", anonymous_id="parent")  # arms the parent's sweep

        def child() -> None:
            persona.track("Product Viewed", anonymous_id="child")
            clock.now += 2 * 86400
            assert _until(lambda: persona.flush(1) and entered("child"))

        _in_child(child, lambda: None)
    finally:
        persona.close()
