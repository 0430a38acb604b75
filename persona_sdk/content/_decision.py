"""What ``visitor.decide(placement)`` returns: a ``Decision`` of ``DecisionItem``s."""

from __future__ import annotations

from typing import Any

import msgspec

from .._strenum import StrEnum

__all__ = ["ContentReason", "Decision", "DecisionItem", "feature_decision"]


class ContentReason(StrEnum):
    """Why a placement's decision came out as it did. A closed set."""

    FIRST_MATCH = "first_match"  #: the highest-priority eligible item
    WEIGHTED = "weighted"  #: drawn by weight, sticky through the visitor's hash
    SCORE = "score"  #: the highest score (ties broken by the visitor's hash)
    BANDIT = "bandit"  #: the highest Thompson sample
    STRATEGY = "strategy"  #: ranked by a plugin strategy (``persona_sdk.plugins.Strategy``)
    STRATEGY_ERROR = "strategy_error"  #: the plugin strategy raised: the fallback
    HOLDOUT = "holdout"  #: the visitor is in the placement's holdout: the fallback
    FALLBACK = "fallback"  #: nothing eligible (or all capped): the fallback item
    EMPTY = "empty"  #: nothing eligible and no fallback
    CAPPED = "capped"  #: at least one better item was skipped for a frequency cap
    FEATURE = "feature"  #: a feature placement: the feature's value is the content
    UNKNOWN_PLACEMENT = "unknown_placement"  #: no placement of that name
    STORE_UNAVAILABLE = "store_unavailable"  #: the counter store failed (caps closed)


class DecisionItem(msgspec.Struct, frozen=True, gc=False):
    """One chosen item: its id, payload, position (0-based) and why it was chosen;
    ``score`` is the strategy's score or sample (None for first_match)."""

    id: str
    payload: Any
    position: int
    reasons: tuple[ContentReason, ...]
    score: float | None = None
    name: str = ""


class Decision(msgspec.Struct, frozen=True, gc=False):
    """A placement's content for one visitor.

    ``items`` are best first; ``holdout`` says the visitor is in the placement's holdout
    (and got the fallback); ``decision_id`` ties exposures and clicks together.
    """

    placement: str
    items: tuple[DecisionItem, ...]
    strategy: str
    decision_id: str
    holdout: bool = False
    reasons: tuple[ContentReason, ...] = ()
    #: the bandit's statistics segment (``*`` when not split)
    segment: str | None = None
    #: for a feature placement, the feature's result (value, rule, experiment, reasons)
    feature: Any = None

    @property
    def item(self) -> DecisionItem | None:
        """The first item, or None."""
        return self.items[0] if self.items else None

    @property
    def payload(self) -> Any:
        """The first item's payload, or None."""
        return self.items[0].payload if self.items else None

    @property
    def value(self) -> Any:
        """The first item's payload (what a feature placement's feature gave), or None."""
        return self.items[0].payload if self.items else None

    def ids(self) -> list[str]:
        """The chosen item ids, best first."""
        return [i.id for i in self.items]


def feature_decision(placement: str, result: Any) -> Decision:
    """A feature placement's decision: the feature's value as the one item's payload."""
    items: tuple[DecisionItem, ...] = ()
    if result.value is not None:
        items = (DecisionItem(result.key, result.value, 0, (ContentReason.FEATURE,)),)
    unknown = getattr(result.source, "value", None) == "unknownFeature" and not items
    reasons = (ContentReason.UNKNOWN_PLACEMENT if unknown else ContentReason.FEATURE,)
    return Decision(placement, items, "feature", "", reasons=reasons, feature=result)
