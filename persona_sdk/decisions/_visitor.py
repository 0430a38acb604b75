"""``Visitor``: one visitor's features, experiments, segments and events, for one request.

A visitor memoizes every result, logs each exposure once (``Experiment Viewed`` through
the tag layer) and never raises because a store or a hook failed. Sticky-bucket documents
are loaded before the first evaluation and saved after it; the sync methods use the
store's sync form and the ``a``-prefixed methods its async form, through one sans-I/O flow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from .._errors import EventValidationError
from .._speed import blank
from ..content import Decision
from ..content import feature_decision as _feature_decision
from ._context import EvalContext
from ._hooks import HookSet
from ._model import Experiment
from ._results import ExperimentResult, FeatureResult, Reason
from ._sticky_flow import LOAD as _LOAD
from ._sticky_flow import SAVE as _SAVE
from ._sticky_flow import Flow, adrive, drive

if TYPE_CHECKING:
    from .._ports import VisitorSegments
    from ._engine import Engine
    from ._snapshot import FlagSnapshot

__all__ = ["UNSET", "Visitor", "engine_visitor"]

T = TypeVar("T")
R = TypeVar("R")
#: ``sticky_store`` not given: the engine's store applies.
UNSET: Any = object()
#: ``expose(event, anonymous_id, user_id, properties, consent, gpc)``: logs an exposure event
#: for the visitor's persona without the checks ``track`` makes of values from outside (the
#: properties are the container's, the ids the visitor's); ``persona.visitor`` passes the
#: persona's own. Without one, exposures go through ``persona.track``.
Exposer = Callable[[str, "str | None", "str | None", Mapping[str, Any],
                    "Mapping[str, bool] | None", bool], None]
_replace = msgspec.structs.replace


class _ExposureRecorder:
    # Stands in for the persona during ``evaluate_all``: keeps what would have been tracked.
    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def track(self, event: str, *, properties: Mapping[str, Any], **_: Any) -> str:
        self.events.append((event, dict(properties)))
        return ""


def _profile_reasons(profile: Any) -> tuple[Reason, ...]:
    source = getattr(profile, "source", None)
    kind = getattr(source, "value", source)
    if kind == "fallback":
        return (Reason.FALLBACK_PROFILE,)
    if kind == "stale":
        return (Reason.STALE_PROFILE,)
    return ()


class Visitor(EvalContext):
    """A visitor to decide for: ``feature``, ``is_on``, ``get``, ``experiment``,
    ``segments``, ``track``. Build it with ``persona.visitor(...)``.

    Evaluation attributes are the profile's targeting traits, then ``attributes``, then
    ``id`` (the canonical id), ``anonymousId``, ``userId`` and, when a condition reads
    them, ``segments``. A visitor is meant for one request and one thread; it reads the
    engine it was built with even if the container is reloaded meanwhile.

    Args:
        engine: the compiled container (``Engine.build``).
        segments: what computes ``visitor.segments`` (``persona_sdk.profiles.Segments``).
        persona: where exposures and ``track`` go (its ``track`` method).
        hooks: the long-lived ``HookSet`` (exposure dedupe memory and hooks).
        anonymous_id, user_id, consent: the visitor's ids and consent, as on events.
        attributes: request attributes for conditions (country, device, ...).
        profile: the resolved profile (``traits``, ``targeting_traits``, ``source``...).
        url: the page URL, for URL targeting, redirects and ``?<experiment>=<n>``.
        forced_variations: ``{experiment key: variation index}`` for this visitor only.
        sticky_store: a sticky-bucket store for this visitor (default: the engine's).

    .. versionadded:: 0.1.0
    """

    # Only what every visitor needs is set at construction; the rest when first used.
    __slots__ = (
        "_decisions",
        "_direct",
        "_engine",
        "_expose",
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

    def __new__(
        cls,
        *,
        engine: Engine,
        segments: Any = None,
        persona: Any = None,
        hooks: HookSet | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        profile: Any = None,
        url: str | None = None,
        forced_variations: Mapping[str, int] | None = None,
        sticky_store: Any = UNSET,
    ) -> Visitor:
        # Built by the one constructor body, engine_visitor (what ``engine.visitor`` is).
        if cls is not Visitor:
            raise TypeError("Visitor is final: wrap a visitor rather than subclassing it")
        return engine_visitor(
            engine, anonymous_id, user_id, attributes, consent, persona, hooks, segments,
            profile, url, forced_variations, sticky_store,
        )

    # -- identity and attributes ---------------------------------------------------------

    @property
    def profile(self) -> Any:
        """The visitor's resolved profile (``traits``, ``targeting_traits``, ``source``...),
        or None when it was built without one."""
        profile = self._profile
        if profile.__class__ is tuple:
            # (build, key): a profile holding nothing but its id, built on first read
            build, key = profile
            profile = self._profile = build(key)
        return profile

    @property
    def id(self) -> str | None:
        """The canonical id: the profile's, else ``user_id``, else ``anonymous_id``."""
        profile = self.profile
        canonical = getattr(profile, "canonical_id", None) if profile is not None else None
        return canonical or self.user_id or self.anonymous_id

    def _prepare(self) -> None:
        # Only for engines whose conditions read segments (see engine_visitor).
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

    # -- features -------------------------------------------------------------------------

    def feature(self, key: str) -> FeatureResult[Any]:
        """The feature's value, source, rule, experiment, variation and reasons."""
        memo = self._memo
        found = memo.get(key)
        if found is not None:
            return found
        if self._direct:  # nothing to load, save or add: the engine's result as it is
            fast = self._mode.features.get(key)
            result = fast(self) if fast is not None else self._engine.eval_feature(key, self)
            memo[key] = result
            hooks = self._hooks
            if hooks is not None and hooks.on_feature_usage is not None:
                hooks.feature_usage(self, result)
            return result
        if not self._ready:
            self._prepare()
        if self._mode.store is None:  # nothing to load or save: skip the flow machinery
            result = self._engine.eval_feature(key, self)
        else:
            result = self._drive(self._flow(lambda ctx: self._engine.eval_feature(key, ctx)))
        return self._keep(key, result)

    async def afeature(self, key: str) -> FeatureResult[Any]:
        """The asyncio form of ``feature`` (uses the sticky store's async form)."""
        found = self._memo.get(key)
        if found is not None:
            return found
        if self._mode.store is None:
            return self.feature(key)
        if not self._ready:
            self._prepare()
        flow = self._flow(lambda ctx: self._engine.eval_feature(key, ctx))
        return self._keep(key, await self._adrive(flow))

    def _keep(self, key: str, result: FeatureResult[Any]) -> FeatureResult[Any]:
        if self._extra:
            result = _replace(result, reasons=result.reasons + self._extra)
        self._memo[key] = result
        hooks = self._hooks
        if hooks is not None and hooks.on_feature_usage is not None:
            hooks.feature_usage(self, result)
        return result

    def is_off(self, key: str) -> bool:
        """Whether the feature is off (the opposite of ``is_on``)."""
        return not self.feature(key).on

    def evaluate_all(self) -> FlagSnapshot:
        """Every feature's result, evaluated now without logging exposures or usage: they
        are logged for a flag only when it is used (``snapshot[key]``, ``snapshot.use``, or
        the JS tag reading a bootstrapped flag). See ``FlagSnapshot``."""
        from ._snapshot import FlagSnapshot

        saved = self._persona, self._hooks, self._memo, self._expose
        recorder = _ExposureRecorder()
        exposures: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        results: dict[str, FeatureResult[Any]] = {}
        # a silent pass: exposures go to the recorder, the dedupe memory and the memo are
        # throwaway ones, so the flag's first real use logs as if nothing had happened
        self._persona, self._hooks, self._memo, self._expose = recorder, HookSet(), {}, None
        try:
            for key in self._engine.feature_keys():
                recorder.events = []
                results[key] = self.feature(key)
                if recorder.events:
                    exposures[key] = recorder.events
        finally:
            self._persona, self._hooks, self._memo, self._expose = saved
        return FlagSnapshot(self, results, exposures)

    def is_on(self, key: str) -> bool:
        """Whether the feature is on (its value is truthy, JavaScript-style)."""
        return self.feature(key).on

    async def ais_on(self, key: str) -> bool:
        """The asyncio form of ``is_on``."""
        return (await self.afeature(key)).on

    def get(self, key: str, default: T) -> Any | T:
        """The feature's value, or ``default`` when it is unknown or null."""
        value = self.feature(key).value
        return default if value is None else value

    async def aget(self, key: str, default: T) -> Any | T:
        """The asyncio form of ``get``."""
        value = (await self.afeature(key)).value
        return default if value is None else value

    def decide(self, placement: str, n: int | None = None) -> Decision:
        """The content of a placement for this visitor, decided once per visitor.

        A content placement (``[placements.<name>]``) chooses ``n`` items (default: the
        placement's ``n``) from the catalog by its strategy, frequency caps, holdout and
        fallback, and logs ``Promotion Viewed`` once per item (see ``docs/personalization.md``).
        A feature placement (``decisions.placements``, or any other name: the feature of
        that key) gives its feature's value as the one item's payload (``.value``) and the
        feature's result as ``.feature``. Never raises because a store failed.
        """
        memo: dict[tuple[str, int | None], Decision]
        try:
            memo = self._decisions
        except AttributeError:
            memo = self._decisions = {}
        found = memo.get((placement, n))
        if found is not None:
            return found
        content = self._engine.content
        if content is not None and placement in content.placements:
            if not self._ready:
                self._prepare()
            decision: Decision = content.decide(self, placement, n, self._all_attributes())
        else:
            decision = _feature_decision(placement, self._feature_placement(placement))
        memo[(placement, n)] = decision
        return decision

    async def adecide(self, placement: str, n: int | None = None) -> Decision:
        """The asyncio form of ``decide``: a content placement awaits the counter store's
        asyncio methods where it has them (``persona_sdk.plugins.AsyncCounterStore``), a
        feature placement uses ``afeature``."""
        content = self._engine.content
        if content is None or placement not in content.placements:
            spec = self._engine.config.placements.get(placement)
            key = spec.get("feature") if isinstance(spec, Mapping) else spec
            await self.afeature(key if isinstance(key, str) else placement)
            return self.decide(placement, n)
        memo: dict[tuple[str, int | None], Decision]
        try:
            memo = self._decisions
        except AttributeError:
            memo = self._decisions = {}
        found = memo.get((placement, n))
        if found is not None:
            return found
        if not self._ready:
            self._prepare()
        decision: Decision = await content.adecide(
            self, placement, n, self._all_attributes()
        )
        memo[(placement, n)] = decision
        return decision

    def _feature_placement(self, placement: str) -> FeatureResult[Any]:
        spec = self._engine.config.placements.get(placement)
        key = spec.get("feature") if isinstance(spec, Mapping) else spec
        result = self.feature(key if isinstance(key, str) else placement)
        if result.value is None and isinstance(spec, Mapping) and "default" in spec:
            return _replace(result, value=spec["default"])
        return result

    def click(self, decision: Decision, item_id: str | None = None) -> str | None:
        """Log ``Promotion Clicked`` for an item of ``decision`` (its first by default),
        once per decision and item: returns the event's ``messageId``, or None for a
        repeat. A bandit placement rewarded by clicks learns from it."""
        content = self._engine.content
        if content is None or decision.placement not in content.placements:
            raise ValueError(f"{decision.placement!r} is not a content placement")
        return content.click(self, decision, item_id)  # type: ignore[no-any-return]

    # -- experiments ----------------------------------------------------------------------

    def _xmemo_get(self, key: str) -> ExperimentResult[Any] | None:
        try:
            return self._xmemo.get(key)
        except AttributeError:
            self._xmemo = {}
            return None

    def experiment(self, key: str) -> ExperimentResult[Any]:
        """The visitor's assignment in experiment ``key`` (standalone, or a feature rule's)."""
        found = self._xmemo_get(key)
        if found is not None:
            return found
        if key not in self._engine.experiments:
            for feature_key in self._engine.rule_experiments.get(key, ()):
                self.feature(feature_key)
        if not self._ready:
            self._prepare()
        result = self._drive(self._flow(lambda ctx: self._experiment(key, ctx)))
        self._xmemo[key] = result
        return result

    async def aexperiment(self, key: str) -> ExperimentResult[Any]:
        """The asyncio form of ``experiment``."""
        found = self._xmemo_get(key)
        if found is not None:
            return found
        if key not in self._engine.experiments:
            for feature_key in self._engine.rule_experiments.get(key, ()):
                await self.afeature(feature_key)
        if not self._ready:
            self._prepare()
        result = await self._adrive(self._flow(lambda ctx: self._experiment(key, ctx)))
        self._xmemo[key] = result
        return result

    def _experiment(self, key: str, ctx: EvalContext) -> ExperimentResult[Any]:
        engine = self._engine
        result = engine.eval_experiment(key, ctx) or engine.stored_result(key, ctx)
        if result is not None:
            return result
        exp = engine.rule_experiment(key)
        if exp is not None:
            return engine.not_reached(exp, ctx)
        return ExperimentResult(key, None, False, 0, "0", Reason.UNKNOWN_EXPERIMENT)

    def redirect(self) -> tuple[str, ExperimentResult[Any]] | None:
        """Where to redirect this visitor's ``url``, by the first URL-redirect experiment
        that targets it and assigns a redirecting variation: ``(url, result)``, or None."""
        try:
            return self._redirect
        except AttributeError:
            pass
        if not self._ready:
            self._prepare()
        self._redirect = self._drive(self._flow(self._engine.eval_redirect))
        return self._redirect

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
        hooks = self._hooks or self._own_hooks()
        user_id, anonymous_id = self.user_id, self.anonymous_id
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
            props = exp.exposure_props[res.variation_id]
            if res.hash_attribute != exp.hash_attribute:  # the fallback attribute hashed
                props = {**props, "hash_attribute": res.hash_attribute}
            try:
                expose = self._expose
                if expose is not None:  # the persona's own: the event is built off this thread
                    expose(self._engine.exposure_event, anonymous_id, user_id, props,
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
            hooks.exposure(self, res)

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

    def __repr__(self) -> str:
        return (
            f"Visitor(user_id={self.user_id!r}, anonymous_id={self.anonymous_id!r}, "
            f"features={len(self._memo)})"
        )


def engine_visitor(  # noqa: PLR0917 - see the docstring
    engine: Engine,
    anonymous_id: str | None = None,
    user_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    consent: Mapping[str, bool] | None = None,
    persona: Any = None,
    hooks: HookSet | None = None,
    segments: Any = None,
    profile: Any = None,
    url: str | None = None,
    forced_variations: Mapping[str, int] | None = None,
    sticky_store: Any = UNSET,
    expose: Exposer | None = None,
) -> Visitor:
    """A new ``Visitor`` deciding with ``engine``: ``engine.visitor(...)`` (this function
    is that method) and ``Visitor(engine=engine, ...)`` with the same arguments.

    Args:
        anonymous_id, user_id, consent: the visitor's ids and consent, as on events.
        attributes: request attributes for conditions (country, device, ...).
        persona: where exposures and ``track`` go (its ``track`` method).
        hooks: the long-lived ``HookSet`` (exposure dedupe memory and hooks).
        segments: what computes ``visitor.segments`` (``persona_sdk.profiles.Segments``).
        profile: the resolved profile (``traits``, ``targeting_traits``, ``source``...).
        url: the page URL, for URL targeting, redirects and ``?<experiment>=<n>``.
        forced_variations: ``{experiment key: variation index}`` for this visitor only.
        sticky_store: a sticky-bucket store for this visitor (default: the engine's).
        expose: how the visitor logs exposures (``Exposer``); default: ``persona.track``.

    ``profile`` may also be ``(build, key)``: a profile known to hold nothing but its id
    ``key`` (no traits), which ``build(key)`` makes on the first read of ``visitor.profile``.

    The one body every way of building a visitor ends in (``persona.visitor``,
    ``engine.visitor``, ``Visitor(...)``); positional because the facade calls it on every
    request (the public forms are keyword-only). It makes the instance with
    ``persona_sdk._speed.blank``: see that package for why and what keeps it correct.
    """
    # long: the per-visitor hot path, inlined: each helper call would cost ~50 ns per visitor
    # Every store here is paid on every request: the state only some visitors need (sticky
    # buckets, segments) is set up only for them.
    visitor: Visitor = blank(Visitor)
    visitor._engine = engine
    visitor._segments_engine = segments
    visitor._persona = persona
    visitor._hooks = hooks
    visitor._expose = expose
    visitor._gpc = False  # a plain slot read: a missing one would raise on every exposure
    visitor.anonymous_id = anonymous_id
    visitor.user_id = user_id
    visitor.consent = consent
    visitor._profile = profile
    visitor.url = url
    visitor._memo = {}
    visitor._results = {}
    extra: tuple[Reason, ...]
    if profile is None or profile.__class__ is tuple:  # none, or one with nothing in it
        # dict.copy() is the cheapest copy of the usual plain dict
        attrs = attributes.copy() if attributes.__class__ is dict else dict(attributes or ())
        ident = user_id or anonymous_id
        visitor._extra = extra = ()
    else:
        traits = getattr(profile, "targeting_traits", None)
        attrs = dict(traits) if traits else {}
        if attributes:
            attrs.update(attributes)
        ident = getattr(profile, "canonical_id", None) or user_id or anonymous_id
        visitor._extra = extra = _profile_reasons(profile)
    if ident is not None:
        if attributes and "id" in attributes:
            _check_id_attribute(attributes["id"], anonymous_id, user_id)
        attrs["id"] = ident
    # only when a rule could read them: a sixth key costs the usual dict a resize
    if anonymous_id is not None and engine.reads_anonymous_id:
        attrs["anonymousId"] = anonymous_id
    if user_id is not None and engine.reads_user_id:
        attrs["userId"] = user_id
    visitor._attrs = attrs
    # conditions that read segments need them in the attributes: computed on first use
    visitor._ready = ready = not engine.uses_segments
    if sticky_store is UNSET and forced_variations is None and url is None:
        mode = visitor._mode = engine.mode
        # feature() may hand the engine's result back as it is
        if engine.direct and not extra:
            visitor._direct = True  # and so no sticky store: nothing more to set up
            return visitor
        visitor._direct = False
    else:
        store = engine.sticky_store if sticky_store is UNSET else sticky_store
        mode = visitor._mode = engine.mode_for(url, forced_variations, store)
        visitor._direct = store is None and ready and not extra
    if mode.store is not None:
        visitor._pending_load = visitor._sticky_ok = True
        visitor._docs = {}
        visitor._dirty = {}
        visitor._exposures = []  # logged once the flow has saved the sticky documents
    return visitor


def _check_id_attribute(given: Any, anonymous_id: str | None, user_id: str | None) -> None:
    # ``id`` is the attribute experiments hash by default; the visitor's ids set it (the user
    # id, else the anonymous id). A different one in ``attributes`` would be overwritten
    # without a word, so it is refused instead.
    if given is None or given in (anonymous_id, user_id):
        return
    raise EventValidationError(
        "attributes.id",
        f"{given!r} conflicts with the visitor's ids: attributes['id'] is set from user_id "
        "(else anonymous_id); leave it out, or pass it as one of them",
    )
