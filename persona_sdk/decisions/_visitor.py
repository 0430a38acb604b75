"""``Visitor``: one visitor's features, experiments, segments and events, for one request.

A visitor memoizes every result, logs each exposure once (``Experiment Viewed`` through
the tag layer) and never raises because a store or a hook failed. Sticky-bucket documents
are loaded before the first evaluation and saved after it; the sync methods use the
store's sync form and the ``a``-prefixed methods its async form, through one sans-I/O flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from ..content import Decision
from ..content import feature_decision as _feature_decision
from ._context import EvalContext
from ._hooks import HookSet
from ._results import ExperimentResult, FeatureResult, Reason
from ._visitor_state import UNSET, VisitorState

if TYPE_CHECKING:
    from ._engine import Engine
    from ._snapshot import FlagSnapshot

__all__ = ["Visitor"]

T = TypeVar("T")
_replace = msgspec.structs.replace


class _ExposureRecorder:
    # Stands in for the persona during ``evaluate_all``: keeps what would have been tracked.
    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def track(self, event: str, *, properties: Mapping[str, Any], **_: Any) -> str:
        self.events.append((event, dict(properties)))
        return ""


class Visitor(VisitorState):
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

    # the slots are VisitorState's
    __slots__ = ()

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
        # Built by the one constructor body, visitor_builder (through ``engine.visitor``).
        if cls is not Visitor:
            raise TypeError("Visitor is final: wrap a visitor rather than subclassing it")
        return engine.visitor(
            anonymous_id=anonymous_id, user_id=user_id, attributes=attributes,
            consent=consent, persona=persona, hooks=hooks, segments=segments,
            profile=profile, url=url, forced_variations=forced_variations,
            sticky_store=sticky_store,
        )

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
            # read per call: a hook set on the HookSet later applies at once
            hooks = self._hooks
            if hooks is not None and hooks.on_feature_usage is not None:
                hooks.feature_usage(self, result)
            return result
        if not self._ready:
            self._prepare()
        if self._mode.store is None:  # nothing to load or save: skip the flow machinery
            fast = self._mode.features.get(key)
            result = fast(self) if fast is not None else self._engine.eval_feature(key, self)
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
        # a new visitor has no memo yet: getattr's default costs half a raised AttributeError
        memo: dict[tuple[str, int | None], Decision] | None = getattr(self, "_decisions", None)
        if memo is None:
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
        # a new visitor has no memo yet: getattr's default costs half a raised AttributeError
        memo: dict[tuple[str, int | None], Decision] | None = getattr(self, "_decisions", None)
        if memo is None:
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

    def __repr__(self) -> str:
        return (
            f"Visitor(user_id={self.user_id!r}, anonymous_id={self.anonymous_id!r}, "
            f"features={len(self._memo)})"
        )
