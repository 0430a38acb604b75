"""Call-side checks of what events carry besides their payload: ids and ``integrations``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._errors import EventValidationError

__all__ = ["check_integrations", "coerce_id", "integration_enabled"]


def coerce_id(field: str, value: Any) -> str:
    """An id as it goes on the wire: always a string.

    Numbers become their decimal text (``123`` -> ``"123"``), as Segment's libraries do;
    anything else (a bool, a NaN, a dict...) raises ``EventValidationError`` naming ``field``.
    Callers only come here when ``value`` is not already a ``str``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise EventValidationError(field, f"expected a string (or a number), got {value!r}")


def check_integrations(value: Any) -> dict[str, Any]:
    """Segment's ``integrations`` object as given to a call: a mapping of destination name
    to ``true``/``false`` (or that destination's options), plus ``All``."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise EventValidationError(
            "integrations", 'expected a mapping like {"All": false, "Mixpanel": true}'
        )
    return dict(value)


def integration_enabled(integrations: Mapping[str, Any], destination: str) -> bool:
    """Whether Segment's ``integrations`` object lets an event go to ``destination``.

    As Segment reads it: the destination's own entry decides when present (``false`` is off;
    ``true`` or an options object is on); otherwise ``All`` decides, and ``All`` defaults to
    on. Names match exactly (case-sensitive), as Segment's destination names do.
    """
    own = integrations.get(destination)
    if own is None:
        return integrations.get("All", True) is not False
    return own is not False
