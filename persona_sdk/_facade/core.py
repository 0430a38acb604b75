"""What every part of the ``Persona`` facade shares: the parts it wires, and handing over."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import ClosedError

if TYPE_CHECKING:
    from .._ports import ProfileReader
    from ..decisions import FlagFeed, HookSet
    from ..delivery import Delivery
    from ..events import Message
    from ..profiles import ProfileResolver
    from .exposures import ExposureLane
    from .runtime import Builder, Runtime

__all__ = ["Core", "observe"]


class Core:
    """The state ``Persona.__init__`` sets, declared once for the facade's API modules.

    The facade owns no logic of its own beyond handing over: events go to the resolver
    (``observe``) and delivery (``submit``); reads go to the resolver and the decision engine
    of the ``Runtime`` in force.
    """

    _env: Any
    _clock: Callable[[], float]
    _lock: threading.Lock
    _closed: bool
    _delivery: Delivery
    _profiles: ProfileResolver
    _reader: ProfileReader
    _hooks: HookSet
    _builder: Builder
    _runtime: Runtime
    _feed: FlagFeed | None
    _flag_listeners: list[Callable[[frozenset[str]], Any]]
    _profile_store: Any
    _sticky_store: Any
    #: frequency caps and bandit statistics (``persona_sdk.plugins.CounterStore``)
    counter_store: Any
    #: the sync spool writes each event before the caller returns: no deferring
    _sync_spool: bool
    #: what this persona's visitors log exposures through (``_facade.exposures``)
    _exposer: ExposureLane

    def _follow_runtime(self) -> None:
        # after every swap of ``_runtime``, and on close: whether the visitors of the engine
        # in force may hand their exposures over as they are
        hooks = self._hooks
        self._exposer.update(
            None if self._closed else self._runtime,
            fast=not self._sync_spool and hooks.on_exposure is None
            and hooks.dedup_store is None,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this Persona is closed")

    def _emit(self, msg: Message) -> str:
        # observe (identity, computed traits: read-your-writes for the next visitor), then
        # hand over; the delivery thread routes it through the tags. No I/O, no lock.
        if self._closed:
            raise ClosedError("this Persona is closed")
        plan = self._runtime.plan
        if plan.active:  # raises for a blocked event, before any id is handed out
            plan.check(msg)
        profiles = self._profiles
        if msg.type in profiles.observes:
            profiles.observe(msg)
        rt = self._runtime
        if msg.event in rt.watched and msg.type == "track":
            observe(rt, msg)
        self._delivery.submit(msg, rt.route)
        return msg.message_id


def observe(rt: Runtime, msg: Message) -> None:
    """Let the content runtime (bandit rewards) and the actions see a watched event."""
    if rt.content is not None and msg.event in rt.content.watched:
        rt.content.observe(
            msg.event or "", msg.properties or {}, msg.user_id, msg.anonymous_id
        )
    if rt.actions is not None and msg.event in rt.actions.watched:
        rt.actions.observe(msg)
