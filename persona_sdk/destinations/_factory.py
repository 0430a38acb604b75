"""Building the container's destinations through their entry points."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..plugins import (
    ConfigError,
    Destination,
    PluginError,
    check_plugin,
    load_plugin,
    missing_members,
)

if TYPE_CHECKING:
    from ..config import Container

__all__ = ["GROUP", "build_destinations"]

#: The entry point group destinations are registered under.
GROUP = "persona_sdk.destinations"


def build_destinations(
    container: Container, extra: Mapping[str, Any] | None = None
) -> dict[str, Destination]:
    """Build every enabled destination of ``container``, plus the ``extra`` instances.

    Each ``destinations.<name>`` entry is loaded from the ``persona_sdk.destinations`` entry
    point named by its ``type`` and built with ``(name=, options=, pii=container.pii)``. An
    ``extra`` instance (e.g. a ``CaptureDestination``) is added by name and replaces a
    configured destination of the same name, which is then not built (handy in tests).

    Raises ``ConfigError`` listing every problem, each prefixed with its path
    (``destinations.ga4.options.measurement_id: required field is missing``).

    .. versionadded:: 0.1.0
    """
    extra = dict(extra or {})
    errors: list[str] = []
    built: dict[str, Destination] = {}
    for name, cfg in container.destinations.items():
        if name in extra or not cfg.enabled:
            continue
        where = f"destinations.{name}"
        try:
            factory = load_plugin(GROUP, cfg.type)
        except PluginError as exc:
            errors.append(f"{where}.type: {exc}")
            continue
        try:
            dest = check_plugin(
                GROUP, cfg.type, factory(name=name, options=dict(cfg.options), pii=container.pii)
            )
        except PluginError as exc:
            errors.append(f"{where}.type: {exc}")
            continue
        except ConfigError as exc:
            errors.extend(
                e if e.startswith("destinations.") else f"{where}.options.{e}" for e in exc.errors
            )
            continue
        except Exception as exc:  # a plugin's own bug must not hide the other problems
            errors.append(f"{where}: {cfg.type} failed to build: {type(exc).__name__}: {exc}")
            continue
        built[name] = dest
    for name, dest in extra.items():
        missing = missing_members(GROUP, dest)
        if missing:
            errors.append(
                f"destinations.{name}: {type(dest).__name__} is not a Destination "
                f"(missing {', '.join(missing)})"
            )
            continue
        built[name] = dest
    if errors:
        for dest in built.values():
            try:
                dest.close()
            except Exception:  # releasing what was built is best effort
                pass
        raise ConfigError(errors)
    return built
