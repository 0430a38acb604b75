"""The ``persona`` command: validate containers and show what they configure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._errors import PersonaError

__all__ = ["main"]


def _validate(path: str | None, growthbook: str | None) -> int:
    from .client import Persona
    from .config import Container

    try:
        if growthbook is not None:
            # a GrowthBook payload is imported leniently: its problems are warnings
            base = Container.load(path) if path is not None else None
            persona = Persona.from_growthbook(_read_payload(growthbook), base=base)
        else:
            assert path is not None
            persona = Persona.from_file(path)
    except PersonaError as exc:
        print(exc, file=sys.stderr)
        return 1
    c = persona.container
    warnings = persona.warnings
    persona.close()
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    name = growthbook if path is None else path
    print(
        f"{name}: ok ({len(c.destinations)} destinations, {len(c.tags)} tags, "
        f"{len(c.features)} features, {len(c.segments)} segments"
        + (f", {len(warnings)} warnings)" if warnings else ")")
    )
    return 0


def _read_payload(path: str) -> bytes:
    from ._errors import ConfigError

    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", source=path) from None


WORKER_GROUP = "persona_sdk.workers"


def _worker(source: str, container: str) -> int:
    # ``persona worker --from nats://...``: the URL scheme names a plugin of the
    # ``persona_sdk.workers`` group; it consumes the stream and delivers each event through
    # this container's destinations (the normal delivery path) until SIGTERM or SIGINT.
    import signal
    from urllib.parse import urlsplit

    from .client import Persona
    from .plugins import load_plugin

    scheme = urlsplit(source).scheme
    try:
        factory = load_plugin(WORKER_GROUP, scheme)
        persona = Persona.from_file(container)
    except PersonaError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        worker = factory(url=source, persona=persona)
    except PersonaError as exc:
        persona.close()
        print(f"--from: {exc}", file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    try:
        code = int(worker.run())
    finally:
        persona.close()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``persona`` command."""
    parser = argparse.ArgumentParser(prog="persona", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "validate", help="load a container and report every problem (and every warning)"
    )
    check.add_argument(
        "container", nargs="?", help="TOML or JSON container file (the base with --growthbook)"
    )
    check.add_argument(
        "--growthbook", metavar="PAYLOAD", help="a GrowthBook SDK payload (JSON) to import"
    )
    work = sub.add_parser(
        "worker", help="deliver events consumed from a stream (a persona_sdk.workers plugin)"
    )
    work.add_argument("--from", dest="source", required=True, help="e.g. nats://host:4222/STREAM")
    work.add_argument("container", help="TOML or JSON container whose destinations deliver")
    sub.add_parser("version", help="print the installed version")
    args = parser.parse_args(argv)
    if args.command == "validate":
        if args.container is None and args.growthbook is None:
            parser.error("validate needs a container file, --growthbook PAYLOAD, or both")
        return _validate(args.container, args.growthbook)
    if args.command == "worker":
        return _worker(args.source, args.container)
    from importlib.metadata import version

    print(version("persona-sdk"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
