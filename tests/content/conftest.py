"""Fixtures for content tests: a Persona with a capturing destination and a settable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from content_support import Clock

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination


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
