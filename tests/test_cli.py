"""The `persona` command, run for real in a subprocess: `validate` and `version`, their output
and exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from persona_sdk._meta import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[1]


def _command() -> list[str]:
    """The installed `persona` console script of this interpreter's environment, else the
    module it runs (a source checkout on PYTHONPATH has no script of its own)."""
    script = Path(sys.executable).parent / "persona"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "persona_sdk.cli"]


def _persona(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_console_script_points_at_main() -> None:
    """pyproject.toml installs `persona` as `persona_sdk.cli:main`, which exists."""
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^persona = "persona_sdk\.cli:main"$', text, flags=re.M)
    from persona_sdk.cli import main

    assert callable(main)


def test_validate_ok_prints_a_summary_and_exits_0(tmp_path: Path) -> None:
    """A valid container: one `ok` line with what it configures, exit status 0, no stderr."""
    path = tmp_path / "persona.toml"
    path.write_text(
        '[destinations.files]\ntype = "jsonl"\n'
        f'options = {{ path = "{tmp_path}/events.jsonl" }}\n'
        '[features.banner]\ndefaultValue = "a"\n'
    )
    out = _persona("validate", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        f"{path}: ok (1 destinations, 0 tags, 1 features, 0 segments)\n"
    )
    assert out.stderr == ""


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("unknown.toml", '[destinations.x]\ntype = "jsonl"\nopts = 3\n',
         "destinations.x.opts: unknown field"),
        ("wrongtype.json", '{"tags": 5}', "tags: "),
        ("syntax.toml", "[destinations.x\n", "line 1"),
    ],
)
def test_validate_reports_the_problem_and_exits_1(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    """A bad container: the problem (with the path of the bad field) on stderr, nothing on
    stdout, no traceback, exit status 1."""
    path = tmp_path / name
    path.write_text(text)
    out = _persona("validate", str(path), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout == ""
    assert expected in out.stderr
    assert name in out.stderr
    assert "Traceback" not in out.stderr


def test_validate_a_missing_file_exits_1(tmp_path: Path) -> None:
    """A file that does not exist is reported by name, exit status 1, no traceback."""
    out = _persona("validate", "missing.toml", cwd=tmp_path)
    assert out.returncode == 1
    assert "missing.toml" in out.stderr
    assert "No such file" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("args", [(), ("validate",), ("frobnicate",)])
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    """No command, a missing argument or an unknown command: usage, exit status 2."""
    out = _persona(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Usage: persona" in out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    """`persona version` prints the version recorded for the distribution and exits 0; run
    from a source tree that is not installed under that name it says so and exits 1."""
    out = _persona("version", cwd=tmp_path)
    try:
        expected = version(DISTRIBUTION)
    except PackageNotFoundError:
        assert out.returncode == 1
        assert f"{DISTRIBUTION} is not installed" in out.stderr
        assert "Traceback" not in out.stderr
    else:
        assert out.returncode == 0, out.stderr
        assert out.stdout == f"{expected}\n"


def test_help_lists_both_commands(tmp_path: Path) -> None:
    """`persona --help` exits 0 and names `validate` and `version`."""
    out = _persona("--help", cwd=tmp_path)
    assert out.returncode == 0
    assert "validate" in out.stdout
    assert "version" in out.stdout
