"""Next-best actions: ``[[actions]]`` that fire when an event matches, a segment is entered or
exited, or an event is *not* followed by another within a delay (a cart abandoned).

See ``docs/personalization.md#next-best-actions``.
"""

from ._actions import ActionConfig, ActionRunner

__all__ = ["ActionConfig", "ActionRunner"]
