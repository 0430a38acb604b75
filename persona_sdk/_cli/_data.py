"""``persona spool``, ``persona import``, ``persona tail`` and ``persona serve``."""

import csv
import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from .._errors import PersonaError
from ._app import (
    EnvFile,
    JsonFlag,
    app,
    emit_json,
    err,
    fail,
    open_persona,
    out,
    read_env,
    spool_app,
)

SpoolPath = Annotated[Path, typer.Argument(help="The SQLite spool file.", exists=True,
                                           dir_okay=False)]

# -- spool -----------------------------------------------------------------------------------


def _spool(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=10.0, isolation_level=None)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error:
        conn.close()
        raise
    if not {"outbox", "dead_letter"} <= tables:
        conn.close()
        raise PersonaError(f"{path}: not a persona-sdk spool (no outbox/dead_letter tables)")
    return conn


@spool_app.command("stats")
def spool_stats(path: SpoolPath, as_json: JsonFlag = False) -> None:
    """Count queued and dead-lettered events per destination."""
    try:
        conn = _spool(path)
    except (PersonaError, sqlite3.Error) as exc:
        raise fail(str(exc), as_json=as_json) from None
    with closing(conn):
        rows: dict[str, dict[str, Any]] = {}
        for table, key in (("outbox", "queued"), ("dead_letter", "dead_lettered")):
            for dest, n, oldest in conn.execute(
                f"SELECT dest, COUNT(*), MIN(created) FROM {table} GROUP BY dest"
            ):
                row = rows.setdefault(dest, {"queued": 0, "dead_lettered": 0})
                row[key] = n
                row[f"oldest_{key}"] = oldest
        reasons = Counter(
            f"{dest}: {reason}" for dest, reason in conn.execute(
                "SELECT dest, reason FROM dead_letter")
        )
    if as_json:
        emit_json({"path": str(path), "destinations": rows, "dead_letter_reasons": reasons})
        return
    shown = Table(title=str(path))
    for column in ("destination", "queued", "dead-lettered", "oldest queued"):
        shown.add_column(column)
    for dest, row in sorted(rows.items()):
        oldest = row.get("oldest_queued")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(oldest)) if oldest else ""
        shown.add_row(dest, str(row["queued"]), str(row["dead_lettered"]), when)
    out.print(shown)
    for what, n in reasons.most_common():
        out.print(f"  dead letter {what} ×{n}", markup=False)


@spool_app.command("dead-letters")
def spool_dead(
    path: SpoolPath,
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List dead-lettered events: destination, messageId, reason, the event."""
    try:
        conn = _spool(path)
    except (PersonaError, sqlite3.Error) as exc:
        raise fail(str(exc), as_json=as_json) from None
    sql = "SELECT dest, message_id, reason, status, payload FROM dead_letter"
    args: tuple[Any, ...] = ()
    if destination is not None:
        sql, args = sql + " WHERE dest = ?", (destination,)
    with closing(conn):
        rows = conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
    found = [{"destination": d, "message_id": m, "reason": r, "status": s,
              "payload": _decode(p)} for d, m, r, s, p in rows]
    if as_json:
        emit_json(found)
        return
    for row in found:
        out.print(f"{row['destination']}  {row['message_id']}  {row['reason']}"
                  f"{' (HTTP ' + str(row['status']) + ')' if row['status'] else ''}",
                  markup=False)


def _decode(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


@spool_app.command("replay")
def spool_replay(
    path: SpoolPath,
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Move dead letters back into the outbox, to be delivered again.

    The next process that opens the spool delivers them; receivers deduplicate by
    messageId."""
    try:
        conn = _spool(path)
    except (PersonaError, sqlite3.Error) as exc:
        raise fail(str(exc), as_json=as_json) from None
    where, args = ("WHERE dest = ?", (destination,)) if destination else ("", ())
    conn.execute("BEGIN IMMEDIATE")
    try:
        # owner "replay" is no live process's token: the next open adopts these rows
        moved = conn.execute(
            "INSERT INTO outbox (dest, message_id, user_id, anonymous_id, payload, owner,"
            f" created) SELECT dest, message_id, user_id, anonymous_id, payload, 'replay',"
            f" created FROM dead_letter {where} ORDER BY id", args,
        ).rowcount
        conn.execute(f"DELETE FROM dead_letter {where}", args)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    if as_json:
        emit_json({"replayed": moved})
    else:
        out.print(f"{moved} dead letters moved back to the outbox", markup=False)


# -- import ----------------------------------------------------------------------------------


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _message(row: dict[str, Any]) -> dict[str, Any]:
    # A CSV row or JSON line to a Segment message: known columns by name, "properties.x"
    # and "traits.x" columns nested, an "email" stitched as a hashed-email user id.
    if "type" in row and isinstance(row.get("properties"), dict):
        return row
    msg: dict[str, Any] = {"type": row.get("type") or "track", "properties": {}}
    for key, value in row.items():
        if value in (None, ""):
            continue
        if key.startswith(("properties.", "traits.")):
            section, _, name = key.partition(".")
            msg.setdefault(section, {})[name] = _number(value)
        elif key in ("event", "userId", "anonymousId", "timestamp", "messageId", "type"):
            msg[key] = value
        elif key == "email":
            normalized = str(value).strip().lower()
            msg.setdefault("userId", "email:" + hashlib.sha256(normalized.encode()).hexdigest())
        else:
            msg["properties"][key] = _number(value)
    return msg


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return value
    return value


@app.command("import")
def import_command(
    container: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    source: Annotated[Path, typer.Argument(help="CSV or JSON lines of offline events.",
                                           exists=True, dir_okay=False)],
    batch: Annotated[int, typer.Option(help="Messages per ingest call.")] = 500,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery.")] = 60.0,
    env_file: EnvFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Import offline orders or events (CSV or JSONL) through ingest, with progress.

    The same tags, consent and destinations as live events; rows are stitched by user id or
    by hashed email (an ``email`` column). Prints a summary of rejects by reason."""
    rejects: Counter[str] = Counter()
    examples: list[str] = []
    accepted = total = 0
    try:
        with open_persona(container, read_env(env_file)) as persona, Progress(
            console=err, transient=True, disable=as_json
        ) as progress:
            task = progress.add_task(f"importing {source.name}", total=None)
            pending: list[dict[str, Any]] = []

            def flush_batch() -> None:
                nonlocal accepted
                for result in persona.ingest({"batch": pending}):
                    if result.ok:
                        accepted += 1
                    else:
                        reason = (result.error or "").split(": ", 1)[-1]
                        rejects[reason] += 1
                        if len(examples) < 5:
                            examples.append(f"row {total - len(pending) + result.index + 1}: "
                                            f"{result.error}")
                progress.advance(task, len(pending))
                pending.clear()

            for row in _rows(source):
                total += 1
                pending.append(_message(row))
                if len(pending) >= batch:
                    flush_batch()
            if pending:
                flush_batch()
            delivered = persona.flush(timeout)
    except (PersonaError, OSError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json) from None
    summary = {"rows": total, "accepted": accepted, "rejected": dict(rejects),
               "examples": examples, "delivered": delivered}
    if as_json:
        emit_json(summary)
    else:
        out.print(f"{total} rows: {accepted} accepted, {sum(rejects.values())} rejected"
                  f"{'' if delivered else ' (delivery still pending at exit)'}", markup=False)
        for reason, n in rejects.most_common():
            out.print(f"  {n} × {reason}", markup=False)
        for example in examples:
            out.print(f"  e.g. {example}", markup=False)
    if rejects or not delivered:
        raise typer.Exit(1)


# -- tail ------------------------------------------------------------------------------------


@app.command()
def tail(
    path: Annotated[Path, typer.Argument(help="A JSONL file the jsonl destination writes.")],
    follow: Annotated[bool, typer.Option("--follow/--no-follow", "-f",
                                         help="Keep reading as events arrive.")] = True,
    count: Annotated[int, typer.Option("--count", "-n",
                                       help="Stop after this many events (0: never).")] = 0,
    event: Annotated[str | None, typer.Option(help="Only this event name.")] = None,
    poll: Annotated[float, typer.Option(help="Seconds between reads when idle.")] = 0.2,
    as_json: JsonFlag = False,
) -> None:
    """Follow events as they are collected (the JSONL files of the jsonl destination)."""
    seen = 0
    offset = 0
    while True:
        if path.exists():
            with path.open("rb") as fh:
                if path.stat().st_size < offset:  # rotated: start the new file
                    offset = 0
                fh.seek(offset)
                for raw in fh:
                    if not raw.endswith(b"\n"):
                        break  # half-written: read it next time
                    offset += len(raw)
                    try:
                        doc = json.loads(raw)
                    except ValueError:
                        continue
                    if event is not None and doc.get("event") != event:
                        continue
                    _show(doc, as_json)
                    seen += 1
                    if count and seen >= count:
                        return
        if not follow:
            return
        time.sleep(poll)


def _show(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, ensure_ascii=False), flush=True)
        return
    who = doc.get("userId") or doc.get("anonymousId") or "?"
    name = doc.get("event") or doc.get("name") or doc.get("type")
    props = doc.get("properties") or doc.get("traits") or {}
    out.print(f"{doc.get('timestamp', '')}  {doc.get('type', '?'):8} {name}  {who}  "
              f"{json.dumps(props, ensure_ascii=False)[:120]}", markup=False)


# -- serve -----------------------------------------------------------------------------------


@app.command()
def serve(
    container: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8787,
    env_file: EnvFile = None,
) -> None:
    """Run the standalone collector under uvicorn.

    Serves ``/v1/batch``, ``/collect``, ``/persona.js`` and the rest with the container's
    destinations, until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise fail("persona serve needs uvicorn: pip install 'persona-sdk-py[web]'") from None
    from ..web import Collector

    try:
        with open_persona(container, read_env(env_file)) as persona:
            collector = Collector(persona)

            async def app(scope: Any, receive: Any, send: Any) -> None:
                # uvicorn re-raises SIGTERM/SIGINT once it has shut down, so the events still
                # queued are flushed in the lifespan shutdown, before that
                if scope["type"] != "lifespan":
                    await collector.asgi(scope, receive, send)
                    return
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await persona.aclose()
                        await send({"type": "lifespan.shutdown.complete"})
                        return

            err.print(f"collector on http://{host}:{port} (Ctrl-C stops)", markup=False)
            uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
    except PersonaError as exc:
        raise fail(str(exc)) from None
