"""``persona worker --from URL CONTAINER``: deliver events consumed from a stream.

The URL's scheme names a plugin of the ``persona_sdk.workers`` entry point group (``nats``
from persona-nats); the worker consumes the stream and hands each event to a ``Persona`` built
from CONTAINER, whose destinations deliver it (the normal delivery path), until SIGTERM or
SIGINT.
"""

import signal
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from .._errors import PersonaError
from ._app import EnvFile, app, fail, open_persona, read_env

WORKER_GROUP = "persona_sdk.workers"


@app.command()
def worker(
    container: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, help="The container whose destinations deliver.")],
    source: Annotated[str, typer.Option(
        "--from", help="The stream, e.g. nats://host:4222/PERSONA?durable=workers.")],
    env_file: EnvFile = None,
) -> None:
    """Deliver events consumed from a stream (a persona_sdk.workers plugin) until stopped."""
    from ..plugins import check_plugin, load_plugin

    try:
        factory = load_plugin(WORKER_GROUP, urlsplit(source).scheme)
        env = read_env(env_file)
    except PersonaError as exc:
        raise fail(str(exc)) from None
    try:
        with open_persona(container, env) as persona:
            try:
                running = factory(url=source, persona=persona)
                check_plugin(WORKER_GROUP, urlsplit(source).scheme, running)
            except PersonaError as exc:
                raise fail(f"--from: {exc}") from None
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: running.stop())
            code = int(running.run())
    except PersonaError as exc:
        raise fail(str(exc)) from None
    if code:
        raise typer.Exit(code)
