"""Drivers of a visitor's sans-I/O flow: the same generator is run against a sticky-bucket
store's sync form (``drive``) or its async form (``adrive``).

The flow yields ``(LOAD, {attribute: value})`` and ``(SAVE, [documents])``; a driver answers
with the loaded documents / True, or None when the store failed (the visitor then decides by
hashing alone and says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from typing import Any, TypeVar

from ..allocation import StickyAssignments

__all__ = ["LOAD", "SAVE", "Flow", "adrive", "drive"]

R = TypeVar("R")
LOAD, SAVE = "load", "save"
#: A decision flow: yields I/O requests, receives their answers, returns the decision.
Flow = Generator[tuple[str, Any], Any, R]


def drive(store: Any, flow: Flow[R]) -> R:
    """Run ``flow`` against the store's sync form (``load``/``save``)."""
    answer: Any = None
    try:
        while True:
            op, arg = flow.send(answer)
            answer = None
            try:
                if op == LOAD:
                    answer = store.load(arg)
                else:
                    for doc in arg:
                        store.save(doc)
                    answer = True
            except Exception:  # a failing (or async-only) store degrades to hashing
                answer = None
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(store: Any, flow: Flow[R]) -> R:
    """Run ``flow`` against the store's async form, or its sync form in a worker thread
    (so a blocking store never stalls the event loop)."""
    answer: Any = None
    try:
        while True:
            op, arg = flow.send(answer)
            try:
                answer = await (_aload(store, arg) if op == LOAD else _asave(store, arg))
            except Exception:
                answer = None
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _aload(store: Any, ids: dict[str, str]) -> Mapping[str, StickyAssignments]:
    if hasattr(store, "aload"):
        return await store.aload(ids)  # type: ignore[no-any-return]
    return await asyncio.to_thread(store.load, ids)


async def _asave(store: Any, docs: list[StickyAssignments]) -> bool:
    for doc in docs:
        if hasattr(store, "asave"):
            await store.asave(doc)
        else:
            await asyncio.to_thread(store.save, doc)
    return True
