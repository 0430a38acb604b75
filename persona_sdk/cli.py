"""The ``persona`` command: validate containers and show what they configure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._errors import PersonaError

__all__ = ["main"]


def _validate(path: str) -> int:
    from .client import Persona

    try:
        persona = Persona.from_file(path)
    except PersonaError as exc:
        print(exc, file=sys.stderr)
        return 1
    c = persona.container
    persona.close()
    print(
        f"{path}: ok ({len(c.destinations)} destinations, {len(c.tags)} tags, "
        f"{len(c.features)} features, {len(c.segments)} segments)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``persona`` command."""
    parser = argparse.ArgumentParser(prog="persona", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="load a container and report every problem")
    check.add_argument("container", help="TOML or JSON container file")
    sub.add_parser("version", help="print the installed version")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.container)
    from importlib.metadata import PackageNotFoundError

    from ._meta import DISTRIBUTION, installed_version

    try:
        print(installed_version())
    except PackageNotFoundError:
        # imported from a source tree that was never installed: no metadata to read
        print(f"persona: {DISTRIBUTION} is not installed (persona_sdk imported from "
              f"{Path(__file__).parent}); install it with `pip install -e .`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
