"""Options of a plugin: loading them with precise error paths, per-destination privacy
overrides, rejection counters."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

from attrs import Factory, fields, frozen

from ...config import structure
from ...privacy import PrivacyPolicy, check_path
from .. import PiiAction, PiiConfig, PiiKind, PiiRules

__all__ = [
    "PolicyTransform",
    "PrivacyOptions",
    "Rejections",
    "load_options",
    "option_errors",
    "parse_iso",
    "privacy_policy",
]

T = TypeVar("T")


@frozen(kw_only=True)
class PrivacyOptions:
    """Per-destination privacy overrides, shared by every built-in destination's options.

    ``pii`` replaces the container's ``pii.action`` (``hash``, ``remove`` or ``keep``);
    ``truncate_ip`` replaces ``pii.truncate_ip``; ``remove`` and ``pii_fields`` add to the
    container's lists.
    """

    pii: PiiAction | None = None
    truncate_ip: bool | None = None
    remove: list[str] = Factory(list)
    pii_fields: dict[str, PiiKind] = Factory(dict)


def load_options(cls: type[T], options: Mapping[str, Any] | None) -> T:
    """Structure ``options`` into ``cls``; ``ConfigError`` paths are relative to ``options``
    (``url: required field is missing``), as ``DestinationFactory`` requires."""
    return structure(dict(options or {}), cls)


def option_errors(value: Any) -> list[str]:
    """Problems shared by every destination's options (bad privacy paths, non-positive
    timeouts); a destination adds its own and raises them all in one ``ConfigError``."""
    errors: list[str] = []
    if isinstance(value, PrivacyOptions):
        for i, path in enumerate(value.remove):
            problem = check_path(path)
            if problem:
                errors.append(f"remove[{i}]: {problem}")
        for path in value.pii_fields:
            problem = check_path(path)
            if problem:
                errors.append(f"pii_fields.{path}: {problem}")
    for f in fields(type(value)):
        v = getattr(value, f.name)
        if f.name in ("timeout", "interval") and isinstance(v, (int, float)) and v <= 0:
            errors.append(f"{f.name}: must be positive, got {v}")
        if f.name == "max_events" and isinstance(v, int) and v < 1:
            errors.append(f"max_events: must be at least 1, got {v}")
    return errors


def privacy_policy(
    options: PrivacyOptions, pii: PiiConfig | None, rules: PiiRules | str = PiiRules.META
) -> PrivacyPolicy:
    """The destination's compiled privacy policy: the container's ``pii`` plus its options."""
    return PrivacyPolicy.from_config(
        pii,
        action=options.pii,
        truncate_ip=options.truncate_ip,
        remove=options.remove,
        fields=options.pii_fields,
        rules=rules,
    )


class PolicyTransform:
    """For destinations whose ``transform`` is their privacy policy and nothing else: the
    Segment event as is once the policy applied; ``passthrough`` when no rule applies."""

    policy: PrivacyPolicy

    @property
    def passthrough(self) -> bool:
        """``transform`` returns the event unchanged (no privacy rule applies): the router may
        hand over the Segment JSON encoded once for every destination that gets it."""
        return self.policy.is_noop

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The Segment event, after this destination's privacy policy."""
        return self.policy.apply(event)


class Rejections:
    """Events a destination refused to send (``transform`` returned ``None``), by reason.

    ``transform`` may run on several threads; rejections are rare, so a lock is fine here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def note(self, reason: str) -> None:
        """Count one rejected event."""
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + 1

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts."""
        with self._lock:
            return dict(self._counts)


def parse_iso(value: object) -> float | None:
    """Epoch seconds of an ISO-8601 timestamp (``...Z`` or with an offset); ``None`` if
    unreadable. Naive timestamps are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
