"""The ``persona`` command line (needs the ``cli`` extra: Typer and rich)."""

from ._app import main as main
