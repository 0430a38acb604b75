"""Consent gating: a destination or tag gets an event only when every purpose it needs is
granted.

The rules, decided once per tag at build time and applied per event:

- a purpose is granted only when the visitor's consent says ``true`` for it (Segment's
  ``context.consent.categoryPreferences``); missing, ``false`` or anything else is not granted,
  and an event without consent information grants nothing;
- a Global Privacy Control signal (``context.gpc`` true, ``1``, ``"1"`` or ``"true"``) revokes
  every purpose marked ``sale_sharing`` in the container;
- needing no purpose at all means the event always passes (strictly necessary processing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from ._config import ConsentConfig

__all__ = ["ConsentRequirement", "check_purposes"]


@frozen
class ConsentRequirement:
    """The purposes one route needs, and whether GPC opts out of any of them."""

    purposes: tuple[str, ...]
    sale_sharing: bool = False

    @classmethod
    def build(cls, names: Iterable[str], consent: ConsentConfig) -> ConsentRequirement:
        """The requirement for ``names`` (duplicates removed, order kept)."""
        purposes = tuple(dict.fromkeys(names))
        sale = any(
            (p := consent.purposes.get(name)) is not None and p.sale_sharing for name in purposes
        )
        return cls(purposes, sale)

    def allows(self, consent: Mapping[str, Any] | None, gpc: bool = False) -> bool:
        """Whether a visitor with these ``consent`` choices (and GPC signal) may be sent to."""
        if not self.purposes:
            return True
        if consent is None or (gpc and self.sale_sharing):
            return False
        return all(consent.get(p) is True for p in self.purposes)


def check_purposes(names: Iterable[Any], consent: ConsentConfig, path: str) -> list[str]:
    """Problems with the purpose names a tag or destination lists, as ``path[i]: ...``.

    Names must be strings; when the container declares purposes, each must be one of them.
    """
    errors: list[str] = []
    declared = consent.purposes
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            errors.append(f"{path}[{i}]: a purpose name must be a non-empty string")
        elif declared and name not in declared:
            known = ", ".join(sorted(declared))
            errors.append(
                f'{path}[{i}]: unknown consent purpose "{name}" (declared: {known}; add '
                f"[consent.purposes.{name}] to declare it)"
            )
    return errors
