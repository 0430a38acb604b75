"""What this process knows of the visitors it holds: segment members, one visitor's record,
kept memberships, attribution summed over them (``ProfileResolver``'s operator reads)."""

from __future__ import annotations

from typing import Any

from ._membership import trait_value
from ._readpath import ReadPath
from ._state import ProfileState

__all__ = ["HeldVisitors"]


class HeldVisitors:
    """Reads over the visitors held in this process (none is on a hot path).

    Args:
        state: the resolver's state (membership memory, identity links, settings, clock).
        read: the resolver's read path (a record reads the visitor's profile).
    """

    def __init__(self, state: ProfileState, read: ReadPath) -> None:
        self._st = state
        self._read = read

    def members_of(self, segment: str, limit: int = 1000) -> list[str]:
        """Canonical ids of visitors held in this process who are in ``segment`` (at most
        ``limit``, most recently seen last)."""
        st = self._st
        with st.lock:
            items = list(st.members.items())
        out = [key for key, m in items if segment in m.members]
        return out[-limit:] if limit else out

    def record(
        self, *, anonymous_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any] | None:
        """What is known of a visitor, unfiltered: ``id``, ``traits``, ``computed``,
        ``segments``, ``consent`` (the last seen), ``source``; None when nothing is."""
        from ._types import ProfileReason

        st = self._st
        key, _ = st.ids.canonical(anonymous_id, user_id)
        if not key:
            return None
        with st.lock:
            m = st.members.get(key)
            held = key in st.local
        consent = None if m is None else m.consent
        profile = self._read.resolve(anonymous_id=anonymous_id, user_id=user_id, consent=consent)
        unknown = (
            ProfileReason.NOT_FOUND in profile.reasons
            or ProfileReason.NO_SOURCE in profile.reasons
            or profile.source.value == "fallback"
        )
        if unknown and m is None and not held:
            return None
        return {
            "id": key,
            "traits": dict(profile.traits),
            "computed": dict(profile.computed),
            "segments": sorted(m.names) if m is not None else [],
            "consent": dict(consent) if consent is not None else None,
            "source": profile.source.value,
        }

    def membership(self, key: str) -> frozenset[str] | None:
        """A visitor's kept segments by canonical id (None when not held)."""
        st = self._st
        with st.lock:
            m = st.members.get(key)
        return None if m is None else m.names

    def attribution_report(self, trait: str | None = None) -> dict[str, Any]:
        """Credit per model and channel summed over the visitors held in this process, from
        the ``attribution`` computed trait named ``trait`` (default: the first one)."""
        from ._attribution import merge_reports

        st = self._st
        s = st.settings
        specs = [sp for sp in s.computed.specs if sp.kind.value == "attribution"]
        spec = next((sp for sp in specs if trait in (None, sp.name)), None)
        if spec is None:
            raise KeyError(f"no attribution computed trait {trait or ''}".rstrip())
        now = st.clock()
        with st.lock:
            states = list(st.local.values())
            values = [trait_value(st, spec, now) for st in states]
        report = merge_reports(v for v in values if v)
        report["trait"] = spec.name
        return report
