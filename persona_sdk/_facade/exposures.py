"""How a persona's visitors log exposures: ``_expose`` (the visitor's ``Exposer``) hands the
event over without building a message when nothing on the caller's thread needs one, and
``deferred_track`` builds it on the delivery thread."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..events import Message, new_message_id
from .core import Core

if TYPE_CHECKING:
    from .._ports import Tracker

__all__ = ["ExposuresApi", "deferred_track"]


class ExposuresApi(Core):
    """``Persona``'s exposure path (its ``track`` is in ``client``)."""

    #: ``track``, bound once: the exposures that need the full path go through it
    _tracker: Tracker
    #: the sync spool writes each event before the caller returns: no deferring
    _sync_spool: bool
    #: the delivery intake's ``submit`` and ``enqueue``, bound once
    _submit: Callable[..., Any]
    _enqueue: Callable[..., Any]

    def _expose(  # noqa: PLR0917 - the visitor's Exposer
        self,
        event: str,
        anonymous_id: str | None,
        user_id: str | None,
        properties: Mapping[str, Any],
        consent: Mapping[str, bool] | None,
        gpc: bool,
    ) -> None:
        # An exposure from one of this persona's visitors: its properties come from the
        # container and its ids from the visitor, so when nothing on this thread needs the
        # message (no tracking plan, no observer of track events, not the sync spool), the
        # caller only appends and the delivery thread builds the message (deferred_track).
        runtime = self._runtime
        if (
            self._closed
            or self._sync_spool
            or runtime.plan.active
            or "track" in self._profiles.observes
            or event in runtime.watched
            or not event
            or not (anonymous_id or user_id)
            or (anonymous_id is not None and anonymous_id.__class__ is not str)
            or (user_id is not None and user_id.__class__ is not str)
        ):
            self._tracker.track(
                event, anonymous_id=anonymous_id, user_id=user_id, properties=properties,
                consent=consent, context={"gpc": True} if gpc else None,
            )
            return
        # the intake's contract: a router gets what was submitted with it (here not a
        # message: what to build one from) and returns the routes to queue it on
        submit: Any = self._submit
        submit(
            (event, anonymous_id, user_id, properties, consent, gpc, self._clock(),
             runtime.route, self._enqueue),
            deferred_track,
        )


def deferred_track(args: tuple[Any, ...]) -> tuple[()]:
    """The intake's router for an exposure (``ExposuresApi._expose``), on the delivery
    thread: build the message ``track`` would have built, route it, queue it for its
    destinations."""
    event, anonymous_id, user_id, properties, consent, gpc, timestamp, route, enqueue = args
    context: dict[str, Any] = {"gpc": True} if gpc else {}
    if consent is not None:
        context["consent"] = {"categoryPreferences": dict(consent)}
    msg = Message(
        type="track",
        message_id=new_message_id(),
        anonymous_id=anonymous_id,
        user_id=user_id,
        event=event,
        properties=dict(properties),
        context=context,
        timestamp=timestamp,
    )
    for destination, render in route(msg):
        enqueue(destination, msg, render)
    return ()
