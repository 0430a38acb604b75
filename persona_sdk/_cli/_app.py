"""The ``persona`` command: one Typer application, a command per job.

Every command takes ``--json`` (one JSON document on stdout, for scripts) and otherwise
prints with rich. Errors go to stderr with exit status 1 (2 for bad usage, from click).
"""

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .._errors import ConfigError, PersonaError

app = typer.Typer(
    name="persona",
    help="persona-sdk: validate containers, evaluate flags, send test events, inspect the "
    "spool, import offline events, report experiments, follow events, serve the collector.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spool_app = typer.Typer(help="Inspect the durable spool: counts, dead letters, replay.",
                        no_args_is_help=True)
app.add_typer(spool_app, name="spool")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
EnvFile = Annotated[
    Path | None,
    typer.Option("--env-file", help="KEY=VALUE lines for ${env:KEY} references.",
                 exists=True, dir_okay=False),
]


def emit_json(doc: Any) -> None:
    """Print ``doc`` as JSON on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str, ensure_ascii=False) + "\n")


def fail(message: str, *, as_json: bool = False, code: int = 1) -> typer.Exit:
    """Report an error (stderr, or a JSON document) and return the exit to raise."""
    if as_json:
        emit_json({"ok": False, "error": message})
    else:
        err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


# -- environment -------------------------------------------------------------------------


class _Placeholders(Mapping[str, str]):
    # Every ${env:NAME} resolves: to the real value when set, else to "<NAME>".
    def __init__(self, base: Mapping[str, str]) -> None:
        self._base = base

    def __getitem__(self, key: str) -> str:
        return self._base.get(key, f"<{key}>")

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


def read_env(env_file: Path | None, placeholders: bool = False) -> Mapping[str, str]:
    """The environment for ``${env:...}``: the process's, then ``env_file``'s lines."""
    env = dict(os.environ)
    if env_file is not None:
        for n, raw in enumerate(env_file.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{env_file}:{n}: expected KEY=VALUE")
            env[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return _Placeholders(env) if placeholders else env


@contextmanager
def open_persona(container: Path, env: Mapping[str, str], **kwargs: Any) -> Iterator[Any]:
    """A ``Persona`` from a container file, closed on exit."""
    from ..client import Persona

    persona = Persona.from_file(container, env=env, **kwargs)
    try:
        yield persona
    finally:
        persona.close()


def parse_pairs(pairs: list[str], what: str) -> dict[str, Any]:
    """``key=value`` pairs (a value that parses as JSON is taken as JSON)."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what}: expected key=value, got {pair!r}")
        try:
            found[key] = json.loads(value)
        except ValueError:
            found[key] = value
    return found


# -- validate, version -----------------------------------------------------------------------


def _detect(doc: Mapping[str, Any]) -> str:
    if "events" in doc or (
        isinstance(doc.get("features"), list) and all(isinstance(f, dict) for f in doc["features"])
    ):
        return "unleash"
    if any(k in doc for k in ("encryptedFeatures", "savedGroups", "dateUpdated", "sdkUrl")):
        return "growthbook"
    return "container"


@app.command()
def validate(
    path: Annotated[Path | None, typer.Argument(
        help="A container (TOML/JSON), or a GrowthBook or Unleash payload (JSON); with "
             "--growthbook, the base container.")] = None,
    growthbook: Annotated[Path | None, typer.Option(
        "--growthbook", help="A GrowthBook SDK payload to import on top of the container.")
    ] = None,
    kind: Annotated[str, typer.Option(help="container | growthbook | unleash | auto")] = "auto",
    env_file: EnvFile = None,
    placeholders: Annotated[bool, typer.Option(
        help="Resolve missing ${env:...} secrets to <NAME> instead of failing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Load a container or payload and report every problem with its path."""
    from ..config import read_document

    if path is None and growthbook is None:
        raise typer.BadParameter("give a container file, --growthbook PAYLOAD, or both",
                                 param_hint="PATH")
    name = path if path is not None else growthbook
    try:
        env = read_env(env_file, placeholders)
        if growthbook is not None:
            detected = "growthbook"
            summary, warnings = _check_growthbook(growthbook, path, env)
        else:
            assert path is not None
            doc = read_document(path)
            detected = _detect(doc) if kind == "auto" else kind
            if detected == "growthbook":
                summary, warnings = _check_growthbook(path, None, env)
            else:
                summary, warnings = _check(path, detected, doc, env)
    except (PersonaError, OSError) as exc:
        if isinstance(exc, OSError):  # a missing or unreadable file: an error, not bad usage
            exc = ConfigError(f"cannot read {exc.filename or name}: {exc.strerror or exc}")
        problems = list(getattr(exc, "errors", ())) or [str(exc)]
        if as_json:
            emit_json({"ok": False, "path": str(name), "errors": problems})
        else:
            err.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    if as_json:
        emit_json({"ok": True, "path": str(name), "kind": detected, **summary,
                   "warnings": warnings})
        return
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False)
    counts = ", ".join(f"{n} {what}" for what, n in summary.items())
    tail = f", {len(warnings)} warnings" if warnings else ""
    out.print(f"{name}: ok ({counts}{tail})", markup=False)


def _counts(container: Any) -> dict[str, int]:
    return {"destinations": len(container.destinations), "tags": len(container.tags),
            "features": len(container.features), "segments": len(container.segments)}


def _check_growthbook(
    payload: Path, base: Path | None, env: Mapping[str, str]
) -> tuple[dict[str, int], list[str]]:
    # imported leniently, as GrowthBook's SDKs read it: its problems are warnings
    from ..client import Persona
    from ..config import Container

    try:
        raw = payload.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {payload}: {exc.strerror or exc}") from None
    container = Container.load(base, env=env) if base is not None else None
    from ..rules import check_condition

    persona = Persona.from_growthbook(raw, base=container, env=env)
    try:
        warnings = list(persona.warnings)
        # conditions a lenient import compiles JavaScript-style (an unknown operator is false)
        for key, feature in persona.container.features.items():
            for i, rule in enumerate(feature.get("rules") or ()):
                if isinstance(rule, Mapping) and "condition" in rule:
                    warnings += [f"features.{key}.rules[{i}].condition: {problem}"
                                 for problem in check_condition(rule["condition"])]
        return _counts(persona.container), warnings
    finally:
        persona.close()


def _check(
    path: Path, kind: str, doc: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, int], list[str]]:
    if kind == "unleash":
        from ..unleash import UnleashToggles

        toggles = UnleashToggles.from_payload(doc)
        return {"toggles": len(toggles)}, list(toggles.warnings)
    if kind != "container":
        raise ConfigError(f"--kind: expected container, growthbook, unleash or auto, not {kind!r}")
    with open_persona(path, env) as persona:
        return _counts(persona.container), list(persona.warnings)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError

    from .._meta import DISTRIBUTION, installed_version

    try:
        return installed_version()
    except PackageNotFoundError:
        # imported from a source tree that was never installed: no metadata to read
        raise fail(f"{DISTRIBUTION} is not installed (persona_sdk imported from "
                   f"{Path(__file__).parent.parent}); install it with `pip install -e .`") from None


@app.command("version")
def version_command(as_json: JsonFlag = False) -> None:
    """Print the installed version."""
    if as_json:
        emit_json({"version": _version()})
    else:
        out.print(_version(), markup=False)


def _show_version(value: bool) -> None:
    if value:
        out.print(_version(), markup=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """persona-sdk's command line."""


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    # imported in the order their commands are listed in --help
    from . import _probe, _data, _report, _worker  # noqa: F401, I001 - they register their commands

    try:
        app(args=argv, prog_name="persona")
    except SystemExit as exc:  # click ends every run with one
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
