"""``VisitorState``: what a ``Visitor`` holds and how it talks to the outside: its ids,
profile, attributes and segments, the sans-I/O sticky-bucket flow around an evaluation,
and its exposures and events.

The base of ``Visitor`` (which adds the decisions: features, content, experiments); the
slots are declared here, once, for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType, MethodType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._context import EvalContext
from ._hooks import HookSet
from ._model import Experiment
from ._results import ExperimentResult, FeatureResult, Reason
from ._sticky_flow import LOAD as _LOAD
from ._sticky_flow import SAVE as _SAVE
from ._sticky_flow import Flow, adrive, drive

if TYPE_CHECKING:
    from .._ports import VisitorSegments
    from ..content import Decision
    from ._engine import Engine

__all__ = ["UNSET", "Exposer", "VisitorState"]

R = TypeVar("R")
#: ``sticky_store`` not given: the engine's store applies.
UNSET: Any = object()


class Exposer(Protocol):
    """How a persona's visitors log exposures (``persona.visitor`` passes the persona's own;
    without one, exposures go through ``persona.track``).

    ``engine`` is the engine whose visitors may hand an exposure over as it is, or None:
    then ``submit((router, user_id, anonymous_id, consent, gpc, experiment, variation_id,
    hash_attribute, timestamp))`` is all the caller does (one append; on the delivery thread
    ``router``, which holds that engine's exposure event and the tag layer's routes,
    deduplicates it, builds the message and routes it). Otherwise ``expose(event,
    anonymous_id, user_id, properties, consent, gpc)`` logs an exposure already
    deduplicated, without the checks ``track`` makes of values from outside (the properties
    are the container's, the ids the visitor's).
    """

    engine: Any
    clock: Callable[[], float]
    router: Any
    #: the ``Delivery`` whose ``submit_item`` ``submit`` is: a generated feature appends to
    #: its intake as that method does, without its frame (``_fastpath._PICK``)
    delivery: Any

    def submit(self, item: tuple[Any, ...]) -> None: ...

    def expose(  # noqa: PLR0917 - one exposure's parts
        self,
        event: str,
        anonymous_id: str | None,
        user_id: str | None,
        properties: Mapping[str, Any],
        consent: Mapping[str, bool] | None,
        gpc: bool,
    ) -> None: ...


class VisitorState(EvalContext):
    """A visitor's state, identity, attributes, sticky-bucket I/O and events (see
    ``Visitor``)."""

    # Only what every visitor needs is set at construction; the rest when first used.
    # (``_expose`` is EvalContext's: the generated features read it.)
    __slots__ = (
        "_decisions",
        "_direct",
        "_engine",
        "_extra",
        "_gpc",
        "_hooks",
        "_memo",
        "_pending_load",
        "_persona",
        "_profile",
        "_ready",
        "_redirect",
        "_segments",
        "_segments_engine",
        "_sticky_ok",
        "_xmemo",
        "anonymous_id",
        "consent",
        "user_id",
    )

    anonymous_id: str | None
    user_id: str | None
    consent: Mapping[str, bool] | None
    _profile: Any
    _engine: Engine
    _segments_engine: VisitorSegments | None
    _persona: Any
    _expose: Exposer | None
    _hooks: HookSet | None
    _extra: tuple[Reason, ...]
    _gpc: bool
    _ready: bool
    _direct: bool
    _pending_load: bool
    _sticky_ok: bool
    _memo: dict[str, FeatureResult[Any]]
    _redirect: tuple[str, ExperimentResult[Any]] | None
    _segments: frozenset[str]
    _xmemo: dict[str, ExperimentResult[Any]]
    _decisions: dict[tuple[str, int | None], Decision]

    # -- identity and attributes ---------------------------------------------------------

    @property
    def profile(self) -> Any:
        """The visitor's resolved profile (``traits``, ``targeting_traits``, ``source``...),
        or None when it was built without one."""
        profile = self._profile
        if profile.__class__ is MethodType:
            # the profile reader's build (a bound method, which no profile is): a profile
            # holding nothing but the visitor's id, made on first read (visitor_builder)
            profile = self._profile = profile(self.user_id or self.anonymous_id)
        return profile

    @property
    def id(self) -> str | None:
        """The canonical id: the profile's, else ``user_id``, else ``anonymous_id``."""
        profile = self.profile
        canonical = getattr(profile, "canonical_id", None) if profile is not None else None
        return canonical or self.user_id or self.anonymous_id

    def _prepare(self) -> None:
        # Only for engines whose conditions read segments (see visitor_builder).
        self._attrs["segments"] = sorted(self.segments)
        self._ready = True
        self._direct = self._mode.store is None and not self._extra

    def _all_attributes(self) -> dict[str, Any]:
        # The evaluation attributes with both ids, which the engine leaves out when no rule
        # reads them (Engine.reads_user_id).
        attrs = self._attrs
        anonymous_id, user_id = self.anonymous_id, self.user_id
        if (anonymous_id is None or "anonymousId" in attrs) and (
            user_id is None or "userId" in attrs
        ):
            return attrs
        attrs = dict(attrs)
        if anonymous_id is not None:
            attrs["anonymousId"] = anonymous_id
        if user_id is not None:
            attrs["userId"] = user_id
        return attrs

    @property
    def attributes(self) -> Mapping[str, Any]:
        """The attributes conditions see (read-only): the profile's targeting traits, then
        ``attributes``, then ``id``, ``anonymousId``, ``userId`` (and ``segments`` when a
        condition reads them)."""
        if not self._ready:
            self._prepare()
        return MappingProxyType(self._all_attributes())

    @property
    def segments(self) -> frozenset[str]:
        """The segments the visitor is in (computed once, on first use)."""
        return self._segments_of(self._all_attributes())

    def _segments_of(self, attrs: Mapping[str, Any]) -> frozenset[str]:
        try:
            return self._segments
        except AttributeError:
            pass
        engine = self._segments_engine
        if engine is None:
            found = self._segments = frozenset()
            return found
        try:
            # with a Persona: the membership kept per visitor, updated by events (only what
            # changed runs); a bare Segments evaluates every condition
            found = engine.of_visitor(
                attrs, anonymous_id=self.anonymous_id, user_id=self.user_id,
                consent=self.consent,
            )
        except Exception:
            self._own_hooks().track_failed()
            found = engine.evaluate(attrs)
        found = self._segments = frozenset(found)
        return found

    # -- sticky-bucket I/O: one flow, two drivers -------------------------------------------

    def _flow(self, evaluate: Callable[[EvalContext], R]) -> Flow[R]:
        if self._mode.store is None:  # exposures were logged as they happened
            return evaluate(self)
        if self._pending_load:
            self._pending_load = False
            ids = self._engine.sticky_identifiers(self._attrs)
            if ids:
                docs = yield _LOAD, ids
                if docs is None:
                    self._sticky_failed()
                else:
                    self._docs.update(docs)
        result = evaluate(self)
        if self._dirty:
            changed = list(self._dirty.values())
            self._dirty.clear()
            if self._sticky_ok:
                saved = yield _SAVE, changed
                if not saved:
                    self._sticky_failed()
        exposures = self._exposures
        if exposures:
            self._exposures = []
            for res, exp in exposures:
                self._exposed(res, exp, True)
        return result

    def _sticky_failed(self) -> None:
        self._sticky_ok = False
        if Reason.STICKY_UNAVAILABLE not in self._extra:
            self._extra = (*self._extra, Reason.STICKY_UNAVAILABLE)

    def _drive(self, flow: Flow[R]) -> R:
        return drive(self._mode.store, flow)

    async def _adrive(self, flow: Flow[R]) -> R:
        return await adrive(self._mode.store, flow)

    # -- exposures and events -------------------------------------------------------------

    def _own_hooks(self) -> HookSet:
        hooks = self._hooks
        if hooks is None:  # a bare Visitor still logs each exposure once
            hooks = self._hooks = HookSet()
        return hooks

    def _exposed(self, res: ExperimentResult[Any], exp: Experiment, now: bool = False) -> None:
        # Logged at once, unless sticky documents are to be saved first (``_flow`` then
        # logs them with ``now``).
        if not now and self._mode.store is not None:
            self._exposures.append((res, exp))
            return
        user_id, anonymous_id = self.user_id, self.anonymous_id
        lane = self._expose
        if (
            lane is not None
            and (router := lane.router)  # read before the engine (ExposureLane.update)
            and lane.engine is self._engine  # None while the persona needs the full path
            and (user_id or anonymous_id)
            and (user_id is None or user_id.__class__ is str)
            and (anonymous_id is None or anonymous_id.__class__ is str)
        ):
            # the persona's own, with nothing on this thread to check or call: one append
            # (the generated features make the same checks and hand-over: _fastpath._PICK).
            # The variation and hash attribute, not ``res``: a result kept alive until the
            # delivery thread drops it is freed there, and the memory this thread then
            # reuses for the next visitor's results is cold in its cache (~0.15 µs a visitor)
            lane.submit((router, user_id, anonymous_id, self.consent, self._gpc, exp,
                         res.variation_id, res.hash_attribute, lane.clock()))
            return
        hooks = self._hooks or self._own_hooks()
        seen: tuple[Any, ...]
        if user_id is None and anonymous_id is None:
            seen = (res.hash_attribute, str(res.hash_value), exp.key, res.variation_id)
        else:
            seen = (user_id, anonymous_id, exp.key, res.variation_id)
        if not hooks.admit(seen, user_id or anonymous_id or str(res.hash_value), exp.key,
                           res.variation_id):
            return  # logged before (here, or by another process)
        persona = self._persona
        if persona is not None:
            props = exp.exposure_properties(res.variation_id, res.hash_attribute)
            try:
                if lane is not None:  # the persona's own
                    lane.expose(self._engine.exposure_event, anonymous_id, user_id, props,
                                self.consent, self._gpc)
                else:
                    persona.track(
                        self._engine.exposure_event,
                        anonymous_id=anonymous_id,
                        user_id=user_id,
                        properties=props,
                        consent=self.consent,
                        context={"gpc": True} if self._gpc else None,
                    )
            except Exception:
                hooks.track_failed()
        if hooks.on_exposure is not None:
            # every VisitorState is a Visitor (final, built by visitor_builder)
            hooks.exposure(self, res)  # type: ignore[arg-type]

    @property
    def gpc(self) -> bool:
        """Whether the request carried a Global Privacy Control signal (``persona.visitor(...,
        gpc=True)``): then every event this visitor tracks carries ``context.gpc``."""
        return self._gpc

    def mark_gpc(self) -> None:
        """Record a Global Privacy Control signal (see :attr:`gpc`)."""
        self._gpc = True

    def track(
        self,
        event: str,
        *,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        message_id: str | None = None,
    ) -> str:
        """``persona.track`` bound to this visitor's ids and consent; returns the
        ``messageId``. Raises ``EventValidationError`` like ``persona.track``."""
        persona = self._persona
        if persona is None:
            raise RuntimeError("this Visitor was built without a Persona to track with")
        if self.gpc:
            context = {**(context or {}), "gpc": True}
        return persona.track(  # type: ignore[no-any-return]
            event,
            anonymous_id=self.anonymous_id,
            user_id=self.user_id,
            properties=properties,
            context=context,
            consent=self.consent,
            timestamp=timestamp,
            message_id=message_id,
        )
