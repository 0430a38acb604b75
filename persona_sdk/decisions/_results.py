"""What a decision returns: ``FeatureResult``, ``ExperimentResult`` and the ``Reason`` enum.

Results are immutable msgspec structs: cheap to build on the hot path and encodable as they
are. ``to_growthbook()`` gives GrowthBook's camelCase shapes (what its SDKs and the shared
conformance suite use).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

from .._strenum import StrEnum

__all__ = ["ExperimentResult", "FeatureResult", "FeatureSource", "Reason"]

T = TypeVar("T")


class FeatureSource(StrEnum):
    """Where a feature's value came from (GrowthBook's ``source`` strings)."""

    UNKNOWN_FEATURE = "unknownFeature"
    DEFAULT_VALUE = "defaultValue"
    FORCE = "force"
    EXPERIMENT = "experiment"
    PREREQUISITE = "prerequisite"
    CYCLIC_PREREQUISITE = "cyclicPrerequisite"


class Reason(StrEnum):
    """Why a decision came out as it did. A closed set: compare with the members."""

    # how a value was decided
    DEFAULT = "default"  #: no rule applied: the feature's default value
    UNKNOWN_FEATURE = "unknown_feature"  #: the key is not in the container
    TARGETING_MATCH = "targeting_match"  #: a force rule's condition and rollout passed
    SPLIT = "split"  #: assigned a variation by hashing
    STICKY_BUCKET = "sticky_bucket"  #: the variation came from a stored sticky bucket
    FORCED = "forced"  #: a forced variation (visitor, container or experiment ``force``)
    URL_OVERRIDE = "url_override"  #: ``?<experiment>=<index>`` in the visitor's URL
    PREREQUISITE_FAILED = "prerequisite_failed"  #: a gating prerequisite feature failed
    CYCLIC_PREREQUISITE = "cyclic_prerequisite"  #: prerequisites form a cycle
    # why a visitor is not in an experiment
    UNKNOWN_EXPERIMENT = "unknown_experiment"
    EARLIER_RULE = "earlier_rule"  #: an earlier rule of the feature decided first
    TOO_FEW_VARIATIONS = "too_few_variations"
    DISABLED = "disabled"  #: experiments are switched off (``decisions.enabled``)
    URL_TARGETING = "url_targeting"  #: the visitor's URL does not match ``urlPatterns``
    INACTIVE = "inactive"  #: the experiment is inactive, a draft or stopped
    NO_HASH_ATTRIBUTE = "no_hash_attribute"  #: the visitor lacks the attribute to hash
    FILTERED = "filtered"  #: excluded by the experiment's filters
    NAMESPACE = "namespace"  #: outside the experiment's namespace slice
    CONDITION = "condition"  #: the targeting condition failed
    INVALID_HASH_VERSION = "invalid_hash_version"
    COVERAGE = "coverage"  #: the hash fell outside every variation's range
    STICKY_VERSION_BLOCKED = "sticky_version_blocked"  #: bucketed in a blocked version
    QA_MODE = "qa_mode"  #: QA mode: only forced variations apply
    # circumstances
    FALLBACK_PROFILE = "fallback_profile"  #: the profile is a fallback (its source failed)
    STALE_PROFILE = "stale_profile"  #: the profile came from a stale cache entry
    STICKY_UNAVAILABLE = "sticky_unavailable"  #: the sticky-bucket store could not be used


# Both result types are gc=False: made on every decision, untracked structs are cheaper to make
# and free, and no cycle can go through one: a result holds only container values and results.
class ExperimentResult(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A visitor's assignment in one experiment.

    ``value`` is the assigned variation's value (the control's when ``in_experiment`` is
    False, with ``reason`` saying why). ``variation_key``/``variation_name`` come from the
    experiment's ``meta`` (the key defaults to the index as a string).
    """

    experiment_key: str
    value: T
    in_experiment: bool
    variation_id: int
    variation_key: str
    reason: Reason
    variation_name: str | None = None
    experiment_name: str | None = None
    feature_id: str | None = None
    hash_used: bool = False
    hash_attribute: str = "id"
    hash_value: Any = None
    bucket: float | None = None
    sticky_bucket_used: bool = False
    passthrough: bool = False
    leaf_id: int | None = None
    variation_weights: list[float] | None = None
    bandit_version: Any = None

    def to_growthbook(self) -> dict[str, Any]:
        """GrowthBook's ``Result`` shape (camelCase; absent fields omitted)."""
        out: dict[str, Any] = {
            "key": self.variation_key,
            "featureId": self.feature_id,
            "inExperiment": self.in_experiment,
            "hashUsed": self.hash_used,
            "variationId": self.variation_id,
            "value": self.value,
            "hashAttribute": self.hash_attribute,
            "hashValue": self.hash_value,
            "stickyBucketUsed": self.sticky_bucket_used,
        }
        if self.variation_name:
            out["name"] = self.variation_name
        if self.bucket is not None:
            out["bucket"] = self.bucket
        if self.passthrough:
            out["passthrough"] = True
        if self.leaf_id is not None:
            out["leafId"] = self.leaf_id
            out["variationWeights"] = self.variation_weights
            if self.bandit_version is not None:
                out["banditVersion"] = self.bandit_version
        return out


class FeatureResult(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A feature's value for one visitor, and why.

    ``on`` follows JavaScript truthiness as GrowthBook does (``0``, ``""``, ``None`` and
    ``False`` are off; ``[]`` and ``{}`` are on). ``experiment`` (GrowthBook's experiment
    definition, read-only) and ``variation`` are set when ``source`` is ``EXPERIMENT``.
    """

    key: str
    value: T
    on: bool
    source: FeatureSource
    reasons: tuple[Reason, ...]
    rule_id: str = ""
    experiment: Mapping[str, Any] | None = None
    variation: ExperimentResult[T] | None = None

    @property
    def off(self) -> bool:
        """The opposite of ``on``."""
        return not self.on

    def to_growthbook(self) -> dict[str, Any]:
        """GrowthBook's ``FeatureResult`` shape (``experiment``/``experimentResult`` only
        when the value came from an experiment)."""
        out: dict[str, Any] = {
            "value": self.value,
            "on": self.on,
            "off": not self.on,
            "source": self.source.value,
            "ruleId": self.rule_id,
        }
        if self.experiment is not None:
            out["experiment"] = dict(self.experiment)
        if self.variation is not None:
            out["experimentResult"] = self.variation.to_growthbook()
        return out
