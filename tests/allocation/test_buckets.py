"""Bucketing properties: distribution, determinism, monotone coverage, namespace exclusivity,
and the query-string override rules."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from persona_sdk.allocation import (
    choose_variation,
    gb_hash,
    get_bucket_ranges,
    get_query_string_override,
    in_namespace,
)
from persona_sdk.allocation._hashing import GROWTHBOOK

IDS = [f"visitor-{i}" for i in range(100_000)]

# chi-square critical values at p = 0.001 by degrees of freedom
CHI2_CRITICAL = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47}


def _chi_square(counts: list[int], expected: list[float]) -> float:
    return sum((c - e) ** 2 / e for c, e in zip(counts, expected, strict=True))


@pytest.mark.parametrize(
    ("weights", "seed"),
    [([0.5, 0.5], "hero-test"), ([0.2, 0.3, 0.5], "checkout"), ([0.25] * 4, "pricing")],
)
def test_allocation_follows_the_weights(weights: list[float], seed: str) -> None:
    """Over 100,000 ids, hash v2 assignments match the weights (chi-square, p > 0.001)."""
    ranges = get_bucket_ranges(len(weights), 1.0, weights)
    bucket = GROWTHBOOK.bucketer(seed, 2)
    assert bucket is not None
    counts = [0] * len(weights)
    for visitor in IDS:
        counts[choose_variation(bucket(visitor), ranges)] += 1
    expected = [w * len(IDS) for w in weights]
    assert _chi_square(counts, expected) < CHI2_CRITICAL[len(weights) - 1]


@settings(max_examples=200)
@given(
    visitor=st.text(min_size=1, max_size=30),
    seed=st.text(max_size=20),
    n=st.integers(min_value=2, max_value=6),
)
def test_assignment_is_deterministic(visitor: str, seed: str, n: int) -> None:
    """The same visitor, seed and ranges always give the same variation."""
    ranges = get_bucket_ranges(n, 1.0, None)
    first = choose_variation(gb_hash(seed, visitor, 2) or 0.0, ranges)
    assert all(
        choose_variation(gb_hash(seed, visitor, 2) or 0.0, ranges) == first for _ in range(3)
    )
    assert 0 <= first < n


@settings(max_examples=300)
@given(
    visitor=st.text(min_size=1, max_size=30),
    low=st.floats(min_value=0, max_value=1),
    high=st.floats(min_value=0, max_value=1),
    weights=st.lists(st.integers(min_value=1, max_value=10), min_size=2, max_size=5),
)
def test_raising_coverage_never_moves_an_included_visitor(
    visitor: str, low: float, high: float, weights: list[int]
) -> None:
    """A visitor included at some coverage keeps the same variation at any higher coverage."""
    low, high = min(low, high), max(low, high)
    total = sum(weights)
    w = [x / total for x in weights]
    n = gb_hash("coverage", visitor, 2)
    assert n is not None
    before = choose_variation(n, get_bucket_ranges(len(w), low, w))
    after = choose_variation(n, get_bucket_ranges(len(w), high, w))
    if before != -1:
        assert after == before


@settings(max_examples=200)
@given(
    visitor=st.text(min_size=1, max_size=30),
    cuts=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=5),
)
def test_namespace_slices_are_mutually_exclusive(visitor: str, cuts: list[float]) -> None:
    """Experiments taking disjoint slices of one namespace never share a visitor."""
    bounds = [0.0, *sorted(cuts), 1.0]
    slices = [("ns", a, b) for a, b in itertools.pairwise(bounds)]
    members = [in_namespace(visitor, list(s)) for s in slices]
    assert sum(members) == 1  # the slices tile [0, 1): exactly one holds the visitor


def test_bucket_ranges_shrink_from_each_start() -> None:
    """Reduced coverage shrinks each variation's range from its own start."""
    assert get_bucket_ranges(2, 0.5) == [(0.0, 0.25), (0.5, 0.75)]
    assert get_bucket_ranges(2, 2.0) == [(0.0, 0.5), (0.5, 1.0)]  # clamped to 1
    assert get_bucket_ranges(2, 1.0, [0.9, 0.9]) == [(0.0, 0.5), (0.5, 1.0)]  # bad weights


@pytest.mark.parametrize(
    ("url", "n", "expected"),
    [
        ("https://shop.example/?cta-test=1", 2, 1),
        ("https://shop.example/?a=b&cta-test=0#frag", 2, 0),
        ("https://shop.example/?cta-test=2", 2, None),
        ("https://shop.example/?cta-test=1abc", 2, 1),  # parseInt reads the leading digits
        ("https://shop.example/?cta-test=x", 2, None),
        ("https://shop.example/?cta-test=1&cta-test=0", 2, 1),  # the first pair counts
        ("https://shop.example/", 2, None),
        (None, 2, None),
    ],
)
def test_query_string_override(url: str | None, n: int, expected: int | None) -> None:
    """?<experiment key>=<index> forces a variation when the index is valid."""
    assert get_query_string_override("cta-test", url, n) == expected
