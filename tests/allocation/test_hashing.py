"""Hashing: FNV-1a over UTF-16 code units (as GrowthBook's browser SDK), the C fast path
agreeing with pure Python, pluggable schemes, and Optimizely's MurmurHash3 bucketing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persona_sdk import PluginError
from persona_sdk.allocation import (
    HashScheme,
    _hashing,
    fnv1a32,
    gb_hash,
    hash_scheme,
    ranges_from_optimizely,
)
from persona_sdk.allocation._hashing import GROWTHBOOK, OPTIMIZELY, murmur3_32


def reference_fnv_utf16(text: str) -> int:
    """FNV-1a over UTF-16 code units, written from the definition (surrogate pairs split)."""
    h = 0x811C9DC5
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            units = [0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)]
        else:
            units = [cp]
        for unit in units:
            h = ((h ^ unit) * 16777619) % 2**32
    return h


@given(st.text())
def test_fnv_hashes_utf16_code_units_for_any_string(text: str) -> None:
    """fnv1a32 equals a reference loop over UTF-16 code units, for any text."""
    assert fnv1a32(text) == reference_fnv_utf16(text)
    assert _hashing.fnv1a32_py(text) == reference_fnv_utf16(text)


@given(st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), min_size=1))
def test_non_bmp_strings_hash_over_surrogate_pairs(text: str) -> None:
    """Astral characters (emoji) hash as their two UTF-16 code units each."""
    assert fnv1a32(text) == reference_fnv_utf16(text)
    assert gb_hash("seed", text, 2) == gb_hash("seed", text, 2)


def test_an_emoji_id_hashes_like_the_browser() -> None:
    """'👍' is the surrogate pair D83D DC4D in JavaScript: the hash follows those units,
    not the UTF-8 bytes (where Python SDKs differ from the browser)."""
    h = 0x811C9DC5
    for unit in (0xD83D, 0xDC4D):
        h = ((h ^ unit) * 16777619) % 2**32
    assert fnv1a32("👍") == h
    assert fnv1a32("👍") != _hashing._fnv_units("👍".encode())


@given(st.text(max_size=40), st.text(max_size=40), st.sampled_from([1, 2]))
def test_bucketers_agree_with_the_formula(seed: str, value: str, version: int) -> None:
    """The precomputed per-seed bucketers (C or pure Python) give gb_hash's number."""
    bucketer = GROWTHBOOK.bucketer(seed, version)
    assert bucketer is not None
    assert bucketer(value) == gb_hash(seed, value, version)


@given(st.text(max_size=40), st.text(max_size=40), st.sampled_from([1, 2]))
def test_pure_python_bucketers_agree(seed: str, value: str, version: int) -> None:
    """Without the C accelerator, the pure-Python bucketers give the same numbers."""
    saved = _hashing._fnv_bytes_c
    try:
        _hashing._fnv_bytes_c = None
        bucketer = _hashing.GrowthBookHash().bucketer(seed, version)
        assert bucketer is not None
        assert bucketer(value) == gb_hash(seed, value, version)
    finally:
        _hashing._fnv_bytes_c = saved


@given(st.text(max_size=30), st.text(max_size=30))
def test_hash_is_deterministic_and_in_unit_interval(seed: str, value: str) -> None:
    """The same input always gives the same number, in [0, 1)."""
    for version in (1, 2):
        n = gb_hash(seed, value, version)
        assert n is not None
        assert 0 <= n < 1
        assert gb_hash(seed, value, version) == n


def test_unknown_versions_give_none() -> None:
    """Only versions 1 and 2 exist; anything else is None (the visitor is not bucketed)."""
    assert gb_hash("a", "b", 3) is None
    assert GROWTHBOOK.bucketer("a", 99) is None


def test_murmur3_known_vectors() -> None:
    """MurmurHash3 x86 32-bit matches its published test vectors."""
    assert murmur3_32(b"", 0) == 0
    assert murmur3_32(b"", 1) == 0x514E28B7
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog", 0) == 0x2E4FF723
    assert murmur3_32(b"Hello, world!", 0x9747B28C) == 0x24884CBA
    assert murmur3_32(b"aaaa", 0x9747B28C) == 0x5A97808A


def test_optimizely_scheme_reproduces_optimizely_buckets() -> None:
    """user id + experiment id, MurmurHash3 seed 1, 10,000 buckets (Optimizely's vectors)."""
    bucket = OPTIMIZELY.bucketer("1886780721", 1)
    assert bucket is not None
    cases = {
        "ppid1": 5254,
        "ppid2": 4299,
        "ppid3": 5439,
        "a very very very very very very very very very very very very very very very "
        "long ppd string": 6128,
    }
    for user, expected in cases.items():
        assert round(bucket(user) * 10_000) == expected
    other = OPTIMIZELY.bucketer("1886780722", 1)
    assert other is not None
    assert round(other("ppid2") * 10_000) == 2434


def test_optimizely_traffic_allocation_becomes_ranges() -> None:
    """endOfRange allocations map to [start, end) ranges in variation order."""
    allocation = [{"entityId": "b", "endOfRange": 5000}, {"entityId": "a", "endOfRange": 10000}]
    assert ranges_from_optimizely(allocation, ["a", "b", "c"]) == [
        [0.5, 1.0],
        [0.0, 0.5],
        [0.0, 0.0],
    ]


def test_schemes_are_found_by_name_and_unknown_names_fail() -> None:
    """Built-in schemes are found by name; an unknown one is a PluginError naming the group."""
    assert hash_scheme("growthbook") is GROWTHBOOK
    assert isinstance(hash_scheme("optimizely"), HashScheme)
    with pytest.raises(PluginError, match=r"persona_sdk\.hash_schemes"):
        hash_scheme("no-such-scheme")
