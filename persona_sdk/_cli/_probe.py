"""``persona eval``, ``persona explain`` and ``persona send``: try a container on one visitor
(its decisions, logging nothing) or on one test event (delivered for real)."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .._errors import PersonaError
from ._app import EnvFile, JsonFlag, app, emit_json, fail, open_persona, out, parse_pairs, read_env


def _evaluate(container: Path, env_file: Path | None, attributes: list[str],
              anonymous_id: str, user_id: str | None, features: list[str]) -> dict[str, Any]:
    with open_persona(container, read_env(env_file)) as persona:
        attrs = parse_pairs(attributes, "--attribute")
        visitor = persona.visitor(anonymous_id=anonymous_id, user_id=user_id, attributes=attrs)
        results = visitor.evaluate_all().results
        keys = features or list(results)
        rows = {}
        for key in keys:
            found = results.get(key)
            r = found if found is not None else visitor.feature(key)  # an unknown key
            entry: dict[str, Any] = {
                "value": r.value, "on": r.on, "source": r.source.value, "rule_id": r.rule_id,
                "reasons": [reason.value for reason in r.reasons],
            }
            if r.variation is not None:
                entry["experiment"] = r.variation.experiment_key
                entry["variation"] = r.variation.variation_key
                entry["in_experiment"] = r.variation.in_experiment
                entry["reason"] = r.variation.reason.value
            rows[key] = entry
        return {"visitor": {"anonymous_id": anonymous_id, "user_id": user_id,
                            "attributes": attrs},
                "segments": sorted(visitor.segments), "features": rows}


AttrOption = Annotated[list[str], typer.Option(
    "--attribute", "-a", help="key=value (JSON values allowed); repeat for more.")]


@app.command("eval")
def eval_command(
    container: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    attribute: AttrOption = [],  # noqa: B006 - typer reads the default, never mutates it
    anonymous_id: Annotated[str, typer.Option(help="The visitor's anonymous id.")] = "cli",
    user_id: Annotated[str | None, typer.Option(help="The visitor's user id.")] = None,
    feature: Annotated[list[str], typer.Option(
        "--feature", "-f", help="Only these features (default: all).")] = [],  # noqa: B006
    env_file: EnvFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate every feature for a visitor (attributes in, decisions out). Logs nothing."""
    try:
        doc = _evaluate(container, env_file, attribute, anonymous_id, user_id, feature)
    except PersonaError as exc:
        raise fail(str(exc), as_json=as_json) from None
    if as_json:
        emit_json(doc)
        return
    table = Table(title=f"{len(doc['features'])} features")
    for column in ("feature", "value", "source", "rule", "experiment / variation"):
        table.add_column(column)
    for key, row in doc["features"].items():
        exp = f"{row['experiment']} / {row['variation']}" if "experiment" in row else ""
        table.add_row(key, json.dumps(row["value"]), row["source"], row["rule_id"], exp)
    out.print(table)
    if doc["segments"]:
        out.print("segments: " + ", ".join(doc["segments"]), markup=False)


@app.command()
def explain(
    container: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    feature: Annotated[str, typer.Argument(help="The feature to explain.")],
    attribute: AttrOption = [],  # noqa: B006
    anonymous_id: Annotated[str, typer.Option()] = "cli",
    user_id: Annotated[str | None, typer.Option()] = None,
    env_file: EnvFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Explain one feature's decision: value, source, rule, experiment and every reason."""
    try:
        doc = _evaluate(container, env_file, attribute, anonymous_id, user_id, [feature])
    except PersonaError as exc:
        raise fail(str(exc), as_json=as_json) from None
    row = doc["features"][feature]
    if as_json:
        emit_json({"feature": feature, **row, "segments": doc["segments"]})
        return
    out.print(f"[bold]{feature}[/bold] = {json.dumps(row['value'])}")
    for key in ("on", "source", "rule_id", "experiment", "variation", "in_experiment", "reason"):
        if key in row and row[key] not in ("", None):
            out.print(f"  {key}: {row[key]}", markup=False)
    out.print("  reasons: " + ", ".join(row["reasons"]), markup=False)


# -- send ------------------------------------------------------------------------------------


@app.command()
def send(
    container: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    event: Annotated[str, typer.Option(help="The event name.")] = "Persona Test Event",
    prop: Annotated[list[str], typer.Option(
        "--property", "-p", help="key=value (JSON values allowed).")] = [],  # noqa: B006
    anonymous_id: Annotated[str, typer.Option()] = "persona-cli-test",
    consent: Annotated[list[str], typer.Option(
        help="A purpose to grant (repeat); default: every declared purpose.")] = [],  # noqa: B006
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery.")] = 10.0,
    env_file: EnvFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a test event through the container's destinations and show each answer.

    The event goes through the real tags, consent and mappings; the command waits for
    delivery and exits 1 when something was not delivered."""
    try:
        with open_persona(container, read_env(env_file)) as persona:
            purposes = consent or list(persona.container.consent.purposes)
            mid = persona.track(event, anonymous_id=anonymous_id,
                                properties=parse_pairs(prop, "--property"),
                                consent=dict.fromkeys(purposes, True))
            delivered = persona.flush(timeout)
            stats = persona.stats()["destinations"]
    except PersonaError as exc:
        raise fail(str(exc), as_json=as_json) from None
    rows = {
        name: {k: row.get(k) for k in ("tracked", "delivered", "queued", "rejected",
                                        "dead_lettered", "filtered", "last_error")}
        for name, row in stats.items()
    }
    if as_json:
        emit_json({"message_id": mid, "all_delivered": delivered, "destinations": rows})
    else:
        table = Table(title=f"{event} ({mid})")
        for column in ("destination", "got it", "delivered", "answer"):
            table.add_column(column)
        for name, row in rows.items():
            got = "yes" if row["tracked"] else "no (trigger or consent)"
            answer = row["last_error"] or ("ok" if row["delivered"] else "pending")
            table.add_row(name, got, str(row["delivered"]), str(answer))
        out.print(table)
    if not delivered:
        raise typer.Exit(1)
