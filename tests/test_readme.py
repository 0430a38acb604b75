"""The README's examples stay true: its container loads and its first code block holds the
two commands CI and newcomers run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def test_readme_container_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's TOML container loads and builds a working Persona; its spool sits next
    to the container file, and nothing is created in the working directory."""
    conf, cwd = tmp_path / "conf", tmp_path / "cwd"
    conf.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    path = conf / "persona.toml"
    path.write_text(_blocks("toml")[0])
    env = {"SEGMENT_WRITE_KEY": "wk", "META_TOKEN": "tok"}
    container = Container.load(path, env=env)
    assert container.destinations["segment"].options["write_key"] == "wk"
    assert container.delivery.spool_path == str(conf / "persona-spool.sqlite3")
    with Persona(container) as persona:
        visitor = persona.visitor(anonymous_id="a-1")
        assert visitor.get("hero-banner", None) == {"title": "Welcome"}
    assert list(cwd.iterdir()) == []
