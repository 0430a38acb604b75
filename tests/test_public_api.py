"""The public API is small, sorted, and pinned."""

from __future__ import annotations

import importlib
import subprocess
import sys

import persona_sdk


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and lists exactly the public names of the package namespace."""
    assert list(persona_sdk.__all__) == sorted(persona_sdk.__all__)
    public = {
        name
        for name, value in vars(persona_sdk).items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    }
    assert public == set(persona_sdk.__all__)


def test_exported_objects_report_the_package_as_module() -> None:
    """Every exported class or function says it lives in `persona_sdk`."""
    for name in persona_sdk.__all__:
        obj = getattr(persona_sdk, name)
        if hasattr(obj, "__module__"):
            assert obj.__module__ == "persona_sdk", name


def test_version_comes_from_metadata() -> None:
    """`__version__` is read from the installed distribution."""
    from importlib.metadata import version

    assert persona_sdk.__version__ == version("persona-sdk")


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
