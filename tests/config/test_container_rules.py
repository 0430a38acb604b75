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
