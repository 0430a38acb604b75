"""Content personalization: a catalog, placements and strategies, frequency caps.

See ``docs/personalization.md``.
"""

from ._counters import InMemoryCounterStore

__all__ = ["InMemoryCounterStore"]
