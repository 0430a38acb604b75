"""The container: everything a running ``Persona`` is configured by, in one declarative file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from attrs import Factory, frozen

from ..actions._actions import ActionConfig
from ..content._config import ContextConfig, PlacementConfig, SourceConfig
from ..decisions._config import DecisionsConfig
from ..delivery._config import DeliveryConfig, DestinationConfig
from ..privacy._config import ConsentConfig, PiiConfig
from ..profiles._config import ComputedTraitConfig, ProfilesConfig, SegmentConfig
from ..tags._config import TagConfig
from ..web._config import CollectorConfig
from ._load import interpolate_env, read_document, structure

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
    ) -> Container:
        """Structure a parsed document, resolving ``${env:NAME}`` references first.

        Raises ``ConfigError`` listing every problem with its path.
        """
        resolved = interpolate_env(dict(data), env)
        return structure(resolved, cls, source=source)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
    ) -> Container:
        """Read a TOML or JSON container file."""
        return cls.from_dict(read_document(path), env=env, source=os.fspath(path))


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
