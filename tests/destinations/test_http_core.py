"""The shared HTTP core: status classification, Retry-After, network errors."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import httpx
import pytest
from servers.sink import Reply, Sink

from persona_sdk.plugins import SendOutcome
from persona_sdk.plugins.kit import (
    HttpRequest,
    chunk_by_size,
    classify_status,
    parse_retry_after,
    perform,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, SendOutcome.DELIVERED), (202, SendOutcome.DELIVERED),
        (408, SendOutcome.RETRY), (429, SendOutcome.RETRY), (500, SendOutcome.RETRY),
        (503, SendOutcome.RETRY), (400, SendOutcome.DEAD), (401, SendOutcome.DEAD),
        (404, SendOutcome.DEAD), (413, SendOutcome.DEAD), (301, SendOutcome.DEAD),
    ],
)  # fmt: skip
def test_status_policy(status: int, outcome: SendOutcome) -> None:
    """2xx delivered; 408, 429, 5xx retried; any other status dead."""
    result = classify_status(status, {}, b"oops", now=NOW)
    assert result.outcome is outcome
    assert result.status == status


def test_retry_after_seconds_and_http_dates() -> None:
    """Retry-After is read as seconds or as an HTTP date relative to now; never negative."""
    date = format_datetime(datetime.fromtimestamp(NOW + 30, tz=timezone.utc), usegmt=True)
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("1.5", NOW) == 1.5
    assert parse_retry_after(date, NOW) == pytest.approx(30.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("nan", NOW) is None
    assert parse_retry_after(None, NOW) is None
    r = classify_status(429, {"retry-after": "12"}, now=NOW)
    assert r.outcome is SendOutcome.RETRY
    assert r.retry_after == 12.0


def test_chunking_by_bytes_and_count() -> None:
    """Chunks respect both the byte budget (with the envelope) and the item count; an
    oversized item goes alone."""
    items = [b"x" * 10] * 7
    chunks = chunk_by_size(items, max_bytes=40, max_items=5, overhead=5)
    assert [len(c) for c in chunks] == [3, 3, 1]
    by_count = chunk_by_size(items, max_bytes=10**6, max_items=5, overhead=0)
    assert [len(c) for c in by_count] == [5, 2]
    assert [len(c) for c in chunk_by_size([b"y" * 100, b"z"], max_bytes=50, max_items=9,
                                         overhead=0)] == [1, 1]  # fmt: skip


async def test_statuses_and_retry_after_from_a_real_server(sink: Sink) -> None:
    """Against the loopback sink: 503 with Retry-After retries, 400 is dead, 200 ok; the
    first failure stops the remaining requests."""
    sink.reply_with(Reply(status=503, retry_after=3), Reply(status=400, body=b'{"e":1}'))
    reqs = [HttpRequest(url=f"{sink.url}/r{i}", content=b"{}") for i in range(3)]
    async with httpx.AsyncClient() as client:
        first = await perform(client, reqs, timeout=5, classify=_classify)
        second = await perform(client, reqs, timeout=5, classify=_classify)
        third = await perform(client, reqs, timeout=5, classify=_classify)
    assert (first.outcome, first.status, first.retry_after) == (SendOutcome.RETRY, 503, 3.0)
    assert (second.outcome, second.status) == (SendOutcome.DEAD, 400)
    assert '{"e":1}' in second.detail
    assert third.outcome is SendOutcome.DELIVERED
    assert [r.path for r in sink.requests] == ["/r0", "/r0", "/r0", "/r1", "/r2"]


async def test_connection_reset_is_retried(sink: Sink) -> None:
    """A connection reset by the server is a transient failure."""
    sink.reply_with(Reply(reset=True))
    async with httpx.AsyncClient() as client:
        result = await perform(
            client, [HttpRequest(url=sink.url, content=b"{}")], timeout=5, classify=_classify
        )
    assert result.outcome is SendOutcome.RETRY


async def test_network_errors_without_a_server() -> None:
    """Refused connections and timeouts retry; an unusable URL is dead (mock transport:
    error paths only)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler in (refuse, slow):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            r = await perform(client, [HttpRequest(url="http://x.test/", content=b"")],
                              timeout=1, classify=_classify)  # fmt: skip
        assert r.outcome is SendOutcome.RETRY
    async with httpx.AsyncClient() as client:
        r = await perform(client, [HttpRequest(url="ftp://x.test/", content=b"")], timeout=1,
                          classify=_classify)  # fmt: skip
    assert r.outcome is SendOutcome.DEAD


def _classify(status: int, headers: object, body: bytes) -> object:
    return classify_status(status, headers, body)  # type: ignore[arg-type]


def test_one_retry_after_parser_serves_delivery_and_profiles() -> None:
    """Delivery and the profile sources share one ``parse_retry_after`` (no drifted copies)."""
    from persona_sdk.plugins.kit import _http_source

    assert parse_retry_after is _http_source.parse_retry_after


@pytest.mark.parametrize("header", ["inf", "-inf", "Infinity", "nan", "NaN", "-5", "1e400"])
def test_retry_after_refuses_infinite_nan_and_negative(header: str) -> None:
    """``inf``, ``nan`` and negative delays are not honoured (``None``): a server cannot
    stop delivery or remote profiles for the life of the process."""
    assert parse_retry_after(header, NOW) is None


def test_retry_after_is_capped() -> None:
    """A finite but huge delay (seconds or a far HTTP date) is capped, 300 s by default."""
    assert parse_retry_after("100000", NOW) == 300.0
    assert parse_retry_after("100000", NOW, cap=60.0) == 60.0
    assert parse_retry_after("Fri, 01 Jan 9999 00:00:00 GMT", NOW) == 300.0
    assert parse_retry_after(" 12 ", NOW) == 12.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (float("nan"), None), (float("inf"), None), (float("-inf"), None),
     (-1.0, None), (0.0, 0.0), (7.5, 7.5), (1e9, 300.0)],
)
def test_a_plugins_delay_is_checked_like_a_header(value: float | None,
                                                  expected: float | None) -> None:
    """``bounded_delay`` (what ``parse_retry_after`` ends with) checks a delay a plugin hands
    over; delivery's backoff uses it, so a ``nan``/``inf``/negative ``SendResult.retry_after``
    falls back to the jittered backoff and a huge one waits at most the cap."""
    from persona_sdk._retry_after import bounded_delay
    from persona_sdk.delivery._retry import Backoff

    assert bounded_delay(value) == expected
    backoff = Backoff(0.5, 60.0, rng=lambda: 1.0)
    assert backoff.delay(2, retry_after=value) == (1.0 if expected is None
                                                   else min(expected, 60.0))
