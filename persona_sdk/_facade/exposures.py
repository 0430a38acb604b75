"""How a persona's visitors log exposures: through its ``ExposureLane`` (the visitors'
``Exposer``). When nothing on the caller's thread needs the exposure (no tracking plan, no
observer of track events, no ``on_exposure`` hook, no shared dedup store, not the sync
spool), the caller only appends it; the delivery thread deduplicates it, builds the message
and routes it (``ExposureLane.deliver``). Otherwise ``_expose`` takes it, deduplicated."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from ..events import Message, new_message_id
from .core import Core

if TYPE_CHECKING:
    from .._ports import Tracker
    from ..decisions import HookSet
    from .runtime import Runtime

__all__ = ["ExposureLane", "ExposuresApi", "deferred_track"]


class ExposureLane:
    """A persona's exposure path, as its visitors see it (``decisions.Exposer``).

    ``engine`` is the engine of the runtime in force while its exposures may be handed over
    as they are, else None (``update`` sets it on every swap of runtime, and on close):
    a visitor of that engine calls ``submit((router, ...))`` with what the message is built
    from (the delivery intake's ``submit_item``: one tuple, its own message), and
    ``deliver`` (``router``, on the delivery thread) deduplicates it in the
    persona's ``HookSet`` and routes the message ``track`` would have built. Any other
    visitor calls ``expose`` (the full path) with an exposure it deduplicated itself.
    """

    __slots__ = (
        "_enqueue", "_hooks", "clock", "delivery", "engine", "expose", "router", "submit",
        "visitor",
    )

    def __init__(
        self,
        *,
        delivery: Any,
        enqueue: Callable[..., Any],
        hooks: HookSet,
        clock: Callable[[], float],
        expose: Callable[..., None],
    ) -> None:
        self._enqueue = enqueue
        self._hooks = hooks
        self.clock = clock
        #: the full path (``ExposuresApi._expose``)
        self.expose = expose
        #: the ``Delivery`` whose intake takes handed-over exposures: ``submit((router,
        #: ...))`` is its ``submit_item``; the generated features make the same append
        #: without its frame (``decisions._fastpath._PICK``)
        self.delivery = delivery
        self.submit = delivery.submit_item
        #: ``deliver`` with the runtime's exposure event and route bound (``update``)
        self.router: Any = None
        self.engine: Any = None
        #: the persona's visitor builder in force (``decisions.InForce``: a builder kept
        #: across a reload hands over to it); set by ``Persona._follow_runtime``
        self.visitor: Any = None

    def update(self, runtime: Runtime | None, *, fast: bool) -> None:
        """Follow the runtime in force (``None``: closed); ``fast`` says whether the
        persona allows handing over as it is (no sync spool, no hook, no shared dedup)."""
        if runtime is None:
            self.engine = None
            return
        # what every exposure of this runtime's visitors shares, bound once in the router.
        # A visitor reads the router, then checks the engine: with the engine unset while
        # the router changes, no visitor pairs one runtime's engine with the other's router.
        self.engine = None
        self.router = partial(self.deliver, runtime.engine.exposure_event, runtime.route)
        self.engine = runtime.engine if fast and runtime.hand_exposures else None

    def deliver(self, event: str, route: Any, item: tuple[Any, ...]) -> tuple[()]:
        """On the delivery thread: deduplicate a handed-over exposure, then build, route
        and queue the message ``track`` would have built (``event`` and ``route``: the
        runtime's, bound in ``router``)."""
        # the router (this method), then what the visitor handed over (VisitorState._exposed)
        _, user_id, anonymous_id, consent, gpc, exp, variation, attr, timestamp = item
        key = exp.key
        if not self._hooks.admit(
            (user_id, anonymous_id, key, variation), user_id or anonymous_id, key, variation
        ):
            return ()  # logged before
        props = exp.exposure_properties(variation, attr)
        return deferred_track(
            (event, anonymous_id, user_id, props, consent, gpc, timestamp, route, self._enqueue)
        )


class ExposuresApi(Core):
    """``Persona``'s exposure path (its ``track`` is in ``client``)."""

    #: ``track``, bound once: the exposures that need the full path go through it
    _tracker: Tracker
    #: the delivery intake's ``submit`` and ``enqueue``, bound once
    _submit: Callable[..., Any]
    _enqueue: Callable[..., Any]

    def _new_lane(self) -> None:
        self._exposer = ExposureLane(
            delivery=self._delivery, enqueue=self._enqueue, hooks=self._hooks,
            clock=self._clock, expose=self._expose,
        )
        self._follow_runtime()

    def _expose(  # noqa: PLR0917 - the visitor's Exposer
        self,
        event: str,
        anonymous_id: str | None,
        user_id: str | None,
        properties: Mapping[str, Any],
        consent: Mapping[str, bool] | None,
        gpc: bool,
    ) -> None:
        # An exposure from one of this persona's visitors, deduplicated: its properties come
        # from the container and its ids from the visitor, so when nothing on this thread
        # needs the message (no tracking plan, no observer of track events, not the sync
        # spool), the caller only appends and the delivery thread builds the message
        # (deferred_track).
        # Checked per event, not through Runtime.hand_exposures: that covers only the
        # experiments' exposure event, and content logs its own (an action may watch it).
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
