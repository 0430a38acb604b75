"""scripts/demo and scripts/test pick their interpreter with scripts/_python.sh: python3 when it
has everything or is a virtual environment, otherwise the repository's own `.venv` (created on
first use), so a system Python that refuses `pip install` (PEP 668) is never installed into."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "scripts" / "_python.sh"
MISSING = "persona_no_such_module_xyz"
# the interpreter this one was made from: never a virtual environment
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"


def _choose(tmp_path: Path, python3: Path, *modules: str, env: dict[str, str] | None = None
            ) -> tuple[str, str]:
    """Source the helper in `tmp_path` (the "repository") with `python3` first on PATH and
    return (PY, NEED_INSTALL)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "python3"
    # a wrapper, not a symlink: a venv's python must keep its real path to know it is one
    shim.write_text(f'#!/bin/sh\nexec "{python3}" "$@"\n')
    shim.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in {"PYTHON", "VIRTUAL_ENV"}}
    full_env = {**base, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    script = f'source "{HELPER}"; persona_python {" ".join(modules)}; echo "$PY|$NEED_INSTALL"'
    out = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=full_env, capture_output=True, text=True,
        check=True, timeout=120,
    )
    py, need = out.stdout.strip().splitlines()[-1].split("|")
    return py, need


@pytest.fixture(scope="module")
def a_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([str(BASE_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


def test_python3_with_everything_is_used_as_is(tmp_path: Path) -> None:
    """When python3 already imports every module, it is used and nothing is installed."""
    py, need = _choose(tmp_path, BASE_PYTHON, "json", "sqlite3")
    assert (py, need) == ("python3", "0")
    assert not (tmp_path / ".venv").exists()


def test_a_virtual_environment_missing_modules_gets_them(tmp_path: Path, a_venv: Path) -> None:
    """Inside a virtual environment the missing modules are installed there, not elsewhere."""
    py, need = _choose(tmp_path, a_venv, "json", MISSING)
    assert (py, need) == ("python3", "1")
    assert not (tmp_path / ".venv").exists()


@pytest.mark.slow
def test_a_system_python_missing_modules_uses_the_repository_venv(tmp_path: Path) -> None:
    """A python3 that is not a virtual environment and lacks modules is left alone: `.venv` is
    created in the repository and used; a second run reuses it."""
    py, need = _choose(tmp_path, BASE_PYTHON, "json", MISSING)
    assert (py, need) == (".venv/bin/python", "1")
    created = tmp_path / ".venv" / "pyvenv.cfg"
    assert created.is_file()
    out = subprocess.run(
        [str(tmp_path / py), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "True"
    marker = tmp_path / ".venv" / "marker"
    marker.write_text("kept")
    assert _choose(tmp_path, BASE_PYTHON, "json", MISSING) == (".venv/bin/python", "1")
    assert marker.read_text() == "kept"  # reused, not recreated
    # a python3 that has everything is still preferred to .venv
    assert _choose(tmp_path, BASE_PYTHON, "json") == ("python3", "0")


def test_python_from_the_environment_wins(tmp_path: Path, a_venv: Path) -> None:
    """$PYTHON is used as given, even when it is not a virtual environment."""
    py, need = _choose(tmp_path, a_venv, MISSING, env={"PYTHON": str(BASE_PYTHON)})
    assert (py, need) == (str(BASE_PYTHON), "1")
    assert not (tmp_path / ".venv").exists()


def test_both_scripts_use_the_helper() -> None:
    """scripts/demo and scripts/test both choose their interpreter through the helper, and
    run with the interpreter it chose."""
    for name in ("demo", "test"):
        text = (ROOT / "scripts" / name).read_text()
        assert "source scripts/_python.sh" in text
        assert "persona_python " in text
        assert 'exec "$PY" -m' in text
