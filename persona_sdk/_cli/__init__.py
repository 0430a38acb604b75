"""The ``persona`` command line (needs the ``cli`` extra: Typer and rich)."""
