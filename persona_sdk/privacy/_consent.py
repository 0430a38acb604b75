"""Consent gating: a destination or tag gets an event only when every purpose it needs is
granted.

The rules, decided once per tag at build time and applied per event:

- a purpose is granted only when the visitor's consent says ``true`` for it (Segment's
  ``context.consent.categoryPreferences``); missing, ``false`` or anything else is not granted,
  and an event without consent information grants nothing;
- a Global Privacy Control signal (``context.gpc``: any value but an explicit "no" such as
  ``false``, ``0`` or ``"false"``; see :func:`gpc_signal`) revokes every purpose marked
  ``sale_sharing`` in the container;
- needing no purpose at all means the event always passes (strictly necessary processing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from ..config import ConsentConfig

__all__ = ["ConsentRequirement", "check_purposes", "gpc_header_signal", "gpc_signal"]

# values that clearly say "no signal"; anything else present errs on the side of privacy
_GPC_OFF = frozenset({"", "0", "false", "no", "off", "none", "null"})


def gpc_signal(value: Any) -> bool:
    """Whether a ``context.gpc`` value is a Global Privacy Control signal.

    Senders disagree on the type (``true``, ``1``, ``1.0``, ``"1"``, ``"True"``), so a doubtful
    value counts as a signal: only absence (``None``), ``false``, zero and a "no" string
    (``"0"``, ``"false"``, ``"no"``, ``"off"``, empty) do not.
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _GPC_OFF
    return True  # a list, an object: doubtful, so a signal


def gpc_header_signal(header: str | None) -> bool:
    """Whether a ``Sec-GPC`` request header signals Global Privacy Control.

    The GPC specification has user agents send ``Sec-GPC: 1`` when the preference is on and no
    header otherwise. Proxies may merge repeated headers (``1, 1``); other values are
    doubtful and count as a signal, except an explicit ``0`` (and an empty value).
    """
    if header is None:
        return False
    return any(gpc_signal(part) for part in header.split(","))


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
