"""The public API is small, sorted, and pinned."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import persona_sdk
from persona_sdk._meta import DISTRIBUTION


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and lists exactly the public names of the package namespace."""
    assert list(persona_sdk.__all__) == sorted(persona_sdk.__all__)
    # names resolve lazily (PEP 562): every name of ``__all__`` loads, and nothing else
    # public is defined at the top level
    public = {
        name
        for name in dir(persona_sdk)
        if not name.startswith("_") and not isinstance(getattr(persona_sdk, name), type(sys))
    }
    assert public == set(persona_sdk.__all__)
    assert all(getattr(persona_sdk, name) is not None for name in persona_sdk.__all__)


def test_exported_objects_report_the_package_as_module() -> None:
    """Every exported class or function says it lives in `persona_sdk`."""
    for name in persona_sdk.__all__:
        obj = getattr(persona_sdk, name)
        if hasattr(obj, "__module__"):
            assert obj.__module__ == "persona_sdk", name


ROOT = Path(__file__).resolve().parents[1]


# the target of `pip install [flags] [quote]NAME[extras]`
INSTALL_TARGET = r"pip install (?:-\S+ )*['\"]?([\w.-]+)(?:\[|['\"\s]|$)"


def _pyproject_name() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^name = "([^"]+)"', text, flags=re.M)
    assert match is not None
    return match.group(1)


def test_distribution_name_is_ours_everywhere() -> None:
    """The distribution name in pyproject.toml is the one the package reads its metadata from,
    it is not `persona-sdk` (taken on the index by an unrelated project), and every install
    line of the README and docs, extras included, installs it."""
    name = _pyproject_name()
    assert name == DISTRIBUTION
    assert name != "persona-sdk"
    pyproject = (ROOT / "pyproject.toml").read_text()
    # extras that include other extras refer to the distribution by its own name
    for ref in re.findall(r'"([\w.-]+)\[[\w,]+\]"', pyproject):
        assert ref == name
    install_lines = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in doc.read_text().splitlines():
            install_lines += re.findall(INSTALL_TARGET, line)
    targets = [t for t in install_lines if t not in {"-e", "."}]
    assert targets, "the README shows how to install the package"
    assert set(targets) == {name}, targets


def test_first_party_plugins_depend_on_this_distribution() -> None:
    """Every plugin under plugins/ depends on this distribution by its real name: depending
    on `persona-sdk` would install the unrelated package of that name, whose own
    `persona_sdk` module then shadows this one."""
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        text = pyproject.read_text()
        match = re.search(r"^dependencies = \[(.*?)\]", text, flags=re.M | re.S)
        assert match is not None, pyproject
        deps = re.findall(r'"([A-Za-z0-9_.-]+)', match.group(1))
        ours = [d for d in deps if d.startswith("persona-sdk")]
        assert ours == [DISTRIBUTION], (pyproject, deps)


def test_version_comes_from_metadata() -> None:
    """`__version__` is read from the metadata of the distribution named in pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    if DISTRIBUTION not in packages_distributions().get("persona_sdk", []):
        try:
            version("persona-sdk")
        except PackageNotFoundError:
            pass
        else:  # pragma: no cover - depends on how the environment was installed
            pytest.skip("persona_sdk is installed under its old distribution name "
                        "`persona-sdk`: reinstall with `pip install -e .`")
    assert persona_sdk.__version__ == version(_pyproject_name())


def test_import_starts_no_threads_and_opens_nothing() -> None:
    """Importing the package starts no thread and creates no client (checked in a fresh
    interpreter)."""
    code = (
        "import threading, persona_sdk, persona_sdk.plugins, persona_sdk.config;"
        "print(threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_private_modules_are_private() -> None:
    """Implementation modules start with an underscore; the error tree has one root."""
    errors = importlib.import_module("persona_sdk._errors")
    for name in errors.__all__:
        cls = getattr(persona_sdk, name)
        assert issubclass(cls, persona_sdk.PersonaError)
    assert issubclass(persona_sdk.ConfigError, ValueError)
    assert issubclass(persona_sdk.EventValidationError, ValueError)


def test_ci_tests_every_python_the_classifiers_promise() -> None:
    """The Python versions in pyproject's classifiers are exactly the ones `.ci/run` tests,
    and the oldest is `requires-python`'s lower bound."""
    text = (ROOT / "pyproject.toml").read_text()
    promised = set(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text))
    ci = (ROOT / ".ci" / "run").read_text()
    main = re.search(r"^MAIN=(\S+)$", ci, flags=re.M)
    others = re.search(r"^OTHERS=\(([^)]*)\)$", ci, flags=re.M)
    assert main is not None
    assert others is not None
    tested = {main.group(1), *others.group(1).split()}
    assert tested == promised
    lower = re.search(r'^requires-python = ">=(3\.\d+)"$', text, flags=re.M)
    assert lower is not None
    assert min(promised, key=lambda v: int(v.split(".")[1])) == lower.group(1)
