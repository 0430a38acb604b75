"""The ``persona`` command: validate, eval, explain, send, spool, import, report, tail, serve.

Built on Typer and rich (``pip install 'persona-sdk-py[cli]'``); ``persona --help`` lists every
command with its purpose, and every command takes ``--json``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``persona`` command; returns the exit status."""
    try:
        from ._cli import main as run
    except ImportError as exc:  # the cli extra is not installed
        print(
            f"the persona command needs the cli extra ({exc.name} is missing): "
            "pip install 'persona-sdk-py[cli]'",
            file=sys.stderr,
        )
        return 1
    return run(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
