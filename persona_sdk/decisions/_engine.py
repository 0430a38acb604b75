"""``Engine``: a container's features, experiments and saved groups, compiled once.

An engine is immutable: ``persona.reload(container)`` builds a new one and swaps it whole,
so a request that holds the old engine finishes with it, without locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from .._errors import ConfigError
from ..config import DecisionsConfig
from ._builder import Builder
from ._context import EvalContext, Mode, new_context, resolve, sticky_string
from ._evaluate import Evaluator
from ._fastpath import FastFeature, fast_feature
from ._hooks import HookSet
from ._model import Experiment, Feature, js_truthy
from ._results import ExperimentResult, Reason
from ._spec import EXPERIMENT_KEYS, compile_experiment, compile_feature
from ._visitor import Visitor
from ._visitor_factory import keep_builder
from ._visitor_state import UNSET

if TYPE_CHECKING:
    from ..allocation import AsyncStickyBucketStore, StickyBucketStore
    from ..config import Container
    from ..rules import OperatorRegistry

__all__ = ["Engine"]


@frozen(slots=True)
class Engine(Evaluator):
    """Compiled features and experiments of one container (immutable; build with
    ``Engine.build``). Visitors evaluate against it; it holds no per-visitor state.

    Usage::

        engine = Engine.build(container)            # ConfigError lists every bad path
        visitor = engine.visitor(anonymous_id="v-1", attributes={"country": "FR"})
        visitor.feature("hero-banner").value
    """

    features: Mapping[str, Feature]
    experiments: Mapping[str, Experiment]
    redirects: tuple[Experiment, ...]
    rule_experiments: Mapping[str, tuple[str, ...]]
    experiment_rules: Mapping[str, Experiment]
    forced: Mapping[str, Any]
    enabled: bool
    fast_base: bool
    qa_mode: bool
    url_overrides: bool
    sticky_store: Any
    sticky_attributes: tuple[str, ...]
    uses_segments: bool
    #: whether any condition, hash, fallback or filter attribute reads ``anonymousId`` or
    #: ``userId`` (as the compiler noted while compiling them). A visitor adds each to the
    #: attributes conditions see only when it could be read (the full set is still what
    #: ``visitor.attributes`` and segments see).
    reads_anonymous_id: bool
    reads_user_id: bool
    exposure_event: str
    config: DecisionsConfig
    #: the generated functions of the features that have one, for visitors in fast mode
    fast_features: Mapping[str, FastFeature]
    #: problems a lenient build (``decisions.strict_conditions = false``, as GrowthBook
    #: imports set) let through, one ``path: message`` line each; a strict build refuses them
    warnings: tuple[str, ...] = ()
    #: the container's content placements and catalog (``persona_sdk.content``), if any
    content: Any = None
    #: the mode of a visitor with no overrides of its own (most visitors): made once
    mode: Mode = field(init=False)
    #: whether such a visitor's results are the engine's as they are (no sticky store, no
    #: segments to compute first)
    direct: bool = field(init=False)
    #: ``visitor``'s builder of the last (persona, hooks, segments) it was asked for, as
    #: ``(persona, hooks, segments, build)`` (``keep_builder``); the one mutable field
    last_builder: Any = field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "mode", self.mode_for(None, None, self.sticky_store))
        object.__setattr__(self, "direct", self.sticky_store is None and not self.uses_segments)

    @classmethod
    def build(
        cls,
        container: Container,
        operators: OperatorRegistry | None = None,
        sticky_store: StickyBucketStore | AsyncStickyBucketStore | None = None,
        content: Any = None,
    ) -> Engine:
        """Compile ``container.features``, ``container.experiments`` and
        ``container.saved_groups`` (with ``container.decisions``).

        Raises ``ConfigError`` listing every problem with its path, for example
        ``features.hero-banner.rules[1].condition.country: unknown operator "$foo"``.
        """
        config: DecisionsConfig = container.decisions
        errors: list[str] = []
        b = _builder(container, operators, errors)
        identifiers: dict[str, None] = {}
        features, rule_experiments, experiment_rules = _compile_features(b, container, identifiers)
        experiments = _compile_experiments(b, container, identifiers)
        _check_decisions_config(b, container)
        forced = config.forced_variations
        errors.extend(b.errors)
        if errors:
            raise ConfigError(errors)
        read = b.reads.roots
        return cls(
            # plain dicts: read on every decision, never exposed for writing
            features=features,
            experiments=experiments,
            redirects=tuple(e for e in experiments.values() if e.is_redirect),
            rule_experiments=MappingProxyType({k: tuple(v) for k, v in rule_experiments.items()}),
            experiment_rules=MappingProxyType(experiment_rules),
            forced=MappingProxyType(dict(forced)),
            enabled=config.enabled,
            fast_base=config.enabled and not config.qa_mode and not forced,
            qa_mode=config.qa_mode,
            url_overrides=config.url_overrides,
            sticky_store=sticky_store,
            sticky_attributes=tuple(identifiers),
            uses_segments=b.uses_segments,
            # as the compiler noted them (every condition path, hash, fallback and filter
            # attribute)
            reads_anonymous_id="anonymousId" in read,
            reads_user_id="userId" in read,
            exposure_event=config.exposure_event,
            config=config,
            fast_features={
                key: fast for key, feat in features.items() if (fast := fast_feature(feat))
            },
            warnings=tuple(b.warnings),
            content=content,
        )

    def visitor(
        self,
        *,
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
    ) -> Visitor:
        """A new ``Visitor`` deciding with this engine, without a ``Persona``: the
        arguments are ``Visitor``'s (``persona.visitor`` resolves the profile and builds
        its visitors the same way)."""
        # the builder of the last parts asked for (keep_builder), checked inline: one call
        kept = self.last_builder
        if (
            kept is None or kept[0] is not persona or kept[1] is not hooks
            or kept[2] is not segments
        ):
            kept = keep_builder(self, persona, hooks, segments)
        return kept[3](  # type: ignore[no-any-return]
            anonymous_id, user_id, attributes, consent, url, forced_variations, sticky_store,
            False, profile,
        )

    def context(
        self,
        attrs: dict[str, Any],
        url: str | None = None,
        forced: Mapping[str, Any] | None = None,
        sticky_on: bool | None = None,
    ) -> EvalContext:
        """A fresh evaluation context (what a ``Visitor`` holds)."""
        forced = self.forced if forced is None else forced
        sticky = self.sticky_store is not None if sticky_on is None else sticky_on
        fast = self.fast_for(url, forced, sticky)
        return new_context(attrs, url, Mode(forced=forced, sticky_on=sticky, fast=fast))

    def mode_for(
        self, url: str | None, forced_variations: Mapping[str, int] | None, store: Any
    ) -> Mode:
        """The mode of a visitor with this URL, forced variations and sticky-bucket store
        (``forced_variations`` add to the container's)."""
        forced = {**self.forced, **forced_variations} if forced_variations else self.forced
        sticky = store is not None
        fast = self.fast_for(url, forced, sticky)
        return Mode(
            forced=forced, sticky_on=sticky, fast=fast, store=store, features=self.fast_features
        )

    def fast_for(self, url: str | None, forced: Mapping[str, Any], sticky_on: bool) -> bool:
        """Whether a visitor with these overrides can take the hashing fast path."""
        return self.fast_base and not sticky_on and not forced and not (url and self.url_overrides)

    def sticky_identifiers(self, attrs: Mapping[str, Any]) -> dict[str, str]:
        """``{attribute: value}`` of the visitor's identifier attributes (every
        experiment's hash and fallback attribute the visitor has): the sticky documents to
        load before evaluating."""
        out: dict[str, str] = {}
        for name in self.sticky_attributes:
            value = resolve(attrs, name, "." in name)
            if js_truthy(value):
                out[name] = sticky_string(value)
        return out

    def rule_experiment(self, key: str) -> Experiment | None:
        """The first feature rule's experiment with this key, if any."""
        return self.experiment_rules.get(key)

    def not_reached(self, exp: Experiment, ctx: EvalContext) -> ExperimentResult[Any]:
        """The result for a rule experiment the visitor's evaluation never reached."""
        feature = self.rule_experiments.get(exp.key, (None,))[0]
        return self._miss(exp, ctx, feature, Reason.EARLIER_RULE)

    def feature_keys(self) -> tuple[str, ...]:
        """Every feature key, in container order."""
        return tuple(self.features)

    def experiment_keys(self) -> tuple[str, ...]:
        """Every experiment key: standalone experiments and feature-rule experiments."""
        return tuple(dict.fromkeys([*self.experiments, *self.rule_experiments]))


def _note_identifiers(identifiers: dict[str, None], exp: Experiment) -> None:
    # the attributes sticky buckets are kept under, in first-seen order
    identifiers[exp.hash_attribute] = None
    if exp.fallback_attribute:
        identifiers[exp.fallback_attribute] = None


def _compile_features(
    b: Builder, container: Container, identifiers: dict[str, None]
) -> tuple[dict[str, Feature], dict[str, list[str]], dict[str, Experiment]]:
    """``container.features`` compiled, with each rule experiment's features and its
    first definition."""
    features: dict[str, Feature] = {}
    rule_experiments: dict[str, list[str]] = {}
    experiment_rules: dict[str, Experiment] = {}
    for key, spec in (container.features or {}).items():
        feature = compile_feature(b, key, spec, f"features.{key}")
        if feature is None:
            continue
        features[key] = feature
        for rule in feature.rules:
            exp = rule.experiment
            if exp is not None:
                rule_experiments.setdefault(exp.key, []).append(key)
                experiment_rules.setdefault(exp.key, exp)
                _note_identifiers(identifiers, exp)
    return features, rule_experiments, experiment_rules


def _compile_experiments(
    b: Builder, container: Container, identifiers: dict[str, None]
) -> dict[str, Experiment]:
    """``container.experiments`` (the standalone ones) compiled, by key."""
    experiments: dict[str, Experiment] = {}
    for i, spec in enumerate(container.experiments or []):
        path = f"experiments[{i}]"
        if not isinstance(spec, Mapping):
            b.problem(path, "expected an experiment object")
            continue
        b.known_keys(spec, EXPERIMENT_KEYS, path)
        exp = compile_experiment(b, spec, path, dict(spec))
        if exp is None:
            continue
        if exp.key in experiments:
            b.problem(f"{path}.key", f"duplicate experiment key {exp.key!r}")
        experiments[exp.key] = exp
        _note_identifiers(identifiers, exp)
    return experiments


def _check_decisions_config(b: Builder, container: Container) -> None:
    """Report ``decisions.placements`` entries that are malformed or clash with content,
    and forced variations that are not indexes."""
    for name, spec in container.decisions.placements.items():
        ok = isinstance(spec, str) or (
            isinstance(spec, Mapping)
            and isinstance(spec.get("feature"), str)
            and set(spec) <= {"feature", "default"}
        )
        if name in container.placements:
            b.problem(
                f"decisions.placements.{name}",
                f"also a content placement (placements.{name}): one name, one placement",
            )
        if not ok:
            b.problem(
                f"decisions.placements.{name}",
                'expected a feature key or {feature = "<key>", default = <value>}',
            )
    for key, index in container.decisions.forced_variations.items():
        if not isinstance(index, int) or isinstance(index, bool):
            b.problem(f"decisions.forced_variations.{key}", "expected a variation index")


def _builder(
    container: Container, operators: OperatorRegistry | None, errors: list[str]
) -> Builder:
    """The compiler for ``container``'s conditions (a malformed ``saved_groups`` is
    reported to ``errors`` and read as none)."""
    config = container.decisions
    saved_groups: Any = container.saved_groups or {}
    if not isinstance(saved_groups, Mapping):
        errors.append("saved_groups: expected an object of group name to list of values")
        saved_groups = {}
    return Builder(
        saved_groups=saved_groups,
        operators=operators,
        strict=config.strict_conditions,
        default_scheme=config.hash_scheme,
        bandits=config.contextual_bandits,
    )
