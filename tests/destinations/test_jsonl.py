"""The ``jsonl`` destination: append-only JSON lines with size and time rotation."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import msgspec
import pytest
from dest_helpers import encode_all, segment_event  # type: ignore[import-not-found]

from persona_sdk import ConfigError
from persona_sdk.destinations.jsonl import JsonlDestination
from persona_sdk.plugins import SendOutcome


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _lines(path: Path) -> list[dict[str, object]]:
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines()]


async def test_batches_append_as_lines(tmp_path: Path) -> None:
    """Each event is one line; batches append in order; the folder is created."""
    path = tmp_path / "var" / "events.jsonl"
    dest = JsonlDestination(name="lake", options={"path": str(path)})
    async with httpx.AsyncClient() as client:
        for b in range(3):
            events = [segment_event(message_id=f"m-{b}-{i}") for i in range(4)]
            assert (await dest.send(encode_all(dest, events), client)).outcome is (
                SendOutcome.DELIVERED
            )
    dest.close()
    ids = [e["messageId"] for e in _lines(path)]
    assert ids == [f"m-{b}-{i}" for b in range(3) for i in range(4)]


def test_rotation_by_size(tmp_path: Path) -> None:
    """When a batch would push the file past ``max_bytes`` the file is renamed and a new one
    started; no line is lost or split."""
    path = tmp_path / "events.jsonl"
    dest = JsonlDestination(options={"path": str(path), "max_bytes": 1000}, clock=Clock())
    items = encode_all(dest, [segment_event(message_id=f"m-{i}") for i in range(40)])
    for i in range(0, 40, 2):
        dest.write(items[i : i + 2])
    dest.close()
    files = sorted(tmp_path.glob("events*.jsonl"))
    assert len(files) > 3
    assert all(f.stat().st_size <= 1000 for f in files)
    rotated = sorted(f for f in files if f != path)
    ids = [e["messageId"] for f in [*rotated, path] for e in _lines(f)]
    assert sorted(ids) == sorted(f"m-{i}" for i in range(40))


def test_rotation_by_age(tmp_path: Path) -> None:
    """A file older than ``max_age`` when a batch arrives is rotated first (injected clock)."""
    clock = Clock()
    path = tmp_path / "events.jsonl"
    dest = JsonlDestination(options={"path": str(path), "max_age": 60}, clock=clock)
    item = encode_all(dest, [segment_event()])
    dest.write(item)
    clock.now += 59
    dest.write(item)
    assert len(list(tmp_path.iterdir())) == 1
    clock.now += 1
    dest.write(item)
    dest.close()
    rotated = [f for f in tmp_path.iterdir() if f != path]
    assert len(rotated) == 1
    assert rotated[0].name.startswith("events-20231114T")
    assert len(_lines(rotated[0])) == 2
    assert len(_lines(path)) == 1


def test_pid_placeholder_and_reopen_after_close(tmp_path: Path) -> None:
    """``{pid}`` gives each process its own file; writing after ``close`` reopens it."""
    dest = JsonlDestination(options={"path": str(tmp_path / "ev-{pid}.jsonl")})
    item = encode_all(dest, [segment_event()])
    dest.write(item)
    dest.close()
    dest.write(item)
    dest.close()
    assert dest.path == tmp_path / f"ev-{os.getpid()}.jsonl"
    assert len(_lines(dest.path)) == 2


async def test_write_errors_are_retried(tmp_path: Path) -> None:
    """A path that cannot be written (its folder is a file) is a transient failure."""
    (tmp_path / "blocker").write_text("x")
    dest = JsonlDestination(options={"path": str(tmp_path / "blocker" / "e.jsonl")})
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, [segment_event()]), client)
    assert result.outcome is SendOutcome.RETRY
    assert "cannot write" in result.detail


def test_bad_options() -> None:
    """Negative sizes and ages are refused with their field names."""
    with pytest.raises(ConfigError) as info:
        JsonlDestination(options={"max_bytes": -1, "max_age": 0, "max_events": 0})
    assert {e.split(":")[0] for e in info.value.errors} == {"max_bytes", "max_age", "max_events"}
