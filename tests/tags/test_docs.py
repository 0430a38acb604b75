"""The examples in docs/tags.md, docs/privacy.md and docs/destinations.md run, and their
TOML containers load, build their destinations and compile their tags."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from persona_sdk import Container
from persona_sdk.destinations import build_destinations
from persona_sdk.tags import Router

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("tags.md", "privacy.md", "destinations.md")
WHSEC = "whsec_" + "a2V5" * 8  # base64 of "key" * 8
ENV = {
    "SEGMENT_WRITE_KEY": "x",
    "GA4_API_SECRET": "x",
    "META_CAPI_TOKEN": "x",
    "WEBHOOK_SECRET": WHSEC,
    "PARTNER_SECRET": WHSEC,
}


def _blocks(lang: str) -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for i, block in enumerate(re.findall(rf"```{lang}\n(.*?)```", text, re.DOTALL)):
            out.append((f"{page}#{lang}{i}", block))
    return out


PYTHON = _blocks("python")
TOML = [(n, b) for n, b in _blocks("toml") if "[project." not in b]


def test_every_page_has_examples() -> None:
    """Each page carries runnable Python and TOML examples."""
    for page in PAGES:
        assert any(n.startswith(page) for n, _ in PYTHON), page
        assert any(n.startswith(page) for n, _ in TOML), page


@pytest.mark.parametrize(("name", "source"), PYTHON, ids=[n for n, _ in PYTHON])
def test_python_example_runs(name: str, source: str) -> None:
    """Each Python block runs on its own and its assertions hold."""
    exec(compile(source, name, "exec"), {"__name__": "docs_example"})


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is 3.11+")
@pytest.mark.parametrize(("name", "source"), TOML, ids=[n for n, _ in TOML])
def test_toml_example_loads(name: str, source: str) -> None:
    """Each TOML block is a valid container: destinations build and tags compile."""
    import tomllib

    container = Container.from_dict(tomllib.loads(source), env=ENV)
    destinations = build_destinations(container)
    Router.build(container, destinations)
    for dest in destinations.values():
        dest.close()
