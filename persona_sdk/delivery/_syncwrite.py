"""``sync`` spool mode: events are rendered, encoded and written to the spool by the caller.

``Delivery`` in ``sync`` mode takes ``submit`` and ``enqueue`` from a ``SyncWriter``: every
event is on disk (and survives ``kill -9``) before ``track`` returns; the spool is the buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from .._errors import SpoolError, SpoolFullError
from .._logonce import LogOnce
from ..events import MAX_EVENT_BYTES, UnencodableEvent
from ._outbox import Item, Outbox, Render, RouteFn
from ._process import install_process_hooks
from ._state import DeliveryState

if TYPE_CHECKING:
    from ..events import Message

__all__ = ["SyncWriter"]


class SyncWriter:
    """``submit`` and ``enqueue`` of a ``Delivery`` in ``sync`` spool mode.

    Args:
        state: the delivery's shared state (spool, settings, ``note_rejected``).
        outbox: the outbox accepting events for a destination, or None.
        unrouted: counts an event for a destination that takes none.
        route_failed: counts a routing (trigger) failure.
        wake: wakes an outbox's pump on the delivery thread.
        errors: logs each kind of error once.
    """

    def __init__(  # noqa: PLR0917 - wired in one place
        self,
        state: DeliveryState,
        outbox: Callable[[str], Outbox | None],
        unrouted: Callable[[str], None],
        route_failed: Callable[[BaseException], None],
        wake: Callable[[Outbox], None],
        errors: LogOnce,
    ) -> None:
        self._state = state
        self._outbox = outbox
        self._unrouted = unrouted
        self._route_failed = route_failed
        self._wake = wake
        self._errors = errors

    def submit(self, msg: Message, route: RouteFn) -> None:
        """``Delivery.submit`` in sync mode: route and write now."""
        # the spool is the buffer. Refuse when it is full, before anything is
        # written; raise when a row could not be written, after trying every destination.
        spool = self._state.spool
        assert spool is not None
        try:
            if not spool.is_open:
                install_process_hooks()  # a fork must wait for this thread's writes
                spool.open()
            room = spool.has_room(self._state.settings.spool_max_bytes)
        except Exception as exc:
            raise SpoolError(f"the spool {spool.path} cannot be used: {exc}") from exc
        if not room:
            raise SpoolFullError(
                f"the spool {spool.path} is full (delivery.spool_max_bytes = "
                f"{self._state.settings.spool_max_bytes}); the event was not accepted"
            )
        try:
            routes = list(route(msg))
        except Exception as exc:
            self._route_failed(exc)
            return
        failed: SpoolError | None = None
        for destination, render in routes:
            try:
                self.enqueue(destination, msg, render)
            except SpoolError as exc:
                failed = exc
        if failed is not None:
            raise failed

    def enqueue(self, destination: str, msg: Message, render: Render) -> None:
        """``Delivery.enqueue`` in sync mode: written to the spool before returning."""
        # long: track's per-event path in sync mode, one body; only rejections call out
        # render, encode and commit before returning (survives kill -9). The
        # row is written under the outbox lock, so that what is on disk only (the memory
        # queue was full) is exactly this destination's rows above ``disk_after``.
        box = self._outbox(destination)
        if box is None:
            self._unrouted(destination)
            return
        try:
            doc = render(msg)
        except Exception as exc:
            reason = "encode_error" if isinstance(exc, UnencodableEvent) else "render_error"
            self._reject(box, reason, msg, exc, 0)
            return
        if doc is None:
            box.end_on_caller(box.rejected, "skipped")
            return
        if doc.__class__ is bytes:  # already encoded (and shared between destinations)
            data: bytes = doc
        else:
            try:
                data = msgspec.json.encode(doc)
            except (TypeError, ValueError, OverflowError) as exc:
                self._reject(box, "encode_error", msg, exc, 0)
                return
        if len(data) > MAX_EVENT_BYTES:
            self._reject(box, "too_large", msg, None, len(data))
            return
        item = Item(data, msg.message_id, msg.user_id, msg.anonymous_id)
        spool = self._state.spool
        assert spool is not None
        wake = False
        failed: Exception | None = None
        with box.lock:
            try:
                if not spool.is_open:
                    install_process_hooks()  # a fork must wait for this thread's writes
                    spool.open()
                rowid = spool.insert(destination, item)
            except Exception as exc:
                # the disk failed: keep the event in memory, and say no (no id returned)
                box.last_error = f"spool insert failed: {type(exc).__name__}: {exc}"
                box.inbox.append(item)
                failed = exc
            else:
                item.rowid = rowid
                if box.disk_only or len(box.inbox) + box.held >= box.max_events or (
                        box.held_bytes >= box.max_bytes):
                    # the memory queue is full: the row waits on disk only, and is loaded
                    # when the queue has room again (the spool is the buffer)
                    if not box.disk_only:
                        box.disk_after = max(box.last_rowid, spool.restore_max)
                        wake = True
                    box.disk_only += 1
                    box.entered += 1
                else:
                    box.inbox.append(item)
                    box.inbox_spooled += 1
                    box.last_rowid = rowid
        if failed is not None:
            self._insert_failed(box, destination, failed)
        if wake or len(box.inbox) > box.wake_n:
            self._wake(box)

    def _reject(self, box: Outbox, reason: str, msg: Message, exc: BaseException | None,
                size: int) -> None:
        # the error paths only: the accepted event's path makes no extra call
        box.end_on_caller(box.rejected, reason)
        self._state.note_rejected(box, reason, msg, exc, size)

    def _insert_failed(self, box: Outbox, destination: str, failed: Exception) -> None:
        self._errors(f"spool_insert:{box.name}",
                     f"destination {box.name!r}: {box.last_error}", failed)
        raise SpoolError(
            f"destination {destination!r}: the event could not be written to the spool "
            f"({type(failed).__name__}: {failed}); it is queued in memory only"
        ) from failed
