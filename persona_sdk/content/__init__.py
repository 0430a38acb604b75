"""Content personalization: a catalog, placements and strategies, frequency caps.

Items come from the container (``[[content]]``) and from content sources (JSON/CSV feeds
over HTTP or files); placements (``[placements.<name>]``) choose among them by
``first_match``, ``weighted``, ``score`` or ``bandit``, with frequency caps kept in a
``CounterStore``::

    decision = persona.visitor(anonymous_id="a-1").decide("home-hero")
    decision.payload, decision.items, decision.holdout, decision.decision_id

See ``docs/personalization.md``.
"""

from ._config import BanditConfig, CapConfig, PlacementConfig, ScoringRule, SourceConfig
from ._counters import InMemoryCounterStore
from ._decision import ContentReason, Decision, DecisionItem

__all__ = [
    "BanditConfig",
    "CapConfig",
    "ContentReason",
    "Decision",
    "DecisionItem",
    "InMemoryCounterStore",
    "PlacementConfig",
    "ScoringRule",
    "SourceConfig",
]
