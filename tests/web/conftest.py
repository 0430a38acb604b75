"""Fixtures shared by the web tests: a Persona with a capturing destination (``world``) and
one headless Chromium per module (``browser``, skipped when Chromium is not installed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from collector_helpers import CHROMIUM, make_persona

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination


@pytest.fixture
def world() -> Iterator[tuple[Persona, CaptureDestination]]:
    persona, capture = make_persona()
    yield persona, capture
    persona.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"],
        )
        yield b
        b.close()
