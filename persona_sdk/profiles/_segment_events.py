"""The events the audience emits: segment changes and lifecycle transitions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..events import Message, new_message_id
from ._state import ProfileState

__all__ = ["send_segment_events", "transitions"]


def transitions(
    stages: Iterable[str], changed: Mapping[str, tuple[Any, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """The ``Lifecycle Stage Changed`` events of the lifecycle traits (``stages``) whose
    value changed: one each."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name in stages:
        move = changed.get(name)
        if move is not None and move[1] is not None:
            out.append(
                (
                    "Lifecycle Stage Changed",
                    {"trait": name, "from": move[0], "to": move[1]},
                )
            )
    return out


def send_segment_events(
    st: ProfileState,
    anonymous_id: str | None,
    user_id: str | None,
    consent: Mapping[str, bool] | None,
    *,
    entered: Iterable[str],
    exited: Iterable[str],
    extra: Iterable[tuple[str, dict[str, Any]]] = (),
) -> None:
    """Emit ``Segment Exited``/``Segment Entered`` for ``exited``/``entered`` and the
    ``extra`` events, with the visitor's ids and consent, through the state's ``emit``
    (never raising: a closed or failing tag layer never breaks the caller)."""
    if st.emit is None or not st.settings.cfg.segment_events:
        return
    context: dict[str, Any] = {}
    if consent is not None:
        context["consent"] = {"categoryPreferences": dict(consent)}
    events: list[tuple[str, dict[str, Any]]] = []
    for event, names in (("Segment Exited", exited), ("Segment Entered", entered)):
        for name in sorted(names):
            events.append((event, {"segment_id": name, "segment_name": name}))
    events.extend(extra)
    for event, props in events:
        msg = Message(
            type="track",
            message_id=new_message_id(),
            anonymous_id=anonymous_id,
            user_id=user_id,
            event=event,
            properties=props,
            context=dict(context),
            timestamp=st.clock(),
        )
        try:
            st.emit(msg)
        except Exception:
            continue  # a closed or failing tag layer never breaks the caller
        with st.lock:
            st.n["segment_events"] += 1
