"""Decision configuration: features, experiments, saved groups and placements."""

from __future__ import annotations

from typing import Any

from attrs import Factory, frozen

__all__ = ["DecisionsConfig"]


@frozen(kw_only=True)
class DecisionsConfig:
    """How features and experiments are decided (the ``[decisions]`` table of a container).

    Features, experiments and saved groups themselves live at the container's top level in
    GrowthBook's payload shapes; this table holds the switches around them.

    Usage::

        [decisions]
        qa_mode = false            # true: nobody is bucketed, only forced variations apply
        url_overrides = true       # allow ?<experiment-key>=<variation index> overrides
        forced_variations = { "cta-test" = 1 }
    """

    #: False turns every experiment off (visitors get the control, nothing is logged).
    enabled: bool = True
    #: QA mode: experiments assign no one by hashing; forced variations still apply.
    qa_mode: bool = False
    #: Honour ``?<experiment key>=<index>`` in the visitor's URL (off: visitors cannot pick).
    url_overrides: bool = False
    #: Default hash scheme: ``growthbook`` (FNV-1a v1/v2), ``optimizely``, or a plugin name.
    hash_scheme: str = "growthbook"
    #: False compiles conditions with JavaScript's leniency (unknown operators fail the
    #: condition instead of refusing the container), and makes unknown fields of features,
    #: rules and experiments and weights that do not fit warnings (``Persona.warnings``)
    #: rather than errors, as GrowthBook's SDKs ignore them; GrowthBook imports set it.
    strict_conditions: bool = True
    #: Variations forced for everyone, by experiment key (QA and demos).
    forced_variations: dict[str, int] = Factory(dict)
    #: GrowthBook contextual-bandit definitions referenced by ``contextualBanditRef``.
    contextual_bandits: dict[str, Any] = Factory(dict)
    #: The event name of exposures (Segment's A/B testing spec).
    exposure_event: str = "Experiment Viewed"
    #: Named placements for ``visitor.decide(name)``: ``{name: feature key}`` or
    #: ``{name: {feature = "<key>", default = <value>}}``; the feature's value is the content.
    placements: dict[str, Any] = Factory(dict)
