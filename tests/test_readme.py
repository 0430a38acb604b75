"""The README's examples stay true: its container loads and its first code block holds the
two commands CI and newcomers run."""

from __future__ import annotations

import re
from pathlib import Path

from persona_sdk import Container, Persona

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_first_block_is_demo_then_tests() -> None:
    """The first code block holds exactly the demo command and the test command."""
    first = _blocks("bash")[0].strip().splitlines()
    assert first == ["scripts/demo", "scripts/test"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "\nscripts/test\n" in ci


def test_readme_container_builds(tmp_path: Path) -> None:
    """The README's TOML container loads and builds a working Persona."""
    path = tmp_path / "persona.toml"
    spool = f'spool = "sync"\nspool_path = "{tmp_path}/s.db"'
    text = _blocks("toml")[0].replace('spool = "sync"', spool)
    path.write_text(text)
    env = {"SEGMENT_WRITE_KEY": "wk", "META_TOKEN": "tok"}
    container = Container.load(path, env=env)
    assert container.destinations["segment"].options["write_key"] == "wk"
    with Persona(container) as persona:
        visitor = persona.visitor(anonymous_id="a-1")
        assert visitor.get("hero-banner", None) == {"title": "Welcome"}
