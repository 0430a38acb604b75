"""The distribution this package is published as, and its installed version.

The import name is ``persona_sdk``; the distribution on the package index is ``persona-sdk-py``
(``persona-sdk`` belongs to an unrelated project). ``pyproject.toml`` and this constant must
agree: ``tests/test_public_api.py`` pins it.
"""

from __future__ import annotations

DISTRIBUTION = "persona-sdk-py"


def installed_version() -> str:
    """The version recorded in the installed distribution's metadata."""
    from importlib.metadata import version

    return version(DISTRIBUTION)
