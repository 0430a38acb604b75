"""Allocation: hashing, bucket ranges, namespaces, URL targeting and sticky bucketing.

The pieces GrowthBook's SDKs share, to the number, so a server decision equals the browser's::

    from persona_sdk.allocation import gb_hash, get_bucket_ranges, choose_variation

    n = gb_hash("my-experiment", "visitor-1", 2)          # in [0, 1)
    choose_variation(n, get_bucket_ranges(2, coverage=0.5))  # 0, 1 or -1 (not included)

Features and experiments use these through ``persona_sdk.decisions``; see
``docs/decisions.md``.
"""

from ._buckets import choose_variation, get_bucket_ranges, ranges_from_optimizely
from ._hashing import HashScheme, gb_hash
from ._sticky import (
    AsyncStickyBucketStore,
    InMemoryStickyBucketStore,
    StickyAssignments,
    StickyBucketStore,
    decode_sticky_cookies,
    encode_sticky_cookies,
    sticky_key,
)

# isort: split
# For the decision engine and content strategies only: not public (not in __all__).
from ._buckets import get_equal_weights as get_equal_weights
from ._buckets import get_query_string_override as get_query_string_override
from ._buckets import in_namespace as in_namespace
from ._hashing import Bucketer as Bucketer
from ._hashing import fnv1a32 as fnv1a32
from ._hashing import hash_scheme as hash_scheme
from ._hashing import murmur3_32 as murmur3_32
from ._hashing import v2_seed as v2_seed
from ._urls import compile_url_targets as compile_url_targets
from ._urls import merge_query_strings as merge_query_strings

__all__ = [
    "AsyncStickyBucketStore",
    "HashScheme",
    "InMemoryStickyBucketStore",
    "StickyAssignments",
    "StickyBucketStore",
    "choose_variation",
    "decode_sticky_cookies",
    "encode_sticky_cookies",
    "gb_hash",
    "get_bucket_ranges",
    "ranges_from_optimizely",
    "sticky_key",
]
