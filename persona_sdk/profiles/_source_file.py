"""``file``: profiles from a JSON, JSONL or CSV file, held in memory (demos and tests).

- JSON: an object ``{"<id>": {traits}}`` or an array of rows ``[{"id": ..., ...}]``;
- JSONL: one row per line;
- CSV: one row per line with a header; values that read as numbers or booleans become them
  (``coerce = false`` keeps strings) and empty cells are left out.

Rows are keyed by ``id_field``, which is not a trait.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from attrs import frozen

from ..plugins import ConfigError, FetchResult
from ..plugins.kit import load_options

__all__ = ["FileSource", "FileSourceOptions"]

_FORMATS = ("json", "jsonl", "csv")


@frozen(kw_only=True)
class FileSourceOptions:
    """Options of the ``file`` source.

    Usage (TOML)::

        [profiles.source]
        type = "file"
        path = "profiles.jsonl"      # format from the extension, or format = "csv"
    """

    path: str
    format: str | None = None
    id_field: str = "id"
    coerce: bool = True
    name: str = "file"

    def __attrs_post_init__(self) -> None:
        if self.format is not None and self.format not in _FORMATS:
            raise ConfigError(f"format: expected one of json, jsonl, csv; got {self.format!r}")


def _coerce(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def parse_profiles(
    data: bytes, fmt: str, id_field: str = "id", coerce: bool = True
) -> dict[str, dict[str, Any]]:
    """Parse profile rows; raise ``ValueError`` naming the line or row on bad input."""
    rows: list[Any]
    if fmt == "json":
        doc = msgspec.json.decode(data)
        if isinstance(doc, dict):
            out: dict[str, dict[str, Any]] = {}
            for key, traits in doc.items():
                if not isinstance(traits, dict):
                    raise ValueError(f"profile {key!r}: expected an object of traits")
                out[str(key)] = traits
            return out
        if not isinstance(doc, list):
            raise ValueError("expected an object keyed by id or an array of rows")
        rows = doc
    elif fmt == "jsonl":
        rows = []
        for n, line in enumerate(data.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(msgspec.json.decode(line))
                except msgspec.DecodeError as exc:
                    raise ValueError(f"line {n}: {exc}") from None
    else:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows = [
            {k: (_coerce(v) if coerce else v) for k, v in row.items() if k and v not in ("", None)}
            for row in reader
        ]
    out = {}
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or row.get(id_field) in (None, ""):
            raise ValueError(f"row {n}: expected an object with {id_field!r}")
        traits = dict(row)
        out[str(traits.pop(id_field))] = traits
    return out


class FileSource:
    """Profiles held in memory, loaded from a file or given directly (``type = "file"``).

    Usage::

        source = FileSource.from_records({"u-1": {"plan": "pro"}})
        source = FileSource(FileSourceOptions(path="profiles.csv"))
    """

    in_process = True

    def __init__(
        self,
        options: FileSourceOptions | None = None,
        *,
        records: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.options = options
        self.name = options.name if options is not None else "file"
        self._lock = threading.Lock()
        self._profiles: dict[str, Mapping[str, Any]] = {}
        if options is not None:
            self._profiles.update(self._load(options))
        if records is not None:
            self._profiles.update({str(k): dict(v) for k, v in records.items()})

    @staticmethod
    def _load(options: FileSourceOptions) -> dict[str, dict[str, Any]]:
        path = Path(options.path)
        fmt = options.format or path.suffix.lower().lstrip(".")
        if fmt not in _FORMATS:
            raise ConfigError(f"format: cannot tell the format of {path.name!r}; set format")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"path: cannot read {os.fspath(path)}: {exc.strerror or exc}"
            ) from None
        try:
            return parse_profiles(data, fmt, options.id_field, options.coerce)
        except (ValueError, msgspec.DecodeError) as exc:
            raise ConfigError(f"path: {path.name}: {exc}") from None

    @classmethod
    def from_options(cls, *, options: Mapping[str, Any]) -> FileSource:
        """The ``persona_sdk.profile_sources`` factory: build from container options."""
        return cls(load_options(FileSourceOptions, options))

    @classmethod
    def from_records(cls, records: Mapping[str, Mapping[str, Any]]) -> FileSource:
        """A source over ``{id: traits}`` given in code."""
        return cls(records=records)

    def put(self, profile_id: str, traits: Mapping[str, Any]) -> None:
        """Add or replace one profile."""
        with self._lock:
            self._profiles[profile_id] = dict(traits)

    def get(
        self, profile_id: str, *, id_type: str = "user_id", timeout: float = 0.0
    ) -> FetchResult:
        """The profile's traits, or not found. Never blocks."""
        traits = self._profiles.get(profile_id)
        if traits is None:
            return FetchResult.not_found()
        return FetchResult.found(traits, profile_id=profile_id)

    async def aget(
        self, profile_id: str, *, id_type: str = "user_id", timeout: float = 0.0
    ) -> FetchResult:
        """The same as ``get``."""
        return self.get(profile_id, id_type=id_type, timeout=timeout)

    def erase(self, profile_id: str, *, id_type: str = "user_id", timeout: float = 0.0) -> bool:
        """Drop the profile from memory (the file is left as it is)."""
        with self._lock:
            return self._profiles.pop(profile_id, None) is not None

    def __len__(self) -> int:
        return len(self._profiles)

    def close(self) -> None:
        """Nothing to release."""
