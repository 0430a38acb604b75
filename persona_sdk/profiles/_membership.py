"""One visitor's kept segment membership, and the values segments read from computed traits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._computed import TraitSpec, VisitorState

__all__ = ["MAX_ATTRS", "OWN_EVENTS", "Membership", "capped", "trait_value"]

#: most attribute keys a membership keeps (request attributes are caller-controlled)
MAX_ATTRS = 256
#: events this layer emits: they never re-trigger segment evaluation
OWN_EVENTS = frozenset({"Segment Entered", "Segment Exited", "Lifecycle Stage Changed"})


class Membership:
    """One visitor's segments and what they were evaluated on."""

    __slots__ = (
        "_frozen",
        "anonymous_id",
        "attrs",
        "checked",
        "consent",
        "generation",
        "members",
        "user_id",
    )

    def __init__(  # noqa: PLR0917 - a plain record
        self,
        names: frozenset[str],
        attrs: dict[str, Any],
        checked: float,
        consent: Mapping[str, bool] | None,
        anonymous_id: str | None,
        user_id: str | None,
    ) -> None:
        #: the member names, changed in place under the resolver's lock
        self.members: set[str] = set(names)
        self._frozen: frozenset[str] | None = names
        self.attrs = attrs
        self.checked = checked  # when the time-dependent segments were last evaluated
        self.consent = dict(consent) if consent is not None else None
        self.anonymous_id = anonymous_id
        self.user_id = user_id
        self.generation = 0  # the segments' generation it was evaluated with

    @property
    def names(self) -> frozenset[str]:
        """The member names, as a frozenset built once per change (reads are lookups)."""
        frozen = self._frozen
        if frozen is None:
            frozen = self._frozen = frozenset(self.members)
        return frozen

    @names.setter
    def names(self, value: frozenset[str]) -> None:
        self.members = set(value)
        self._frozen = value

    def changed(self) -> None:
        """Note that ``members`` changed (the next read builds a new frozenset)."""
        self._frozen = None


def trait_value(state: VisitorState, spec: TraitSpec, now: float) -> Any:
    """One computed trait's value at ``now``: own events plus peers' (None when unknown)."""
    st = state.computed.get(spec.name)
    peers = state.peers
    if peers:
        for other in peers.values():
            if spec.name in other:
                st = spec.merge(st, other[spec.name])
    return None if st is None else spec.read(st, now)


def capped(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs``, keeping at most ``MAX_ATTRS`` keys (request attributes are caller-controlled)."""
    if len(attrs) <= MAX_ATTRS:
        return dict(attrs)
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if len(out) >= MAX_ATTRS:
            break
        out[k] = v
    return out
