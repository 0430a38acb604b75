"""Flows and their drivers: a source's protocol is a generator (a *flow*) that yields
``HttpCall``s, receives ``HttpReply``s and returns a ``FetchResult``; ``run_sync`` drives it with
an ``httpx.Client``, ``run_async`` with an ``httpx.AsyncClient``, both within the caller's whole
deadline (see :mod:`persona_sdk.plugins.kit._http_source`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx
import msgspec
from attrs import Factory, frozen

from .. import FetchErrorKind, FetchResult

__all__ = ["Flow", "HttpCall", "HttpReply", "run_async", "run_sync"]

_encode = msgspec.json.encode



@frozen(kw_only=True)
class HttpCall:
    """One request a flow wants made."""

    method: str
    url: str
    params: Mapping[str, str] = Factory(dict)
    headers: Mapping[str, str] = Factory(dict)
    json: Any = None


@frozen(kw_only=True)
class HttpReply:
    """What came back: status, headers (lower-case names) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


#: A source's protocol: yields calls, receives replies, returns the normalized result.
Flow = Generator[HttpCall, HttpReply, FetchResult]

def _timeout(detail: str) -> FetchResult:
    return FetchResult.failed(FetchErrorKind.TIMEOUT, detail)


def _transport_error(exc: Exception) -> FetchResult:
    if isinstance(exc, httpx.TimeoutException):
        return _timeout(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.DecodingError):
        return FetchResult.failed(FetchErrorKind.BAD_RESPONSE, f"undecodable body: {exc}")
    return FetchResult.failed(FetchErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}")


def _build(
    client: httpx.Client | httpx.AsyncClient, call: HttpCall, remaining: float
) -> httpx.Request:
    headers = dict(call.headers)
    content = None
    if call.json is not None:
        content = _encode(call.json)
        headers.setdefault("content-type", "application/json")
    return client.build_request(
        call.method,
        call.url,
        params=call.params or None,
        headers=headers,
        content=content,
        timeout=httpx.Timeout(remaining),
    )


def _step(flow: Flow, reply: HttpReply | FetchResult | None) -> HttpCall | FetchResult:
    # Advance the flow: the next call to make, or its final result (a failed exchange is it).
    if isinstance(reply, FetchResult):
        return reply
    try:
        return next(flow) if reply is None else flow.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _reply(response: httpx.Response, body: bytearray) -> HttpReply:
    return HttpReply(status=response.status_code, headers=response.headers, body=bytes(body))


def _exchange_sync(
    client: httpx.Client, call: HttpCall, deadline: float, max_body: int
) -> HttpReply | FetchResult:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return _timeout("deadline passed before the request")
    try:
        response = client.send(_build(client, call, remaining), stream=True)
        try:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_body:
                    return _too_large(max_body)
                if time.monotonic() > deadline:
                    return _timeout("deadline passed while reading the body")
        finally:
            response.close()
    except httpx.HTTPError as exc:
        return _transport_error(exc)
    return _reply(response, body)


async def _exchange_async(
    client: httpx.AsyncClient, call: HttpCall, max_body: int
) -> HttpReply | FetchResult:
    try:
        # the outer wait_for owns the deadline; this per-phase timeout is a backstop
        response = await client.send(_build(client, call, 60.0), stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_body:
                    return _too_large(max_body)
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        return _transport_error(exc)
    return _reply(response, body)


def run_sync(flow: Flow, client: httpx.Client, timeout: float, max_body: int) -> FetchResult:
    """Drive ``flow`` with a blocking client within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    try:
        step = _step(flow, None)
        while isinstance(step, HttpCall):
            step = _step(flow, _exchange_sync(client, step, deadline, max_body))
        return step
    finally:
        flow.close()


async def _run_async(flow: Flow, client: httpx.AsyncClient, max_body: int) -> FetchResult:
    try:
        step = _step(flow, None)
        while isinstance(step, HttpCall):
            step = _step(flow, await _exchange_async(client, step, max_body))
        return step
    finally:
        flow.close()


async def run_async(
    flow: Flow, client: httpx.AsyncClient, timeout: float, max_body: int
) -> FetchResult:
    """Drive ``flow`` with an async client; the whole exchange ends at ``timeout``."""
    if timeout <= 0:
        flow.close()
        return _timeout("deadline passed before the request")
    try:
        return await asyncio.wait_for(_run_async(flow, client, max_body), timeout)
    except asyncio.TimeoutError:
        return _timeout(f"no complete answer within {timeout * 1000:.0f} ms")


def _too_large(max_body: int) -> FetchResult:
    return FetchResult.failed(FetchErrorKind.BAD_RESPONSE, f"body over {max_body} bytes")
