"""The ``persona`` command: validate containers and show what they configure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    check = sub.add_parser("validate", help="load a container and report every problem")
    check.add_argument("container", help="TOML or JSON container file")
    work = sub.add_parser(
        "worker", help="deliver events consumed from a stream (a persona_sdk.workers plugin)"
    )
    work.add_argument("--from", dest="source", required=True, help="e.g. nats://host:4222/STREAM")
    work.add_argument("container", help="TOML or JSON container whose destinations deliver")
    sub.add_parser("version", help="print the installed version")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.container)
    if args.command == "worker":
        return _worker(args.source, args.container)
    from importlib.metadata import version

    print(version("persona-sdk"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
