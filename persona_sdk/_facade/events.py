"""The facade's event API besides ``track``: ``identify``, ``page``, ``screen``, ``group``,
``alias``, and ``ingest`` (Segment-shaped payloads, and the collector's batch path)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._errors import EventValidationError
from ..events import (
    IngestResult,
    Message,
    check_finite,
    check_integrations,
    check_message,
    coerce_id,
    decode_checked,
    decode_messages,
    new_message_id,
    to_epoch,
)
from .core import Core

__all__ = ["EventsApi"]


class EventsApi(Core):
    """``Persona``'s event methods (``track``, the hot path, is in ``client``)."""

    def _message(
        self,
        type_: str,
        *,
        anonymous_id: str | None,
        user_id: str | None,
        context: Mapping[str, Any] | None,
        consent: Mapping[str, bool] | None,
        timestamp: float | datetime | str | None,
        message_id: str | None,
        integrations: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Message:
        if anonymous_id is not None and anonymous_id.__class__ is not str:
            anonymous_id = coerce_id("anonymousId", anonymous_id)
        if user_id is not None and user_id.__class__ is not str:
            user_id = coerce_id("userId", user_id)
        for key, name in (("group_id", "groupId"), ("previous_id", "previousId")):
            value = fields.get(key)
            if value is not None and value.__class__ is not str:
                fields[key] = coerce_id(name, value)
        if integrations is not None:
            fields["integrations"] = check_integrations(integrations)
        ctx: dict[str, Any] = dict(context) if context else {}
        check_finite(ctx, "context")
        for name in ("properties", "traits"):
            check_finite(fields.get(name), name)
        if consent is not None:
            ctx["consent"] = {"categoryPreferences": dict(consent)}
        msg = Message(
            type=type_,
            message_id=message_id or new_message_id(),
            anonymous_id=anonymous_id,
            user_id=user_id,
            context=ctx,
            timestamp=self._clock() if timestamp is None else to_epoch(timestamp),
            **fields,
        )
        check_message(msg)
        return msg

    def identify(
        self,
        user_id: str | None = None,
        *,
        traits: Mapping[str, Any] | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Tie a user id to traits (and to ``anonymous_id``, stitching identities)."""
        msg = self._message(
            "identify", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            traits=dict(traits) if traits else {},
        )
        return self._emit(msg)

    def page(
        self,
        name: str | None = None,
        *,
        category: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a page view."""
        msg = self._message(
            "page", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            name=name, category=category, properties=dict(properties) if properties else {},
        )
        return self._emit(msg)

    def screen(
        self,
        name: str | None = None,
        *,
        category: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a mobile screen view."""
        msg = self._message(
            "screen", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            name=name, category=category, properties=dict(properties) if properties else {},
        )
        return self._emit(msg)

    def group(
        self,
        group_id: str,
        *,
        traits: Mapping[str, Any] | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Associate the visitor with a group (company, account)."""
        msg = self._message(
            "group", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            group_id=group_id, traits=dict(traits) if traits else {},
        )
        return self._emit(msg)

    def alias(
        self,
        user_id: str,
        *,
        previous_id: str,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Merge ``previous_id`` into ``user_id``."""
        msg = self._message(
            "alias", anonymous_id=None, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            previous_id=previous_id,
        )
        return self._emit(msg)

    def ingest(
        self, payload: bytes | Mapping[str, Any], *, received_at: float | None = None
    ) -> list[IngestResult]:
        """Take one Segment-shaped message or a ``{"batch": [...]}`` envelope.

        Returns one result per message; a bad message is reported, never spoils the rest.
        Raises ``EventValidationError`` when the payload as a whole is unreadable.
        """
        self._check_open()
        messages, results = decode_messages(
            payload, received_at=self._clock() if received_at is None else received_at
        )
        for i, msg in enumerate(messages):
            if msg is None:
                continue
            try:
                self._emit(msg)
            except EventValidationError as exc:  # refused by the tracking plan
                results[i] = IngestResult(index=results[i].index, ok=False, error=str(exc))
        return results

    def _ingest_batch(
        self, items: list[Any], received_at: float, oversized: Mapping[int, int]
    ) -> tuple[int, list[tuple[int, str]]]:
        # The collector's batch path (``ports.ingest_batch``): the messages were decoded,
        # depth- and duplicate-checked and sized by the collector (events.decode_checked).
        # Returns how many were accepted and the errors of the others.
        self._check_open()
        messages, errors = decode_checked(items, received_at, oversized)
        emit = self._emit
        if not self._runtime.plan.active:
            for msg in messages:
                emit(msg)
            return len(messages), errors
        # the decoded messages are the items without an error, in order
        refused = {index for index, _ in errors}
        indices = (i for i in range(len(items)) if i not in refused)
        accepted = 0
        for index, msg in zip(indices, messages, strict=False):
            try:
                emit(msg)
                accepted += 1
            except EventValidationError as exc:  # refused by the tracking plan
                errors.append((index, str(exc)))
        errors.sort()
        return accepted, errors
