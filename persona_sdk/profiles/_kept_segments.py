"""``visitor.segments`` through the membership ``Audience`` keeps per visitor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._segments import Segments

__all__ = ["KeptSegments"]


class KeptSegments:
    """``visitor.segments`` through the membership kept per visitor (what
    ``Audience.visitor_segments`` returns; see ``persona_sdk._ports.VisitorSegments``)."""

    __slots__ = ("_kept", "_segments", "evaluate")

    def __init__(
        self, segments: Segments, kept: Callable[..., frozenset[str]]
    ) -> None:
        self._segments = segments
        self._kept = kept
        #: the conditions alone, nothing remembered (``Segments.evaluate``)
        self.evaluate = segments.evaluate

    def of_visitor(
        self,
        attributes: Mapping[str, Any],
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> frozenset[str]:
        """The visitor's kept segments, re-evaluating only what changed (emits changes)."""
        return self._kept(
            self._segments, attributes, anonymous_id=anonymous_id, user_id=user_id,
            consent=consent,
        )
