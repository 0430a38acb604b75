"""Allocation: hashing, bucket ranges, namespaces, URL targeting and sticky bucketing.

The pieces GrowthBook's SDKs share, to the number, so a server decision equals the browser's::

    from persona_sdk.allocation import gb_hash, get_bucket_ranges, choose_variation

    n = gb_hash("my-experiment", "visitor-1", 2)          # in [0, 1)
    choose_variation(n, get_bucket_ranges(2, coverage=0.5))  # 0, 1 or -1 (not included)

Features and experiments use these through ``persona_sdk.decisions``; see
``docs/decisions.md``.
"""

from ._buckets import (
    Range,
    choose_variation,
    get_bucket_ranges,
    get_equal_weights,
    get_query_string_override,
    in_namespace,
    in_range,
    ranges_from_optimizely,
)
from ._hashing import (
    GROWTHBOOK,
    OPTIMIZELY,
    Bucketer,
    GrowthBookHash,
    HashScheme,
    OptimizelyHash,
    fnv1a32,
    gb_hash,
    hash_scheme,
    murmur3_32,
)

# for the decision fast path (not part of the public surface)
from ._hashing import v2_seed as v2_seed
from ._sticky import (
    STICKY_COOKIE_PREFIX,
    AsyncStickyBucketStore,
    InMemoryStickyBucketStore,
    StickyAssignments,
    StickyBucketStore,
    decode_sticky_cookies,
    encode_sticky_cookies,
    sticky_key,
)
from ._urls import compile_url_targets, merge_query_strings

__all__ = [
    "GROWTHBOOK",
    "OPTIMIZELY",
    "STICKY_COOKIE_PREFIX",
    "AsyncStickyBucketStore",
    "Bucketer",
    "GrowthBookHash",
    "HashScheme",
    "InMemoryStickyBucketStore",
    "OptimizelyHash",
    "Range",
    "StickyAssignments",
    "StickyBucketStore",
    "choose_variation",
    "compile_url_targets",
    "decode_sticky_cookies",
    "encode_sticky_cookies",
    "fnv1a32",
    "gb_hash",
    "get_bucket_ranges",
    "get_equal_weights",
    "get_query_string_override",
    "hash_scheme",
    "in_namespace",
    "in_range",
    "merge_query_strings",
    "murmur3_32",
    "ranges_from_optimizely",
    "sticky_key",
]
