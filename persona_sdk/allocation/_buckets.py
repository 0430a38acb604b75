"""Bucket ranges, choosing a variation, namespaces and query-string overrides.

These follow GrowthBook's SDK specification to the number, so a visitor lands in the same
variation here as in any GrowthBook SDK given the same hash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._hashing import gb_hash

__all__ = [
    "Range",
    "choose_variation",
    "get_bucket_ranges",
    "get_equal_weights",
    "get_query_string_override",
    "in_namespace",
    "in_range",
    "ranges_from_optimizely",
]

#: A half-open interval ``[start, end)`` of [0, 1).
Range = tuple[float, float]

_LEADING_INT = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)")


def get_equal_weights(n: int) -> list[float]:
    """``n`` copies of ``1/n`` (``[]`` when ``n <= 0``)."""
    if n <= 0:
        return []
    return [1 / n] * n


def get_bucket_ranges(
    num_variations: int, coverage: float | None = 1.0, weights: Sequence[float] | None = None
) -> list[Range]:
    """Turn weights and coverage into one range per variation.

    Coverage is clamped to [0, 1]; weights that are missing, of the wrong length or that do
    not sum to 1 (±0.01) are replaced by equal weights. Reduced coverage shrinks each range
    from its own start, so raising coverage never moves a visitor who was already included.
    """
    cov = 1.0 if coverage is None else min(max(float(coverage), 0.0), 1.0)
    equal = get_equal_weights(num_variations)
    w: Sequence[float] = weights if weights is not None else equal
    if len(w) != num_variations:
        w = equal
    total = sum(w)
    if total < 0.99 or total > 1.01:
        w = equal
    out: list[Range] = []
    cumulative = 0.0
    for weight in w:
        start = cumulative
        cumulative += weight
        out.append((start, start + cov * weight))
    return out


def in_range(n: float, r: Sequence[float]) -> bool:
    """Whether ``n`` is in the half-open range ``[r[0], r[1])``."""
    return r[0] <= n < r[1]


def choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    """The index of the first range holding ``n``, or -1 (zero-width ranges never match)."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1


def in_namespace(hash_value: str, namespace: Sequence[Any]) -> bool:
    """Whether a visitor falls in ``[namespace_id, start, end]``: mutually exclusive
    experiments share a namespace id and take disjoint slices of it."""
    n = gb_hash("__" + str(namespace[0]), hash_value, 1)
    return n is not None and namespace[1] <= n < namespace[2]


def _parse_int(text: str) -> int | None:
    # JavaScript's parseInt: the leading integer, if any ("2.054" -> 2, "foo" -> NaN)
    m = _LEADING_INT.match(text)
    return int(m.group(1)) if m else None


def get_query_string_override(key: str, url: str | None, num_variations: int) -> int | None:
    """The variation forced by ``?<key>=<index>`` in ``url``, or None.

    Only the first ``key=`` pair counts; its value is read as JavaScript's ``parseInt``
    would and must be an index below ``num_variations``.
    """
    if not url:
        return None
    parts = url.split("?")
    if len(parts) < 2 or not parts[1]:
        return None
    search = parts[1].split("#", 1)[0]
    for pair in search.split("&"):
        k, _, v = pair.partition("=")
        if k == key:
            found = _parse_int(v)
            if found is not None and 0 <= found < num_variations:
                return found
            return None
    return None


def ranges_from_optimizely(
    traffic_allocation: Sequence[Mapping[str, Any]], variation_ids: Sequence[str]
) -> list[list[float]]:
    """Convert Optimizely's ``trafficAllocation`` (``entityId`` + ``endOfRange`` out of
    10,000) into one ``[start, end]`` range per variation id, for an experiment that uses
    the ``optimizely`` hash scheme. Variations absent from the allocation get ``[0, 0]``."""
    found: dict[str, list[float]] = {}
    start = 0
    for slot in traffic_allocation:
        end = int(slot["endOfRange"])
        entity = str(slot["entityId"])
        if entity and entity not in found:
            found[entity] = [start / 10_000, end / 10_000]
        start = end
    return [found.get(str(v), [0.0, 0.0]) for v in variation_ids]
