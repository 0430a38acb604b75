"""What one container compiles to (``Runtime``), and the ``Builder`` that compiles it."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from attrs import Factory, define, evolve, field, frozen

from .._errors import ConfigError
from .._ports import VisitorSegments
from ..config import Container

if TYPE_CHECKING:
    from ..actions import ActionRunner
    from ..content import ContentRuntime
    from ..decisions import Engine, HookSet
    from ..delivery import Delivery
    from ..events import Message, TrackingPlan
    from ..profiles import ProfileResolver, Segments
    from ..rules import OperatorRegistry
    from ..tags import Route, Router

__all__ = ["Builder", "Runtime", "naming_source"]

log = logging.getLogger("persona_sdk.config")


@frozen
class Runtime:
    """Everything compiled from one container; swapped whole on reload, read without locks."""

    container: Container
    router: Router
    engine: Engine
    segments: Segments
    plan: TrackingPlan
    #: the content placements, catalog and feeds (``persona_sdk.content``), or None
    content: ContentRuntime | None = None
    #: events whose arrival the content runtime (bandit rewards) or actions observe
    watched: frozenset[str] = frozenset()
    #: the next-best actions (``persona_sdk.actions``), or None
    actions: ActionRunner | None = None
    #: what computes ``visitor.segments``: ``segments`` through the resolver's per-visitor
    #: membership (``ProfileResolver.visitor_segments``)
    visitor_segments: VisitorSegments | None = None
    #: whether nothing on the caller's thread needs an exposure's message (no tracking plan,
    #: no observer of its event or of track events): visitors then hand exposures over as
    #: they are (``_facade.exposures.ExposureLane``)
    hand_exposures: bool = False
    #: ``router.route``, bound once: the hot path hands it over with every message
    route: Callable[[Message], Sequence[Route]] = field(
        default=Factory(lambda self: self.router.route, takes_self=True), init=False
    )

    def close(self) -> None:
        """Stop what this runtime started (content pollers, the actions scheduler)."""
        if self.content is not None:
            self.content.close()
        if self.actions is not None:
            self.actions.close()


@define
class _Parts:
    """What ``Builder._compile`` got through: None for a part that did not compile."""

    plan: TrackingPlan | None = None
    content: ContentRuntime | None = None
    actions: ActionRunner | None = None
    router: Router | None = None
    engine: Engine | None = None
    segments: Segments | None = None


@contextmanager
def naming_source(container: Any) -> Iterator[None]:
    """Name the file in every ``ConfigError`` about a container read from one, whichever
    step found it (structuring, building destinations, compiling rules): the same message
    from ``from_file``, ``Persona(path)``, ``reload(path)`` and ``persona validate``."""
    try:
        yield
    except ConfigError as exc:
        if exc.source is None and isinstance(container, (str, os.PathLike)):
            raise ConfigError(exc.errors, source=os.fspath(container)) from None
        raise


class Builder:
    """Compiles a container into a ``Runtime`` and configures delivery and profiles with it.

    Holds what ``Persona`` was built with (plugins, stores, clock); ``actions_host`` is what
    the actions fire events through (its ``track`` and ``identify``).
    """

    def __init__(
        self,
        *,
        delivery: Delivery,
        profiles: ProfileResolver,
        hooks: HookSet,
        counter_store: Any,
        clock: Callable[[], float],
        operators: OperatorRegistry | None,
        sticky_store: Any | None,
        destinations: Mapping[str, Any],
        content_sources: Mapping[str, Any],
        enrichers: Mapping[str, Any],
        strategies: Mapping[str, Any],
        actions_host: Any,
    ) -> None:
        self._delivery = delivery
        self._profiles = profiles
        self._hooks = hooks
        self._counter_store = counter_store
        self._clock = clock
        self._operators = operators
        self._sticky_store = sticky_store
        self._destinations = dict(destinations)
        self._content_sources = dict(content_sources)
        self._enrichers = dict(enrichers)
        self._strategies = dict(strategies)
        self._actions_host = actions_host

    def build(self, container: Container, previous: Runtime | None = None) -> Runtime:
        """Compile ``container`` (replacing ``previous``, on a reload); every problem is
        reported at once (``ConfigError``), and nothing running is changed unless all of it
        compiled."""
        from ..destinations import build_destinations

        errors: list[str] = []
        destinations: dict[str, Any] = {}
        try:
            destinations = build_destinations(container, extra=self._destinations)
        except ConfigError as exc:
            errors.extend(exc.errors)
        parts = self._compile(container, previous, destinations, errors)
        content, actions = parts.content, parts.actions
        if errors:
            if content is not None:
                content.close()
            if actions is not None:
                actions.close()
            raise ConfigError(errors)
        router, engine, segments, plan = parts.router, parts.engine, parts.segments, parts.plan
        assert router is not None
        assert engine is not None
        assert segments is not None
        assert plan is not None
        self._go_live(container, destinations, engine, segments)
        watched = content.watched if content is not None else frozenset()
        if actions is not None:
            watched = watched | actions.watched
        return Runtime(container, router, engine, segments, plan, content, watched, actions,
                       self._profiles.visitor_segments(segments),
                       self._hand_exposures(engine, plan, watched))

    def _compile(
        self,
        container: Container,
        previous: Runtime | None,
        destinations: Mapping[str, Any],
        errors: list[str],
    ) -> _Parts:
        """Compile each part of ``container``, every part's problems into ``errors``."""
        from ..decisions import Engine
        from ..events import TrackingPlan
        from ..profiles import Segments
        from ..tags import Router

        parts = _Parts()
        for build in ("plan", "content", "actions", "router", "engine", "segments"):
            try:
                if build == "plan":
                    parts.plan = TrackingPlan(container.tracking_plan)
                elif build == "content":
                    parts.content = self._build_content(container, previous)
                elif build == "actions":
                    from ..actions import ActionRunner

                    parts.actions = ActionRunner.build(
                        container.actions, persona=self._actions_host, clock=self._clock,
                        operators=self._operators,
                    )
                elif build == "router":
                    parts.router = Router.build(
                        container, destinations, operators=self._operators
                    )
                elif build == "engine":
                    parts.engine = Engine.build(
                        container,
                        operators=self._operators,
                        sticky_store=self._sticky_store,
                        content=parts.content,
                    )
                else:
                    parts.segments = Segments.build(
                        container, operators=self._operators, clock=self._clock
                    )
            except ConfigError as exc:
                errors.extend(exc.errors)
        return parts

    def _go_live(
        self,
        container: Container,
        destinations: Mapping[str, Any],
        engine: Engine,
        segments: Segments,
    ) -> None:
        """Configure profiles and delivery with a container that compiled whole."""
        # profiles first: it checks its source options before changing anything, and a
        # refusal must leave the running delivery untouched
        self._profiles.configure(container)
        self._profiles.use_segments(segments)
        self._delivery.configure(destinations, container)
        if engine.warnings:
            # once per load: what a lenient (GrowthBook) import let through
            log.warning(
                "container loaded with %d warning(s) (see Persona.warnings): %s",
                len(engine.warnings),
                "; ".join(engine.warnings[:5]) + ("; ..." if len(engine.warnings) > 5 else ""),
            )

    def _build_content(
        self, container: Container, previous: Runtime | None
    ) -> ContentRuntime | None:
        if not (container.placements or container.content or container.content_sources):
            return None
        from ..content import ContentRuntime

        return ContentRuntime.build(
            content=container.content,
            placements=container.placements,
            sources=container.content_sources,
            store=self._counter_store,
            clock=self._clock,
            hooks=self._hooks,
            operators=self._operators,
            saved_groups=container.saved_groups or None,
            source_factories=self._content_sources,
            strategies=self._strategies,
            context=container.context,
            enrichers=self._enrichers,
            # a reload keeps the feed items of unchanged sources
            previous=previous.content if previous is not None else None,
            aliases=self._profiles.aliases,
        )

    def with_flags(
        self, old: Runtime, payload: Mapping[str, Any] | str | bytes, decryption_key: str | None
    ) -> Runtime:
        """``old`` with a GrowthBook payload's features, experiments and saved groups;
        destinations, tags and profiles stay as they are."""
        from ..decisions import Engine, container_from_growthbook
        from ..profiles import Segments

        container = container_from_growthbook(
            payload, decryption_key=decryption_key, base=old.container
        )
        engine = Engine.build(
            container, operators=self._operators, sticky_store=self._sticky_store
        )
        segments = Segments.build(container, operators=self._operators)
        return evolve(
            old, container=container, engine=engine, segments=segments,
            visitor_segments=self._profiles.visitor_segments(segments),
            hand_exposures=self._hand_exposures(engine, old.plan, old.watched),
        )

    def _hand_exposures(self, engine: Engine, plan: TrackingPlan, watched: frozenset[str]) -> bool:
        # Runtime.hand_exposures (the profiles' observed types are set by _go_live, first)
        event = engine.exposure_event
        return bool(
            event and not plan.active and event not in watched
            and "track" not in self._profiles.observes
        )
