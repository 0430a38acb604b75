"""Container rules of issue 11: lists are lists, containers are strict, paths are relative to
the container file, and every entry point words its errors the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    ga4 = {"type": "ga4", "options": {"client_id_path": "context.cid", "path": "e.jsonl"}}
    options = Container.from_dict({"destinations": {"g": ga4}}, base_dir=tmp_path)
    # an event path is not a file: only ``path`` options are resolved
    assert options.destinations["g"].options == {
        "client_id_path": "context.cid",
        "path": str(tmp_path / "e.jsonl"),
    }


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


# -- strict containers, lenient GrowthBook imports -----------------------------------------

TYPOS: list[tuple[dict[str, Any], str]] = [
    ({"features": {"f": {"defaultvalue": 1}}}, "features.f.defaultvalue: unknown field"),
    (
        {"features": {"f": {"defaultValue": 0, "rules": [{"variatons": [0, 1]}]}}},
        "features.f.rules[0].variatons: unknown field",
    ),
    (
        {"features": {"f": {"defaultValue": 0, "rules": [{"force": 1, "enabled": False}]}}},
        "features.f.rules[0].enabled: unknown field",
    ),
    (
        {"experiments": [{"key": "e", "variations": [0, 1], "wieghts": [0.5, 0.5]}]},
        "experiments[0].wieghts: unknown field",
    ),
    (
        {"experiments": [{"key": "e", "variations": [0, 1], "weights": [0.5, 0.6]}]},
        "experiments[0].weights: the weights sum to 1.1, not 1",
    ),
    (
        {"experiments": [{"key": "e", "variations": [0, 1, 2], "weights": [0.5, 0.5]}]},
        "experiments[0].weights: 2 weights for 3 variations",
    ),
    (
        {"features": {"f": {"defaultValue": 0, "rules": [
            {"key": "e", "variations": [0, 1], "weights": [0.2, 0.2]}]}}},
        "features.f.rules[0].weights: the weights sum to 0.4, not 1",
    ),
    (
        {"experiments": [{"key": "e", "variations": [0, 1],
                          "meta": [{"key": "a"}, {"key": "b", "passtrough": True}]}]},
        "experiments[0].meta[1].passtrough: unknown field",
    ),
    (
        {"experiments": [{"key": "e", "variations": [0, 1],
                          "filters": [{"seed": "s", "ranges": [[0, 0.5]], "atribute": "id"}]}]},
        "experiments[0].filters[0].atribute: unknown field",
    ),
    ({"collector": {"write_key": ["k"]}}, "collector.write_key: unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "error"), TYPOS)
def test_containers_are_strict(doc: dict[str, Any], error: str) -> None:
    """An unknown field anywhere (inside features, rules and experiments too) and weights
    that do not sum to 1 or do not match the variations are errors with their path."""
    with pytest.raises(ConfigError) as info:
        Persona(doc)
    assert error in info.value.errors, info.value.errors


def test_weights_summing_to_1_within_rounding_are_accepted() -> None:
    """Weights written as rounded fractions (three thirds) are accepted (within 1e-6)."""
    third = 1 / 3
    doc = {"experiments": [{"key": "e", "variations": [0, 1, 2], "weights": [third] * 3}]}
    with Persona(doc) as persona:
        assert persona.warnings == ()


@pytest.mark.parametrize(("doc", "error"), TYPOS[:-1])
def test_growthbook_imports_stay_lenient_and_expose_warnings(
    doc: dict[str, Any], error: str
) -> None:
    """``Persona.from_growthbook`` accepts what GrowthBook's SDKs ignore, and lists each
    problem in ``persona.warnings``."""
    with Persona.from_growthbook(doc) as persona:
        assert error in persona.warnings


def test_growthbook_warnings_are_logged_once_at_load(caplog: pytest.LogCaptureFixture) -> None:
    """A lenient import logs its warnings once, when it is loaded (not per decision)."""
    doc = {"features": {"f": {"defaultvalue": 1}}}
    with (
        caplog.at_level("WARNING", logger="persona_sdk.config"),
        Persona.from_growthbook(doc) as persona,
    ):
        persona.visitor(anonymous_id="a-1").feature("f")
        persona.visitor(anonymous_id="a-2").feature("f")
    lines = [r.getMessage() for r in caplog.records if r.name == "persona_sdk.config"]
    assert lines == [
        "container loaded with 1 warning(s) (see Persona.warnings): "
        "features.f.defaultvalue: unknown field"
    ]


def test_persona_validate_prints_growthbook_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``persona validate --growthbook payload.json [base.toml]`` imports leniently, prints
    each warning, then ``ok``; a strict container with the same typo is refused."""
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"features": {"f": {"defaultvalue": 1}}}))
    base = tmp_path / "base.toml"
    base.write_text('[destinations.lake]\ntype = "jsonl"\noptions = { path = "e.jsonl" }\n')
    assert main(["validate", "--growthbook", str(payload), str(base)]) == 0
    out = capsys.readouterr()
    assert "warning: features.f.defaultvalue: unknown field" in out.err
    assert "ok (1 destinations, 0 tags, 1 features, 0 segments, 1 warnings)" in out.out
    strict = tmp_path / "strict.json"
    strict.write_text(payload.read_text())
    assert main(["validate", str(strict)]) == 1
    assert "features.f.defaultvalue: unknown field" in capsys.readouterr().err
