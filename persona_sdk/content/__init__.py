"""Content personalization: a catalog, placements and strategies, frequency caps.

Items come from the container (``[[content]]``) and from content sources (JSON/CSV feeds
over HTTP or files); placements (``[placements.<name>]``) choose among them by
``first_match``, ``weighted``, ``score`` or ``bandit``, with frequency caps kept in a
``CounterStore``::

    decision = persona.visitor(anonymous_id="a-1").decide("home-hero")
    decision.payload, decision.items, decision.holdout, decision.decision_id

See ``docs/personalization.md``.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._counters import InMemoryCounterStore
from ._decision import ContentReason, Decision, DecisionItem

# isort: split
# For the decision engine and the facade only: not public (not in __all__).
from ._decision import feature_decision as feature_decision

if _TYPE_CHECKING:
    from ._analytics import ContentReport, content_report
    from ._analytics import read_events as read_events
    from ._runtime import ContentRuntime as ContentRuntime


def __getattr__(name: str) -> object:
    # the analytics import the runtime (and the tag layer's plugins) only when used; the
    # runtime (for the facade) loads with the first container that has content
    if name in ("ContentReport", "content_report", "read_events"):
        from . import _analytics

        return getattr(_analytics, name)
    if name == "ContentRuntime":
        from ._runtime import ContentRuntime

        return ContentRuntime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ContentReason",
    "ContentReport",
    "Decision",
    "DecisionItem",
    "InMemoryCounterStore",
    "content_report",
]
