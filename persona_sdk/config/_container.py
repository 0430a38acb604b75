"""The container: everything a running ``Persona`` is configured by, in one declarative file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import Factory, frozen

from .._errors import ConfigError
from ._actions import ActionConfig
from ._content import ContextConfig, PlacementConfig, SourceConfig
from ._decisions import DecisionsConfig
from ._delivery import DeliveryConfig, DestinationConfig
from ._depth import check_depth
from ._load import interpolate_env, read_document, structure
from ._privacy import ConsentConfig, PiiConfig
from ._profiles import ComputedTraitConfig, ProfilesConfig, SegmentConfig
from ._tags import TagConfig
from ._tracking_plan import TrackingPlanConfig
from ._web import CollectorConfig

__all__ = ["Container", "load_container"]


@frozen(kw_only=True)
class Container:
    """A tag-manager style container: destinations, tags, consent, PII policy, profiles,
    segments, features and experiments.

    ``features``, ``experiments`` and ``saved_groups`` use GrowthBook's SDK payload shapes, so
    an existing GrowthBook export drops in (see ``Persona.from_growthbook``).

    Usage::

        container = Container.load("persona.toml")
        persona = Persona(container=container)
    """

    version: int = 1
    consent: ConsentConfig = Factory(ConsentConfig)
    pii: PiiConfig = Factory(PiiConfig)
    delivery: DeliveryConfig = Factory(DeliveryConfig)
    destinations: dict[str, DestinationConfig] = Factory(dict)
    tags: list[TagConfig] = Factory(list)
    profiles: ProfilesConfig = Factory(ProfilesConfig)
    segments: dict[str, SegmentConfig] = Factory(dict)
    computed_traits: dict[str, ComputedTraitConfig] = Factory(dict)
    decisions: DecisionsConfig = Factory(DecisionsConfig)
    features: dict[str, Any] = Factory(dict)
    experiments: list[Any] = Factory(list)
    saved_groups: dict[str, Any] = Factory(dict)
    collector: CollectorConfig = Factory(CollectorConfig)
    tracking_plan: TrackingPlanConfig = Factory(TrackingPlanConfig)
    #: content items (``[[content]]``), checked one by one (a bad item names its field)
    content: list[Any] = Factory(list)
    #: feeds of content items (``[content_sources.<name>]``)
    content_sources: dict[str, SourceConfig] = Factory(dict)
    #: content placements for ``visitor.decide`` (``[placements.<name>]``)
    placements: dict[str, PlacementConfig] = Factory(dict)
    #: next-best actions (``[[actions]]``)
    actions: list[ActionConfig] = Factory(list)
    #: real-time context enrichers for content decisions (``[context]``)
    context: ContextConfig = Factory(ContextConfig)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        source: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Container:
        """Structure a parsed document, resolving ``${env:NAME}`` references first.

        With ``base_dir``, relative file paths in the container (``delivery.spool_path``, and
        the ``path`` option of a destination, the profile source or the profile store)
        resolve against it; ``Container.load`` passes the
        container file's directory. Without it they stay relative to the working directory.

        Raises ``ConfigError`` listing every problem with its path, and for a document nested
        deeper than ``MAX_DEPTH`` levels (checked first: the walkers and compilers recurse).
        """
        try:
            check_depth(data)
            resolved = interpolate_env(dict(data), env)
        except ConfigError as exc:
            raise ConfigError(exc.errors, source=source) from None
        container = structure(resolved, cls, source=source)
        if base_dir is not None:
            container = _resolve_paths(container, Path(base_dir))
        return container

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
    ) -> Container:
        """Read a TOML or JSON container file.

        Relative file paths in it resolve against the file's directory (see ``from_dict``).
        """
        return cls.from_dict(
            read_document(path),
            env=env,
            source=os.fspath(path),
            base_dir=Path(path).resolve().parent,
        )


def _resolved(value: str, base: Path) -> str:
    # SQLite's ":memory:", URIs and absolute paths stay as written
    if not value or value.startswith(":") or "://" in value or Path(value).is_absolute():
        return value
    return os.fspath(base / value)


def _resolve_options(options: Mapping[str, Any], base: Path) -> dict[str, Any]:
    return {
        # only ``path``: other ``*_path`` options are event paths (ga4's client_id_path)
        k: _resolved(v, base) if k == "path" and isinstance(v, str) else v
        for k, v in options.items()
    }


def _resolve_paths(container: Container, base: Path) -> Container:
    """The container with its relative file paths made absolute against ``base``."""
    delivery = attrs.evolve(
        container.delivery, spool_path=_resolved(container.delivery.spool_path, base)
    )
    destinations = {
        name: attrs.evolve(d, options=_resolve_options(d.options, base))
        for name, d in container.destinations.items()
    }
    profiles = container.profiles
    # a profile source or store is ``{type = "...", <its options>}``
    source, store = profiles.source, profiles.store
    profiles = attrs.evolve(
        profiles,
        source=_resolve_options(source, base) if isinstance(source, Mapping) else source,
        store=_resolve_options(store, base) if isinstance(store, Mapping) else store,
    )
    # a file content source's ``path`` (a feed written next to the container)
    sources = {
        name: attrs.evolve(src, path=_resolved(src.path, base)) if src.path else src
        for name, src in container.content_sources.items()
    }
    return attrs.evolve(
        container, delivery=delivery, destinations=destinations, profiles=profiles,
        content_sources=sources,
    )


def load_container(
    source: Container | Mapping[str, Any] | str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
) -> Container:
    """Return a ``Container`` from a container, a mapping, or a file path."""
    if isinstance(source, Container):
        return source
    if isinstance(source, Mapping):
        return Container.from_dict(source, env=env)
    return Container.load(source, env=env)
