"""Content personalization: a catalog, placements and strategies, frequency caps.

Items come from the container (``[[content]]``) and from content sources (JSON/CSV feeds
over HTTP or files); placements (``[placements.<name>]``) choose among them by
``first_match``, ``weighted``, ``score`` or ``bandit``, with frequency caps kept in a
``CounterStore``::

    decision = persona.visitor(anonymous_id="a-1").decide("home-hero")
    decision.payload, decision.items, decision.holdout, decision.decision_id

See ``docs/personalization.md``.
"""

from ._counters import InMemoryCounterStore
from ._decision import ContentReason, Decision, DecisionItem


def __getattr__(name: str) -> object:
    # the analytics import the runtime (and the tag layer's plugins) only when used
    if name in ("ContentReport", "content_report"):
        from . import _analytics

        return getattr(_analytics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ContentReason",
    "ContentReport",
    "Decision",
    "DecisionItem",
    "InMemoryCounterStore",
    "content_report",
]
