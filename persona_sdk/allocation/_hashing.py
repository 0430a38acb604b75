"""Deterministic hashing: GrowthBook's FNV-1a v1/v2 and an Optimizely-compatible MurmurHash3.

GrowthBook's browser SDK hashes JavaScript strings, that is UTF-16 code units, so an id with
an emoji (a surrogate pair) hashes over two units. Hashing UTF-8 bytes, as some server SDKs
do, puts such visitors in another bucket than the page does; here the code units are used.

ASCII strings (almost every id) take a fast path: their bytes are their code units, so the
optional C accelerator ``fnv-hash-fast`` can hash them. Without it a pure-Python loop runs.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable

from ..plugins import Bucketer, HashScheme, load_plugin_object

__all__ = [
    "GROWTHBOOK",
    "OPTIMIZELY",
    "Bucketer",
    "GrowthBookHash",
    "HashScheme",
    "OptimizelyHash",
    "fnv1a32",
    "gb_hash",
    "hash_scheme",
    "murmur3_32",
]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
_UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"

_fnv_bytes_c: Callable[[bytes], int] | None
try:  # optional C accelerator (pip install 'persona-sdk-py[speedups]')
    from fnv_hash_fast import fnv1a_32 as _fnv_c

    _fnv_bytes_c = _fnv_c
except ImportError:  # pragma: no cover - exercised when the extra is absent
    _fnv_bytes_c = None


#: The C-accelerated version-2 bucketers and their (ASCII) seeds, for code generated to
#: compute the same hash inline (``v2_seed``).
_V2_SEEDS: weakref.WeakKeyDictionary[Bucketer, bytes] = weakref.WeakKeyDictionary()


def v2_seed(bucketer: Bucketer) -> tuple[Callable[[bytes], int], bytes] | None:
    """For a GrowthBook version-2 bucketer computed with the C FNV-1a: that function and the
    seed's bytes, so that for an ASCII ``value`` the bucket is
    ``(fnv(b"%d" % fnv(seed + value.encode())) % 10000) / 10000``; else None."""
    seed = _V2_SEEDS.get(bucketer)
    if seed is None or _fnv_bytes_c is None:
        return None
    return _fnv_bytes_c, seed


def _fnv_units(units: bytes | memoryview, h: int = _FNV_OFFSET) -> int:
    for c in units:
        h = ((h ^ c) * _FNV_PRIME) & _MASK
    return h


def fnv1a32_py(text: str, h: int = _FNV_OFFSET) -> int:
    """FNV-1a (32 bit) over the UTF-16 code units of ``text``, in pure Python.

    ``h`` continues from a previous state, so a constant prefix (a seed) is hashed once.
    """
    if text.isascii():
        return _fnv_units(text.encode("ascii"), h)
    return _fnv_units(memoryview(text.encode(_UTF16)).cast("H"), h)


def fnv1a32(text: str) -> int:
    """FNV-1a (32 bit) over the UTF-16 code units of ``text`` (as JavaScript's charCodeAt)."""
    if _fnv_bytes_c is not None and text.isascii():
        return _fnv_bytes_c(text.encode("ascii"))
    return fnv1a32_py(text)


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's ``hash(seed, value, version)``: a number in [0, 1), or None for an
    unknown version.

    Version 1 hashes ``value + seed`` modulo 1000 (biased, kept for old experiments);
    version 2 hashes the decimal string of the hash of ``seed + value``, modulo 10000.
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


class GrowthBookHash:
    """GrowthBook's FNV-1a v1/v2 hash, identical to the browser SDK's (UTF-16 code units)."""

    name = "growthbook"

    def bucketer(self, seed: str, version: int) -> Bucketer | None:
        """Precompute what depends on the seed alone; see ``gb_hash`` for the formula."""
        if version == 1:
            return self._v1(seed)
        if version == 2:
            return self._v2(seed)
        return None

    @staticmethod
    def _v1(seed: str) -> Bucketer:
        # value + seed: the seed comes last, so there is no prefix state to keep.
        if _fnv_bytes_c is not None:
            c = _fnv_bytes_c
            seed_ascii = seed.isascii()

            def v1_c(value: str) -> float:
                if seed_ascii and value.isascii():
                    return (c((value + seed).encode()) % 1000) / 1000
                return (fnv1a32_py(value + seed) % 1000) / 1000

            return v1_c

        def v1(value: str) -> float:
            return (fnv1a32_py(value + seed) % 1000) / 1000

        return v1

    @staticmethod
    def _v2(seed: str) -> Bucketer:
        if _fnv_bytes_c is not None:
            c = _fnv_bytes_c
            if seed.isascii():
                seed_bytes = seed.encode()

                def v2_c(value: str) -> float:
                    # ASCII text is its own UTF-8 (and UTF-16 code units): encode() is exact
                    if value.isascii():
                        return (c(b"%d" % c(seed_bytes + value.encode())) % 10000) / 10000
                    return (c(b"%d" % fnv1a32_py(seed + value)) % 10000) / 10000

                _V2_SEEDS[v2_c] = seed_bytes
                return v2_c

            def v2_c_unicode_seed(value: str) -> float:
                return (c(b"%d" % fnv1a32_py(seed + value)) % 10000) / 10000

            return v2_c_unicode_seed

        # seed + value: the seed is a prefix, so its FNV state is computed once here.
        state = fnv1a32_py(seed)

        def v2(value: str) -> float:
            return (fnv1a32_py(str(fnv1a32_py(value, state))) % 10000) / 10000

        return v2


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of ``data`` (unsigned), as Optimizely's SDKs compute it."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _MASK
    n = len(data)
    end = n - (n & 3)
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * c2) & _MASK
        h ^= k
        h = ((h << 13) | (h >> 19)) & _MASK
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = n & 3
    if tail:
        k = int.from_bytes(data[end:], "little")
        k = (k * c1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * c2) & _MASK
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


class OptimizelyHash:
    """Optimizely's bucketing, so teams that migrate keep every visitor's bucket.

    The bucketing key is the visitor's id followed by the experiment id (put the Optimizely
    experiment id in the experiment's ``seed``); MurmurHash3 x86 32-bit with seed 1 over its
    UTF-8 bytes gives a bucket in 0..9999, returned as ``bucket / 10000``. Optimizely's
    ``endOfRange`` traffic allocation maps to ranges with ``ranges_from_optimizely``.
    ``version`` is ignored.
    """

    name = "optimizely"
    seed = 1
    buckets = 10_000

    def bucketer(self, seed: str, version: int) -> Bucketer | None:
        """The per-visitor function for one Optimizely experiment id."""
        suffix = seed.encode("utf-8")
        hash_seed = self.seed
        buckets = self.buckets

        def optimizely(value: str) -> float:
            h = murmur3_32(value.encode("utf-8") + suffix, hash_seed)
            return ((h * buckets) >> 32) / buckets

        return optimizely


GROWTHBOOK = GrowthBookHash()
OPTIMIZELY = OptimizelyHash()
_BUILTIN: dict[str, HashScheme] = {GROWTHBOOK.name: GROWTHBOOK, OPTIMIZELY.name: OPTIMIZELY}


def hash_scheme(name: str) -> HashScheme:
    """The hash scheme called ``name``: built in, or loaded from the
    ``persona_sdk.hash_schemes`` entry point group (the entry point is the scheme object or
    a factory taking no argument). Raises ``PluginError`` when it cannot be found."""
    found = _BUILTIN.get(name)
    if found is not None:
        return found
    scheme: HashScheme = load_plugin_object("persona_sdk.hash_schemes", name)
    return scheme
