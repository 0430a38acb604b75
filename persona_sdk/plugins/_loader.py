"""The one plugin loader: every entry point group, found and checked against its Protocol.

Each group of :data:`GROUPS` says what its entry points name (a factory called with keyword
options, or the plugin object itself, or a class instantiated without arguments) and what the
plugin object must have. The SDK's own lookups (destinations, profile sources and stores,
hash schemes, operators, content sources, enrichers, strategies, workers) all go through
here, so a plugin that loads but lacks a method fails early with a ``PluginError`` naming the
group, the plugin and what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from attrs import frozen

from .._errors import PluginError

__all__ = [
    "GROUPS",
    "PluginGroup",
    "check_plugin",
    "instantiate",
    "iter_entry_points",
    "load_plugin",
    "load_plugin_object",
    "missing_members",
]


@frozen(kw_only=True)
class PluginGroup:
    """What the plugins of one entry point group are.

    ``protocol`` names the Protocol of ``persona_sdk.plugins`` a plugin object implements;
    ``methods`` and ``attributes`` are the members checked on it. ``factory`` is True when
    the entry point is a factory called with keyword arguments (``DestinationFactory``),
    False when it is the plugin object itself or a class taking no argument.
    """

    name: str
    protocol: str
    methods: tuple[str, ...]
    attributes: tuple[str, ...] = ()
    factory: bool = True


#: Every entry point group the SDK reads, by name.
GROUPS: dict[str, PluginGroup] = {
    g.name: g
    for g in (
        PluginGroup(
            name="persona_sdk.destinations", protocol="Destination",
            methods=("transform", "send", "close"), attributes=("name", "batch"),
        ),
        PluginGroup(
            name="persona_sdk.profile_sources", protocol="ProfileSource",
            methods=("get", "aget", "close"),
        ),
        PluginGroup(
            name="persona_sdk.stores", protocol="ProfileStore",
            methods=("get", "set", "delete", "aget", "aset", "adelete", "close"),
        ),
        PluginGroup(
            name="persona_sdk.content_sources", protocol="ContentSource",
            methods=("fetch", "close"), attributes=("name", "interval"),
        ),
        PluginGroup(name="persona_sdk.enrichers", protocol="Enricher", methods=("enrich",)),
        PluginGroup(name="persona_sdk.workers", protocol="Worker", methods=("run", "stop")),
        PluginGroup(
            name="persona_sdk.operators", protocol="Operator", methods=("compile",),
            attributes=("name",), factory=False,
        ),
        PluginGroup(
            name="persona_sdk.hash_schemes", protocol="HashScheme", methods=("bucketer",),
            attributes=("name",), factory=False,
        ),
        PluginGroup(
            name="persona_sdk.strategies", protocol="Strategy", methods=("rank",),
            factory=False,
        ),
    )
}  # fmt: skip


def iter_entry_points(group: str) -> Iterator[EntryPoint]:
    """The installed entry points of ``group``, sorted by name (a stable order)."""
    return iter(sorted(entry_points(group=group), key=lambda ep: ep.name))


def load_plugin(group: str, name: str) -> Callable[..., Any]:
    """Load the entry point ``name`` of ``group``; ``PluginError`` names both on failure.

    What it returns is the factory (or class) the entry point names, not yet called; use
    :func:`check_plugin` on what it builds, or :func:`load_plugin_object` for the groups
    whose entry points are the plugin object itself.
    """
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        known = sorted({ep.name for ep in entry_points(group=group)})
        raise PluginError(
            f"no plugin {name!r} in entry point group {group!r}"
            + (f" (installed: {', '.join(known)})" if known else "")
        )
    try:
        obj = found[0].load()
    except Exception as exc:
        raise PluginError(
            f"plugin {name!r} of group {group!r} ({found[0].value}) failed to load: {exc}"
        ) from exc
    if not callable(obj) and (group not in GROUPS or GROUPS[group].factory):
        raise PluginError(f"plugin {name!r} of group {group!r} is not callable")
    return obj  # type: ignore[no-any-return]


def missing_members(group: str, obj: object) -> list[str]:
    """The members ``obj`` lacks to be a plugin of ``group`` (``[]``: none; an unknown group
    checks nothing)."""
    spec = GROUPS.get(group)
    if spec is None:
        return []
    missing = [m for m in spec.methods if not callable(getattr(obj, m, None))]
    missing += [a for a in spec.attributes if not hasattr(obj, a)]
    return missing


def check_plugin(group: str, name: str, obj: Any) -> Any:
    """Return ``obj`` when it has what a plugin of ``group`` needs; otherwise raise a
    ``PluginError`` naming the group, the plugin and the missing members."""
    missing = missing_members(group, obj)
    if missing:
        raise PluginError(
            f"plugin {name!r} of group {group!r}: {type(obj).__name__} is not a "
            f"{GROUPS[group].protocol} (missing {', '.join(missing)})"
        )
    return obj


def load_plugin_object(group: str, name: str) -> Any:
    """Load the plugin object ``name`` of a group whose entry points name the object itself,
    a class instantiated without arguments, or a factory taking none; checked against the
    group's Protocol."""
    obj = load_plugin(group, name)
    return instantiate(group, name, obj)


def instantiate(group: str, name: str, obj: Any) -> Any:
    """``obj`` as a plugin object of ``group``: a class or a factory is called without
    arguments; the result is checked with :func:`check_plugin`."""
    if isinstance(obj, type) or (missing_members(group, obj) and callable(obj)):
        try:
            obj = obj()
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} of group {group!r}: building it failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return check_plugin(group, name, obj)
