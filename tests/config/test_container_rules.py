"""Container rules of issue 11: lists are lists, containers are strict, paths are relative to
the container file, and every entry point words its errors the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from persona_sdk import ConfigError, Container, Persona
from persona_sdk.cli import main


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"collector": {"write_keys": "wk_live"}}, "collector.write_keys"),
        ({"collector": {"cors_origins": "https://shop.example"}}, "collector.cors_origins"),
        (
            {"destinations": {"d": {"type": "jsonl", "consent": "analytics"}}},
            "destinations.d.consent",
        ),
        (
            {"tags": [{"name": "t", "destination": "d", "consent": "analytics"}]},
            "tags[0].consent",
        ),
        (
            {"tags": [{"name": "t", "destination": "d", "mapping": {"allow": "revenue"}}]},
            "tags[0].mapping.allow",
        ),
        ({"tags": {"name": "t"}}, "tags"),
        ({"experiments": "cta"}, "experiments"),
    ],
)
def test_a_string_where_a_list_is_expected_is_an_error_with_its_path(
    doc: dict[str, object], path: str
) -> None:
    """A scalar or a table in a list-typed field is refused as ``expected a list`` with the
    field's path, instead of being split into characters (or keys)."""
    with pytest.raises(ConfigError) as info:
        Container.from_dict(doc)
    assert any(e.startswith(f"{path}: expected a list") for e in info.value.errors), info.value


def test_persona_validate_prints_the_list_error_not_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``persona validate`` exits 1 and prints ``expected a list`` for ``write_keys = "..."``."""
    path = tmp_path / "persona.toml"
    path.write_text('[collector]\nwrite_keys = "wk_live"\n')
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert "ok" not in out.out
    assert "collector.write_keys: expected a list, got the string 'wk_live'" in out.err


def test_lists_still_load() -> None:
    """Real lists (from TOML arrays or JSON) load as before."""
    c = Container.from_dict(
        {"collector": {"write_keys": ["wk_live"], "cors_origins": ["https://shop.example"]}}
    )
    assert c.collector.write_keys == ["wk_live"]
    assert json.loads(json.dumps(c.collector.cors_origins)) == ["https://shop.example"]


def test_a_persona_from_a_dict_reports_list_errors_too() -> None:
    """``Persona(dict)`` goes through the same converter: the same error."""
    with pytest.raises(ConfigError, match=r"collector\.write_keys: expected a list"):
        Persona({"collector": {"write_keys": "wk_live"}})


# -- relative paths resolve against the container file -------------------------------------


def test_relative_paths_resolve_against_the_container_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``spool_path``, a destination's ``path`` and the profile source's ``path`` are
    relative to the container file's directory, not the working directory; absolute paths
    and SQLite's ``:memory:`` stay as written."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "profiles.jsonl").write_text('{"id": "u-1", "plan": "pro"}\n')
    (conf / "persona.toml").write_text(
        f"""
[delivery]
spool = "sync"
spool_path = "var/spool.sqlite3"

[destinations.lake]
type = "jsonl"
options = {{ path = "var/events.jsonl" }}

[destinations.abs]
type = "jsonl"
options = {{ path = "{tmp_path / "abs.jsonl"}" }}

[[tags]]
name = "all"
destination = "lake"

[profiles.source]
type = "file"
path = "profiles.jsonl"
"""
    )
    (conf / "var").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = Container.load(Path("..") / "conf" / "persona.toml")
    assert c.delivery.spool_path == str(conf / "var" / "spool.sqlite3")
    assert c.destinations["lake"].options["path"] == str(conf / "var" / "events.jsonl")
    assert c.destinations["abs"].options["path"] == str(tmp_path / "abs.jsonl")
    assert c.profiles.source is not None
    assert c.profiles.source["path"] == str(conf / "profiles.jsonl")
    with Persona.from_file(conf / "persona.toml") as persona:
        persona.track("E", anonymous_id="a-1")
        assert persona.visitor(user_id="u-1").profile.traits["plan"] == "pro"
        assert (conf / "var" / "spool.sqlite3").exists()
    assert list(elsewhere.iterdir()) == []  # nothing created in the working directory


def test_a_dict_container_keeps_paths_relative_to_the_working_directory_or_base_dir(
    tmp_path: Path,
) -> None:
    """``Container.from_dict`` leaves relative paths alone, unless given ``base_dir``."""
    doc = {"delivery": {"spool_path": "s.sqlite3"}}
    assert Container.from_dict(doc).delivery.spool_path == "s.sqlite3"
    resolved = Container.from_dict(doc, base_dir=tmp_path).delivery.spool_path
    assert resolved == str(tmp_path / "s.sqlite3")
    memory = Container.from_dict({"delivery": {"spool_path": ":memory:"}}, base_dir=tmp_path)
    assert memory.delivery.spool_path == ":memory:"


# -- one error wording across entry points -------------------------------------------------

BAD_CONTAINERS = {
    "structure": '[collector]\nwrite_keys = "wk_live"\n',
    "build": '[[tags]]\nname = "t"\ndestination = "nowhere"\n',
    "env": '[destinations.d]\ntype = "http"\noptions = { url = "${env:I11B_UNSET_URL}" }\n',
}


@pytest.mark.parametrize("kind", sorted(BAD_CONTAINERS))
def test_error_prefixes_are_the_same_across_entry_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """``from_file``, ``Persona(path)``, ``reload(path)`` and ``persona validate`` word a bad
    container file's error the same way (``invalid configuration in <file>: <path>: ...``),
    whichever step found it; ``Persona(dict)`` words it without the file."""
    path = tmp_path / "bad.toml"
    path.write_text(BAD_CONTAINERS[kind])
    messages = []
    for load in (Persona.from_file, Persona):
        with pytest.raises(ConfigError) as info:
            load(path)
        messages.append(str(info.value))
    with Persona() as persona, pytest.raises(ConfigError) as info:
        persona.reload(path)
    messages.append(str(info.value))
    assert main(["validate", str(path)]) == 1
    messages.append(capsys.readouterr().err.strip())
    assert len(set(messages)) == 1, messages
    assert messages[0].startswith(f"invalid configuration in {path}: ")
    from persona_sdk.config import read_document

    with pytest.raises(ConfigError) as info:
        Persona(read_document(path), env={})
    assert str(info.value) == messages[0].replace(f" in {path}", "")
