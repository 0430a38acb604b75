"""Helpers of the content tests: a settable clock and captured promotion events."""

from __future__ import annotations

from typing import Any

from persona_sdk.testing import CaptureDestination

__all__ = ["Clock", "promotion_events"]


class Clock:
    """A settable clock: ``clock()`` is ``clock.now``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def promotion_events(capture: CaptureDestination, name: str) -> list[dict[str, Any]]:
    """The captured events named ``name``."""
    return [e for e in capture.events if e.get("event") == name]
