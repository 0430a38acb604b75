"""The drivers of a lookup ``plan``: each runs its operations with one kind of I/O.

``drive_async`` on the resolver's I/O loop (``aget``), ``drive_sync`` inline (``get``, for
in-process sources), ``drive_store_sync`` the store reads alone on the caller's thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from ._log import errors
from ._lookup import STORE_FAILED, Fetch, Outcome, Plan, PlanContext, StoreGet
from ._types import FetchErrorKind, FetchResult

__all__ = ["drive_async", "drive_store_sync", "drive_sync", "fields_blob"]


def _many_reply(got: Any, fields_at: int) -> tuple[Any, ...]:
    # a store's ``get_many`` answers the hash at ``fields_at`` with its fields
    return tuple(
        fields_blob(v or {}) if i == fields_at else v for i, v in enumerate(got)
    )


def fields_blob(fields: Mapping[str, bytes]) -> bytes | None:
    """A hash's fields (each a JSON value) as one JSON object; None when there are none."""
    if not fields:
        return None
    return b"{%s}" % b",".join(
        msgspec.json.encode(str(k)) + b":" + bytes(v) for k, v in fields.items()
    )


def _internal(exc: BaseException) -> FetchResult:
    detail = f"{type(exc).__name__}: {exc}"
    errors("internal", f"the profile source raised (a fallback profile is used): {detail}", exc)
    return FetchResult.failed(FetchErrorKind.INTERNAL, detail)


async def drive_async(gen: Plan, ctx: PlanContext) -> Outcome:
    """Run ``gen`` on the running loop with the async methods of source and store."""
    reply: Any = None
    try:
        while True:
            op = gen.send(reply)
            if isinstance(op, Fetch):
                assert ctx.source is not None
                start = time.monotonic()
                try:
                    result = await asyncio.wait_for(
                        ctx.source.aget(op.profile_id, id_type=op.id_type, timeout=op.timeout),
                        op.timeout,
                    )
                except asyncio.TimeoutError:
                    result = FetchResult.failed(FetchErrorKind.TIMEOUT, "deadline passed")
                except Exception as exc:
                    result = _internal(exc)
                reply = (result, time.monotonic() - start)
            elif isinstance(op, StoreGet):
                assert ctx.store is not None
                many = getattr(ctx.store, "aget_many", None)
                if many is not None:
                    try:
                        got = await asyncio.wait_for(many(op.keys, op.fields_at), op.timeout)
                        reply = _many_reply(got, op.fields_at)
                    except Exception:
                        reply = (STORE_FAILED,) * len(op.keys)  # misses, counted
                    continue
                values: list[bytes | None] = []
                for i, k in enumerate(op.keys):
                    try:
                        if i == op.fields_at:
                            fields = await asyncio.wait_for(
                                ctx.store.aget_fields(k),  # type: ignore[attr-defined]
                                op.timeout,
                            )
                            values.append(fields_blob(fields))
                        else:
                            values.append(await asyncio.wait_for(ctx.store.aget(k), op.timeout))
                    except Exception:
                        values.append(STORE_FAILED)  # a miss, counted
                reply = tuple(values)
            else:
                await asyncio.sleep(op.seconds)
                reply = None
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        gen.close()


def drive_store_sync(gen: Plan, ctx: PlanContext) -> Outcome | None:
    """Run ``gen``'s store reads on this thread (``get_many``: one round trip each); the
    outcome when it needs nothing else, None (and ``gen`` closed) when it would call the
    source or sleep: the caller then starts a flight, which reads the store again."""
    reply: Any = None
    many = ctx.store.get_many  # type: ignore[union-attr]
    try:
        while True:
            op = gen.send(reply)
            if not isinstance(op, StoreGet):
                return None
            try:
                reply = _many_reply(many(op.keys, op.fields_at), op.fields_at)
            except Exception:
                reply = (STORE_FAILED,) * len(op.keys)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        gen.close()


def drive_sync(gen: Plan, ctx: PlanContext) -> Outcome:
    """Run ``gen`` on this thread with the blocking methods of source and store."""
    reply: Any = None
    try:
        while True:
            op = gen.send(reply)
            if isinstance(op, Fetch):
                assert ctx.source is not None
                start = time.monotonic()
                try:
                    result = ctx.source.get(op.profile_id, id_type=op.id_type, timeout=op.timeout)
                except Exception as exc:
                    result = _internal(exc)
                reply = (result, time.monotonic() - start)
            elif isinstance(op, StoreGet):
                assert ctx.store is not None
                many = getattr(ctx.store, "get_many", None)
                if many is not None:
                    try:
                        reply = _many_reply(many(op.keys, op.fields_at), op.fields_at)
                    except Exception:
                        reply = (STORE_FAILED,) * len(op.keys)
                    continue
                values: list[bytes | None] = []
                for i, k in enumerate(op.keys):
                    try:
                        if i == op.fields_at:
                            values.append(fields_blob(ctx.store.get_fields(k)))  # type: ignore[attr-defined]
                        else:
                            values.append(ctx.store.get(k))
                    except Exception:
                        values.append(STORE_FAILED)
                reply = tuple(values)
            else:
                time.sleep(op.seconds)  # bounded by the deadline, see plan()
                reply = None
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        gen.close()
