"""Building the configured profile source and store: built-ins first, then entry points."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._errors import ConfigError, PluginError
from ..plugins import load_plugin, missing_members
from ._source_file import FileSource
from ._source_http import HttpSource
from ._source_segment import SegmentSource
from ._source_unomi import UnomiSource
from ._store import InMemoryProfileStore
from ._types import ProfileSource, ProfileStore

__all__ = ["SOURCE_GROUP", "STORE_GROUP", "build_source", "build_store"]

SOURCE_GROUP = "persona_sdk.profile_sources"
STORE_GROUP = "persona_sdk.stores"

_SOURCES: dict[str, Callable[..., Any]] = {
    "file": FileSource.from_options,
    "http": HttpSource.from_options,
    "segment": SegmentSource.from_options,
    "unomi": UnomiSource.from_options,
}
_STORES: dict[str, Callable[..., Any]] = {"memory": InMemoryProfileStore.from_options}

def _build(
    spec: Mapping[str, Any],
    path: str,
    group: str,
    builtins: Mapping[str, Callable[..., Any]],
) -> Any:
    kind = spec.get("type")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{path}.type: required field is missing")
    factory = builtins.get(kind)
    if factory is None:
        try:
            factory = load_plugin(group, kind)
        except PluginError as exc:
            raise ConfigError(f"{path}.type: {exc}") from None
    options = {k: v for k, v in spec.items() if k != "type"}
    try:
        obj = factory(options=options)
    except ConfigError as exc:
        raise ConfigError([f"{path}.{line}" for line in _flatten(exc.errors)]) from None
    except Exception as exc:
        raise ConfigError(f"{path}: plugin {kind!r} failed: {type(exc).__name__}: {exc}") from None
    missing = missing_members(group, obj)
    if missing:
        raise ConfigError(
            f"{path}.type: plugin {kind!r} returned a {type(obj).__name__} without "
            + ", ".join(missing)
        )
    return obj


def _flatten(errors: tuple[str, ...]) -> list[str]:
    # A class-level check structured at the top reads "<root>: field: problem; field: ...".
    out: list[str] = []
    for line in errors:
        if line.startswith("<root>: "):
            out.extend(line[len("<root>: ") :].split("; "))
        else:
            out.append(line)
    return out


def build_source(
    spec: Mapping[str, Any] | None, path: str = "profiles.source"
) -> ProfileSource | None:
    """The source a container's ``profiles.source`` describes (None when absent)."""
    if spec is None:
        return None
    source: ProfileSource = _build(spec, path, SOURCE_GROUP, _SOURCES)
    return source


def build_store(
    spec: Mapping[str, Any] | None, path: str = "profiles.store"
) -> ProfileStore | None:
    """The store a container's ``profiles.store`` describes (None when absent)."""
    if spec is None:
        return None
    store: ProfileStore = _build(spec, path, STORE_GROUP, _STORES)
    return store
