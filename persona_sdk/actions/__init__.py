"""Next-best actions: ``[[actions]]`` that fire when an event matches, a segment is entered or
exited, or an event is *not* followed by another within a delay (a cart abandoned).

See ``docs/personalization.md#next-best-actions``.
"""

# isort: split
# For the facade only: not public (the actions are configured in the container).
from ._actions import ActionRunner as ActionRunner

__all__: list[str] = []
