"""Loading containers: TOML/JSON files, ``${env:NAME}`` secrets, cattrs structuring with paths."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, is_sequence, list_structure_factory
from cattrs.v import format_exception, transform_error

from .._errors import ConfigError
from .._secret import Secret

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

__all__ = ["converter", "interpolate_env", "read_document", "structure"]

T = TypeVar("T")

_KEY = re.compile(r"\['([^']*)'\]")
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

#: The one converter that structures every config class (keyword-only attrs classes).
converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _strict_bool(value: Any, _: type) -> bool:
    # cattrs' default is bool(value): "no" would become True
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


converter.register_structure_hook(bool, _strict_bool)


def _structure_secret(value: Any, _: type) -> Secret:
    # A field typed ``Secret`` keeps (or becomes) one. Fields typed ``str`` get a plain str, as
    # cattrs' default does: what is not declared secret may be encoded (msgspec refuses str
    # subclasses), while the raw option tables (``Any``) keep their ``Secret`` values.
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value if isinstance(value, Secret) else Secret(value)


converter.register_structure_hook(Secret, _structure_secret)

#: Top-level container sections that hold data (GrowthBook features, experiments, saved
#: groups), not configuration: ``${env:...}`` inside them is a value, never expanded.
DATA_SECTIONS = frozenset({"features", "experiments", "saved_groups"})
#: Top-level sections whose ``${env:...}`` values become ``Secret`` (plugin options).
SECRET_SECTIONS = frozenset({"destinations", "profiles"})


class _NotAList(ValueError):
    """A scalar or a table where the container expects a list."""


def _sequence_hook_factory(type_: Any) -> Any:
    # cattrs iterates whatever it is given: the string "wk_live" would become the list
    # ["w", "k", ...]. Every list-typed field of every config class goes through here, so
    # the check is made once, for all of them.
    origin = getattr(type_, "__origin__", type_)
    if origin is tuple:
        base = homogenous_tuple_structure_factory(type_, converter)
    else:
        base = list_structure_factory(type_, converter)

    def structure_sequence(value: Any, cls: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _NotAList(f"expected a list, got {_kind(value)}")
        return base(value, cls)

    return structure_sequence


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a table/object"
    return type(value).__name__


converter.register_structure_hook_factory(is_sequence, _sequence_hook_factory)


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML or JSON container file into a dict (by extension; JSON otherwise)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}", source=str(p)) from None
    try:
        is_toml = p.suffix.lower() == ".toml"
        doc = tomllib.loads(raw.decode("utf-8")) if is_toml else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"<document>: {exc}", source=str(p)) from None
    if not isinstance(doc, dict):
        raise ConfigError("<document>: the top level must be a table/object", source=str(p))
    return doc


def interpolate_env(doc: Any, env: Mapping[str, str] | None = None, _path: str = "") -> Any:
    """Replace ``${env:NAME}`` (or ``${env:NAME:-default}``) in the strings of a container
    document ``doc``.

    Secrets stay out of container files; a missing variable is a ``ConfigError`` that names both
    the field path and the variable. Only configuration expands: the data sections
    (:data:`DATA_SECTIONS`: features, experiments, saved groups) are left as they are. A value
    expanded under ``destinations`` or ``profiles`` becomes a :class:`Secret` (redacted repr).
    """
    environ = os.environ if env is None else env
    errors: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            if "${env:" not in node:
                return node
            section = path.split(".", 1)[0].split("[", 1)[0]

            def sub(m: re.Match[str]) -> str:
                name, default = m.group(1), m.group(2)
                if name in environ:
                    return environ[name]
                if default is not None:
                    return default
                errors.append(f"{path or '<root>'}: environment variable {name} is not set")
                return ""

            out = _ENV_REF.sub(sub, node)
            return Secret(out) if section in SECRET_SECTIONS else out
        if isinstance(node, dict):
            if not path:  # the container's top level: data sections stay as they are
                return {k: v if k in DATA_SECTIONS else walk(v, str(k)) for k, v in node.items()}
            return {k: walk(v, f"{path}.{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return node

    out = walk(doc, _path)
    if errors:
        raise ConfigError(errors)
    return out


def _format_error(exc: BaseException, type_: Any) -> str:
    # cattrs' default wording, with friendlier text for the common cases
    if isinstance(exc, KeyError):
        return "required field is missing"
    if isinstance(exc, ConfigError):
        return "; ".join(exc.errors)
    if isinstance(exc, _NotAList):
        return str(exc)
    if isinstance(exc, ValueError) and "is not a valid" in str(exc):
        choices = getattr(type_, "__members__", None)
        if choices:
            allowed = ", ".join(repr(m.value) for m in type_)
            return f"{exc}; expected one of {allowed}"
    return format_exception(exc, type_)


def _messages(exc: BaseException, path: str) -> list[str]:
    out: list[str] = []
    for line in transform_error(exc, path="$", format_exception=_format_error):
        # "message @ $.tags[1].name"  ->  "tags[1].name: message"
        message, _, where = line.rpartition(" @ ")
        where = _KEY.sub(r".\1", where[1:]).lstrip(".")
        if path:
            where = f"{path}.{where}" if where and not where.startswith("[") else path + where
        if message.startswith("extra fields found (") and message.endswith(")"):
            for key in message[len("extra fields found (") : -1].split(", "):
                out.append(f"{where + '.' if where else ''}{key}: unknown field")
            continue
        out.append(f"{where or '<root>'}: {message}")
    return out


def structure(data: Any, cls: type[T], *, path: str = "", source: str | None = None) -> T:
    """Structure ``data`` into ``cls`` with the shared converter, or raise one ``ConfigError``.

    Every problem is listed with its path (``tags[2].destination: required field is missing``).
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises groups of anything a hook raised
        messages = _messages(exc, path)
        raise ConfigError(messages or [f"{path or '<root>'}: {exc}"], source=source) from None
