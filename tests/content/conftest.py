"""Fixtures for content tests: a Persona with a capturing destination and a settable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination


class Clock:
    """A settable clock: ``clock()`` is ``clock.now``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_persona(clock: Clock) -> Iterator[Callable[..., tuple[ps.Persona, CaptureDestination]]]:
    """Build a Persona from a container mapping, with every event routed to a capture."""
    made: list[ps.Persona] = []

    def make(
        container: Mapping[str, Any], **kwargs: Any
    ) -> tuple[ps.Persona, CaptureDestination]:
        capture = CaptureDestination()
        doc = {"tags": [{"name": "all", "destination": "capture"}], **container}
        persona = ps.Persona(doc, destinations={"capture": capture}, clock=clock, **kwargs)
        made.append(persona)
        return persona, capture

    yield make
    for p in made:
        p.close()


def promotion_events(capture: CaptureDestination, name: str) -> list[dict[str, Any]]:
    """The captured events named ``name``."""
    return [e for e in capture.events if e.get("event") == name]
