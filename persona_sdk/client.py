"""``Persona``: the facade that wires a container to the tag layer, profiles and decisions."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from attrs import Factory, evolve, field, frozen

from ._errors import ClosedError, ConfigError, EventValidationError
from ._ports import Ports, Tracker, VisitorSegments
from .config import Container, load_container
from .decisions._visitor import UNSET
from .events import IngestResult, Message, check_message, decode_messages, new_message_id
from .events._ids import check_integrations, coerce_id
from .events._ingest import decode_checked
from .events._values import check_finite, has_nonfinite, to_epoch

if TYPE_CHECKING:
    from .actions import ActionRunner
    from .content._runtime import ContentRuntime
    from .decisions import Engine
    from .decisions._feed import FlagFeed
    from .decisions._visitor import Visitor
    from .delivery import Delivery
    from .events._plan import TrackingPlan
    from .profiles import ProfileResolver, Segments
    from .rules import OperatorRegistry
    from .tags import Route, Router

__all__ = ["Persona"]

_MISSING: Any = object()

log = logging.getLogger("persona_sdk.config")


@frozen
class _Runtime:
    # Everything compiled from one container; swapped whole on reload, read without locks.
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
    #: ``router.route``, bound once: the hot path hands it over with every message
    route: Callable[[Message], Sequence[Route]] = field(
        default=Factory(lambda self: self.router.route, takes_self=True), init=False
    )


@contextmanager
def _naming_source(container: Any) -> Iterator[None]:
    # Every ConfigError about a container read from a file names the file, whichever step
    # found it (structuring, building destinations, compiling rules): the same message
    # from from_file, Persona(path), reload(path) and `persona validate`.
    try:
        yield
    except ConfigError as exc:
        if exc.source is None and isinstance(container, (str, os.PathLike)):
            raise ConfigError(exc.errors, source=os.fspath(container)) from None
        raise


class Persona:
    """The embedded SDK: collect (``track``), resolve (``visitor``) and decide (``feature``).

    Build one per process and share it between threads and tasks::

        persona = Persona.from_file("persona.toml")
        persona.track("Order Completed", anonymous_id="a-1", properties={"revenue": 42.0})
        visitor = persona.visitor(anonymous_id="a-1", attributes={"country": "FR"})
        if visitor.is_on("new-checkout"):
            ...
        persona.close()

    Nothing starts at construction: the delivery thread starts on the first event.
    """

    def __init__(
        self,
        container: Container | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        destinations: Mapping[str, Any] | None = None,
        profile_source: Any | None = None,
        profile_store: Any | None = None,
        sticky_store: Any | None = None,
        counter_store: Any | None = None,
        dedup_store: Any | None = None,
        content_sources: Mapping[str, Any] | None = None,
        enrichers: Mapping[str, Any] | None = None,
        strategies: Mapping[str, Any] | None = None,
        operators: OperatorRegistry | None = None,
        on_exposure: Callable[..., Any] | None = None,
        on_feature_usage: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        from .decisions import HookSet
        from .delivery import Delivery
        from .profiles import ProfileResolver

        self._env = env
        self._clock = clock
        self._operators = operators
        self._extra_destinations = dict(destinations or {})
        self._sticky_store = sticky_store
        self._profile_store = profile_store
        if counter_store is None:
            from .content import InMemoryCounterStore

            counter_store = InMemoryCounterStore(clock=clock)
        #: frequency caps and bandit statistics (``persona_sdk.plugins.CounterStore``)
        self.counter_store = counter_store
        self._content_sources = dict(content_sources or {})
        self._enrichers = dict(enrichers or {})
        self._strategies = dict(strategies or {})
        self._hooks = HookSet(
            on_exposure=on_exposure, on_feature_usage=on_feature_usage, dedup_store=dedup_store
        )
        self._lock = threading.Lock()
        self._closed = False
        self._feed: FlagFeed | None = None
        self._flag_listeners: list[Callable[[frozenset[str]], Any]] = []
        with _naming_source(container):
            cont = load_container(container if container is not None else Container(), env=env)
            self._delivery: Delivery = Delivery(cont.delivery)
            self._profiles: ProfileResolver = ProfileResolver(
                cont, source=profile_source, store=profile_store, emit=self._emit, clock=clock
            )
            self._runtime: _Runtime = self._build(cont)
        #: the callables this Persona hands the web adapters (``Collector``, profile API),
        #: bound once here
        self.ports = Ports(self.ingest, self._ingest_batch, self._profiles.record)
        # what visitors track exposures with: ``track``, bound once (never this Persona)
        self._tracker = Tracker(self.track)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Persona:
        """Load a TOML or JSON container file (relative file paths in it resolve against
        the file's directory)."""
        return cls(os.fspath(path), **kwargs)

    @classmethod
    def from_growthbook(
        cls,
        payload: Mapping[str, Any] | str | bytes | None = None,
        *,
        decryption_key: str | None = None,
        base: Container | Mapping[str, Any] | None = None,
        api_host: str | None = None,
        client_key: str | None = None,
        poll_interval: float = 60.0,
        streaming: bool = True,
        cache_path: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> Persona:
        """Build from a GrowthBook SDK payload (``features``, ``savedGroups``,
        ``experiments``; encrypted payloads need ``decryption_key``). Destinations, tags and
        the rest come from ``base``.

        With ``api_host`` and ``client_key`` the payload is fetched from GrowthBook's API
        and kept fresh on a background thread: polled every ``poll_interval`` seconds with
        ``ETag``s, or followed over server-sent events when the host streams and
        ``streaming`` is on. The last good flags are kept on any failure; ``cache_path``
        keeps a copy on disk for a cold start while the API is down. ``payload``, when also
        given, serves until the first fetch. Use ``wait_until_ready`` / ``aready`` before
        relying on the flags, and ``on_features_change`` to hear of new ones.

        .. versionadded:: 0.1 ``api_host``, ``client_key``, ``poll_interval``,
           ``streaming``, ``cache_path``
        """
        from .decisions import container_from_growthbook

        container = load_container(base or Container(), env=kwargs.get("env"))
        if payload is not None:
            container = container_from_growthbook(
                payload, decryption_key=decryption_key, base=container
            )
        persona = cls(container, **kwargs)
        if api_host is None and client_key is None:
            if payload is None:
                raise ConfigError("from_growthbook: pass a payload, or api_host and client_key")
            return persona
        if not api_host or not client_key:
            raise ConfigError("from_growthbook: api_host and client_key go together")
        from .decisions._feed import FlagFeed

        feed = FlagFeed(
            api_host=api_host,
            client_key=client_key,
            apply=lambda p: persona.reload_flags(p, decryption_key=decryption_key),
            poll_interval=poll_interval,
            streaming=streaming,
            cache_path=cache_path,
        )
        if payload is not None:
            feed.ready.set()
        persona._feed = feed
        feed.start()
        return persona

    def reload_flags(
        self, payload: Mapping[str, Any] | str | bytes, *, decryption_key: str | None = None
    ) -> None:
        """Swap in a GrowthBook SDK payload's features, experiments and saved groups,
        atomically, leaving destinations, tags and profiles as they are. On any error the
        running flags stay and ``ConfigError`` says why."""
        from .decisions import Engine, container_from_growthbook
        from .profiles import Segments

        with self._lock:
            self._check_open()
            old = self._runtime
            container = container_from_growthbook(
                payload, decryption_key=decryption_key, base=old.container
            )
            engine = Engine.build(
                container, operators=self._operators, sticky_store=self._sticky_store
            )
            segments = Segments.build(container, operators=self._operators)
            self._runtime = evolve(
                old, container=container, engine=engine, segments=segments,
                visitor_segments=self._profiles.visitor_segments(segments),
            )
        changed = _changed_keys(old.container.features, container.features)
        if changed:
            for listener in tuple(self._flag_listeners):
                try:
                    listener(changed)
                except Exception:  # a listener never breaks the feed
                    _log_listener_error()

    def on_features_change(self, listener: Callable[[frozenset[str]], Any]) -> None:
        """Call ``listener(keys)`` with the keys of the features that changed, after each
        swap of flags (``reload_flags``, or a live update from ``from_growthbook``)."""
        self._flag_listeners.append(listener)

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Whether flags are loaded, waiting up to ``timeout`` seconds for the first fetch
        (or the file cache) of a live ``from_growthbook``; True at once otherwise."""
        feed = self._feed
        return True if feed is None else feed.ready.wait(timeout)

    async def aready(self, timeout: float | None = None) -> bool:
        """The asyncio form of ``wait_until_ready`` (waits without blocking the loop)."""
        feed = self._feed
        if feed is None or feed.ready.is_set():
            return True
        import asyncio

        return await asyncio.to_thread(feed.ready.wait, timeout)

    def _build(self, container: Container) -> _Runtime:
        from .decisions import Engine
        from .destinations import build_destinations
        from .profiles import Segments
        from .tags import Router

        errors: list[str] = []
        destinations: dict[str, Any] = {}
        try:
            destinations = build_destinations(container, extra=self._extra_destinations)
        except ConfigError as exc:
            errors.extend(exc.errors)
        from .events._plan import TrackingPlan

        router = engine = segments = plan = content = actions = None
        for build in ("plan", "content", "actions", "router", "engine", "segments"):
            try:
                if build == "plan":
                    plan = TrackingPlan(container.tracking_plan)
                elif build == "content":
                    content = self._build_content(container)
                elif build == "actions":
                    from .actions import ActionRunner

                    actions = ActionRunner.build(
                        container.actions, persona=self, clock=self._clock,
                        operators=self._operators,
                    )
                elif build == "router":
                    router = Router.build(container, destinations, operators=self._operators)
                elif build == "engine":
                    engine = Engine.build(
                        container,
                        operators=self._operators,
                        sticky_store=self._sticky_store,
                        content=content,
                    )
                else:
                    segments = Segments.build(
                        container, operators=self._operators, clock=self._clock
                    )
            except ConfigError as exc:
                errors.extend(exc.errors)
        if errors:
            if content is not None:
                content.close()
            if actions is not None:
                actions.close()
            raise ConfigError(errors)
        assert router is not None
        assert engine is not None
        assert segments is not None
        assert plan is not None
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
        watched = content.watched if content is not None else frozenset()
        if actions is not None:
            watched = watched | actions.watched
        return _Runtime(container, router, engine, segments, plan, content, watched, actions,
                        self._profiles.visitor_segments(segments))

    def _build_content(self, container: Container) -> ContentRuntime | None:
        if not (container.placements or container.content or container.content_sources):
            return None
        from .content._runtime import ContentRuntime

        return ContentRuntime.build(
            content=container.content,
            placements=container.placements,
            sources=container.content_sources,
            store=self.counter_store,
            clock=self._clock,
            hooks=self._hooks,
            operators=self._operators,
            saved_groups=container.saved_groups or None,
            source_factories=self._content_sources,
            strategies=self._strategies,
            context=container.context,
            enrichers=self._enrichers,
        )

    def reload(
        self,
        container: Container | Mapping[str, Any] | str | os.PathLike[str],
        *,
        allow_no_destinations: bool = False,
    ) -> None:
        """Swap to a new container atomically; on any error the running one stays.

        A container without destinations, replacing one that has some, is refused (it would
        stop all tracking) unless ``allow_no_destinations`` is true; to change only flags,
        use ``reload_flags``.

        Raises ``ConfigError`` listing every problem of the refused container.
        """
        with self._lock, _naming_source(container):
            self._check_open()
            loaded = load_container(container, env=self._env)
            if (
                not allow_no_destinations
                and self._runtime.container.destinations
                and not loaded.destinations
            ):
                raise ConfigError(
                    "destinations: the new container has none and would stop all tracking; "
                    "pass allow_no_destinations=True, or use reload_flags() for flags only"
                )
            new = self._build(loaded)
            old, self._runtime = self._runtime, new
        self._close_runtime(old)

    # -- write path -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this Persona is closed")

    def _emit(self, msg: Message) -> str:
        # observe (identity, computed traits: read-your-writes for the next visitor), then
        # hand over; the delivery thread routes it through the tags. No I/O, no lock.
        if self._closed:
            raise ClosedError("this Persona is closed")
        plan = self._runtime.plan
        if plan.active:  # raises for a blocked event, before any id is handed out
            plan.check(msg)
        profiles = self._profiles
        if msg.type in profiles.observes:
            profiles.observe(msg)
        rt = self._runtime
        if msg.event in rt.watched and msg.type == "track":
            self._observe(rt, msg)
        self._delivery.submit(msg, rt.route)
        return msg.message_id

    @staticmethod
    def _observe(rt: _Runtime, msg: Message) -> None:
        if rt.content is not None and msg.event in rt.content.watched:
            rt.content.observe(
                msg.event or "", msg.properties or {}, msg.user_id, msg.anonymous_id
            )
        if rt.actions is not None and msg.event in rt.actions.watched:
            rt.actions.observe(msg)

    def _message(
        self,
        type_: str,
        *,
        anonymous_id: str | None,
        user_id: str | None,
        context: Mapping[str, Any] | None,
        consent: Mapping[str, bool] | None,
        timestamp: float | datetime | str | None,
        message_id: str | None,
        integrations: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Message:
        if anonymous_id is not None and anonymous_id.__class__ is not str:
            anonymous_id = coerce_id("anonymousId", anonymous_id)
        if user_id is not None and user_id.__class__ is not str:
            user_id = coerce_id("userId", user_id)
        for key, name in (("group_id", "groupId"), ("previous_id", "previousId")):
            value = fields.get(key)
            if value is not None and value.__class__ is not str:
                fields[key] = coerce_id(name, value)
        if integrations is not None:
            fields["integrations"] = check_integrations(integrations)
        ctx: dict[str, Any] = dict(context) if context else {}
        check_finite(ctx, "context")
        for name in ("properties", "traits"):
            check_finite(fields.get(name), name)
        if consent is not None:
            ctx["consent"] = {"categoryPreferences": dict(consent)}
        msg = Message(
            type=type_,
            message_id=message_id or new_message_id(),
            anonymous_id=anonymous_id,
            user_id=user_id,
            context=ctx,
            timestamp=self._clock() if timestamp is None else to_epoch(timestamp),
            **fields,
        )
        check_message(msg)
        return msg

    def track(  # noqa: PLR0917 - see the docstring
        self,
        event: str,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Record an action; returns its ``messageId`` once it is queued (never waits on I/O;
        in ``sync`` spool mode, once it is on disk).

        ``timestamp`` is when it happened: epoch seconds, a ``datetime`` (naive means UTC) or
        an ISO 8601 string; by default, now.

        Raises ``EventValidationError`` naming the bad field (an unreadable ``timestamp``, a
        NaN or ±Infinity anywhere in ``properties`` or ``context``); in ``sync`` spool mode,
        ``SpoolFullError`` when the spool is at its byte cap. Numeric ids are sent as
        strings (``user_id=123`` goes out as ``"123"``), as Segment's libraries do.
        ``integrations`` is Segment's object (``{"All": False, "Mixpanel": True}``): it
        limits which destinations get the event, matched by destination name.

        Pass the arguments after ``event`` by keyword. They are not keyword-only because
        CPython 3.11 looks each omitted keyword-only default up in a dict, on every call.
        """
        # The hot path of the write side, so built inline rather than through _message and
        # _emit: every step here is paid on the caller's thread.
        if properties is None:
            props: dict[str, Any] = {}
        elif type(properties) is dict or type(properties) is MappingProxyType:
            # the usual cases (a dict; an exposure's read-only properties), without an ABC
            # isinstance check
            props = properties.copy()
        elif isinstance(properties, Mapping):
            props = dict(properties)
        else:
            raise EventValidationError("properties", "expected a mapping")
        # NaN and ±Infinity are not JSON: refused here, not turned into null on the way out.
        # Inlined (one class test per value) rather than a call: this runs on every track.
        for v in props.values():
            t = v.__class__
            if t is float:
                if v - v != 0.0:  # 0.0 for every finite float; NaN for NaN and infinities
                    check_finite(props, "properties")  # raises, naming the path
            elif t is dict or t is list or t is tuple:
                check_finite(props, "properties")  # nested: the full walk
                break
        if anonymous_id is not None and anonymous_id.__class__ is not str:
            anonymous_id = coerce_id("anonymousId", anonymous_id)
        if user_id is not None and user_id.__class__ is not str:
            user_id = coerce_id("userId", user_id)
        ctx: dict[str, Any] = dict(context) if context else {}
        if ctx and has_nonfinite(ctx):
            check_finite(ctx, "context")
        if consent is not None:
            ctx["consent"] = {"categoryPreferences": dict(consent)}
        msg = Message(
            type="track",
            message_id=message_id or new_message_id(),
            anonymous_id=anonymous_id,
            user_id=user_id,
            event=event,
            properties=props,
            context=ctx,
            timestamp=self._clock() if timestamp is None else to_epoch(timestamp),
        )
        if integrations is not None:
            msg.integrations = check_integrations(integrations)
        if not (anonymous_id or user_id) or not event or type(event) is not str:
            check_message(msg)  # raises, naming the field
        if self._closed:
            raise ClosedError("this Persona is closed")
        runtime = self._runtime
        if runtime.plan.active:  # raises for a blocked event, before any id is handed out
            runtime.plan.check(msg)
        if "track" in self._profiles.observes:
            self._profiles.observe(msg)
        if event in runtime.watched:
            self._observe(runtime, msg)
        self._delivery.submit(msg, runtime.route)
        return msg.message_id

    def identify(
        self,
        user_id: str | None = None,
        *,
        traits: Mapping[str, Any] | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Tie a user id to traits (and to ``anonymous_id``, stitching identities)."""
        msg = self._message(
            "identify", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            traits=dict(traits) if traits else {},
        )
        return self._emit(msg)

    def page(
        self,
        name: str | None = None,
        *,
        category: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a page view."""
        msg = self._message(
            "page", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            name=name, category=category, properties=dict(properties) if properties else {},
        )
        return self._emit(msg)

    def screen(
        self,
        name: str | None = None,
        *,
        category: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a mobile screen view."""
        msg = self._message(
            "screen", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            name=name, category=category, properties=dict(properties) if properties else {},
        )
        return self._emit(msg)

    def group(
        self,
        group_id: str,
        *,
        traits: Mapping[str, Any] | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Associate the visitor with a group (company, account)."""
        msg = self._message(
            "group", anonymous_id=anonymous_id, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            group_id=group_id, traits=dict(traits) if traits else {},
        )
        return self._emit(msg)

    def alias(
        self,
        user_id: str,
        *,
        previous_id: str,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        """Merge ``previous_id`` into ``user_id``."""
        msg = self._message(
            "alias", anonymous_id=None, user_id=user_id, context=context,
            consent=consent, timestamp=timestamp, message_id=message_id, integrations=integrations,
            previous_id=previous_id,
        )
        return self._emit(msg)

    def ingest(
        self, payload: bytes | Mapping[str, Any], *, received_at: float | None = None
    ) -> list[IngestResult]:
        """Take one Segment-shaped message or a ``{"batch": [...]}`` envelope.

        Returns one result per message; a bad message is reported, never spoils the rest.
        Raises ``EventValidationError`` when the payload as a whole is unreadable.
        """
        self._check_open()
        messages, results = decode_messages(
            payload, received_at=self._clock() if received_at is None else received_at
        )
        for i, msg in enumerate(messages):
            if msg is None:
                continue
            try:
                self._emit(msg)
            except EventValidationError as exc:  # refused by the tracking plan
                results[i] = IngestResult(index=results[i].index, ok=False, error=str(exc))
        return results

    def _ingest_batch(
        self, items: list[Any], received_at: float, oversized: Mapping[int, int]
    ) -> tuple[int, list[tuple[int, str]]]:
        # The collector's batch path (``ports.ingest_batch``): the messages were decoded,
        # depth- and duplicate-checked and sized by the collector (events.decode_checked).
        # Returns how many were accepted and the errors of the others.
        self._check_open()
        messages, errors = decode_checked(items, received_at, oversized)
        emit = self._emit
        if not self._runtime.plan.active:
            for msg in messages:
                emit(msg)
            return len(messages), errors
        # the decoded messages are the items without an error, in order
        refused = {index for index, _ in errors}
        indices = (i for i in range(len(items)) if i not in refused)
        accepted = 0
        for index, msg in zip(indices, messages, strict=False):
            try:
                emit(msg)
                accepted += 1
            except EventValidationError as exc:  # refused by the tracking plan
                errors.append((index, str(exc)))
        errors.sort()
        return accepted, errors

    # -- read path ------------------------------------------------------------------------

    def _visitor(
        self,
        profile: Any,
        *,
        anonymous_id: str | None,
        user_id: str | None,
        attributes: Mapping[str, Any] | None,
        consent: Mapping[str, bool] | None,
        url: str | None,
        forced_variations: Mapping[str, int] | None,
        sticky_store: Any | None,
    ) -> Visitor:
        rt = self._runtime
        return rt.engine.visitor(
            anonymous_id, user_id, attributes, consent, self._tracker, self._hooks,
            rt.visitor_segments, profile,
            url, forced_variations, UNSET if sticky_store is None else sticky_store,
        )

    def visitor(  # noqa: PLR0917 - see visitor()
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        url: str | None = None,
        forced_variations: Mapping[str, int] | None = None,
        sticky_store: Any | None = None,
        gpc: bool = False,
    ) -> Visitor:
        """Resolve the visitor's profile (bounded by the profile deadline) and return a
        ``Visitor`` that decides features. Never raises because a remote system failed.

        ``gpc=True`` says the request carried a Global Privacy Control signal: the events the
        visitor tracks (exposures too) carry ``context.gpc``, so no destination needing a
        purpose marked ``sale_sharing`` in the container in force gets them (the web
        middlewares pass it from ``Sec-GPC``).

        Pass the arguments by keyword. They are not keyword-only because CPython 3.11 looks
        each omitted keyword-only default up in a dict, on every call."""
        profile = self._profiles.resolve(
            anonymous_id=anonymous_id, user_id=user_id, consent=consent
        )
        visitor = self._visitor(
            profile, anonymous_id=anonymous_id, user_id=user_id, attributes=attributes,
            consent=consent, url=url, forced_variations=forced_variations,
            sticky_store=sticky_store,
        )
        if gpc:  # set only when signalled: the usual visitor pays nothing for it
            visitor.mark_gpc()
        return visitor

    async def avisitor(  # noqa: PLR0917 - see visitor()
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        url: str | None = None,
        forced_variations: Mapping[str, int] | None = None,
        sticky_store: Any | None = None,
        gpc: bool = False,
    ) -> Visitor:
        """The asyncio form of ``visitor``; never blocks the event loop."""
        profile = await self._profiles.aresolve(
            anonymous_id=anonymous_id, user_id=user_id, consent=consent
        )
        visitor = self._visitor(
            profile, anonymous_id=anonymous_id, user_id=user_id, attributes=attributes,
            consent=consent, url=url, forced_variations=forced_variations,
            sticky_store=sticky_store,
        )
        if gpc:  # set only when signalled: the usual visitor pays nothing for it
            visitor.mark_gpc()
        return visitor

    # -- audiences ------------------------------------------------------------------------

    def sweep_segments(self) -> int:
        """Re-check every held visitor's time-dependent segments now (the periodic sweep,
        ``profiles.segment_sweep_interval``, does it on its own); returns how many
        memberships changed. Changes go out as ``Segment Entered``/``Segment Exited``."""
        self._check_open()
        return self._profiles.sweep_segments()

    def segment_members(self, segment: str, *, limit: int = 1000) -> list[str]:
        """Canonical ids of the visitors held in this process who are in ``segment``."""
        return self._profiles.members_of(segment, limit=limit)

    def attribution_report(self, trait: str | None = None) -> dict[str, Any]:
        """Conversions and their credit per model (first, last, linear, position) and
        channel, summed over the visitors held in this process (``docs/segments.md``).
        Raises ``KeyError`` when the container has no ``attribution`` computed trait."""
        return self._profiles.attribution_report(trait)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def container(self) -> Container:
        """The container in force."""
        return self._runtime.container

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the container in force has that a strict container would refuse, one
        ``path: message`` line each: unknown fields and weights that do not fit, in features,
        rules and experiments that a GrowthBook import (``from_growthbook``, or
        ``decisions.strict_conditions = false``) lets through, as GrowthBook's SDKs do.
        Empty for a strict container, which refuses them instead.

        .. versionadded:: 0.1
        """
        return self._runtime.engine.warnings

    def stats(self) -> dict[str, Any]:
        """Counters per destination (tracked, delivered, queued, spooled, dropped by reason,
        rejected, retried, dead-lettered, in flight, filtered, and the ``last_error``), events
        whose routing raised (``routing.errors``: a trigger plugin failed), and for profiles
        (``segment_errors``: segment conditions that raised) and decisions (hook and
        exposure-track errors, with their ``last_error``). Each counted error is also logged,
        the first of each kind with its traceback, then a count at most once a minute."""
        out: dict[str, Any] = {"destinations": self._delivery.stats()}
        for name, filtered in self._runtime.router.filtered().items():
            out["destinations"].setdefault(name, {})["filtered"] = filtered
        out["routing"] = {"errors": self._delivery.route_errors}
        out["profiles"] = self._profiles.stats()
        out["profiles"]["segment_errors"] = self._runtime.segments.failures
        out["decisions"] = self._hooks.stats()
        stores = {}
        for store in self._stores():
            report = getattr(store, "stats", None)
            if callable(report):
                try:
                    stores[type(store).__name__] = report()
                except Exception:
                    continue
        if stores:
            out["stores"] = stores
        rt = self._runtime
        if rt.plan.active:
            out["tracking_plan"] = rt.plan.stats()
        if self._feed is not None:
            out["flags"] = self._feed.stats()
        if rt.content is not None:
            out["content"] = rt.content.stats()
        if rt.actions is not None:
            out["actions"] = rt.actions.stats()
        return out

    def run_actions(self) -> int:
        """Fire the scheduled actions that are due now (a daemon thread otherwise does it
        within a second); returns how many fired."""
        actions = self._runtime.actions
        return actions.run_due() if actions is not None else 0

    @staticmethod
    def _close_runtime(rt: _Runtime) -> None:
        if rt.content is not None:
            rt.content.close()
        if rt.actions is not None:
            rt.actions.close()

    def refresh_content(self) -> dict[str, str]:
        """Poll every content source now, on this thread (the poller thread otherwise does
        it every ``interval``): ``{source: "updated" | "not_modified" | "failed: ..."}``.
        A failed source keeps its last good items."""
        content = self._runtime.content
        return content.refresh() if content is not None else {}

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued and write pending computed traits to the shared profile
        store (so other processes see them on their next request); return whether
        everything was done in ``timeout``."""
        deadline = time.monotonic() + timeout
        profiles = self._profiles.flush(timeout)
        return self._delivery.flush(max(0.0, deadline - time.monotonic())) and profiles

    async def aflush(self, timeout: float = 5.0) -> bool:
        """The asyncio form of ``flush``."""
        deadline = time.monotonic() + timeout
        profiles = await asyncio.to_thread(self._profiles.flush, timeout)
        return await self._delivery.aflush(max(0.0, deadline - time.monotonic())) and profiles

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop background work and release resources. Idempotent."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        if self._feed is not None:
            self._feed.stop()
        ok = self._delivery.close(timeout)
        self._profiles.close()
        self._close_runtime(self._runtime)
        return ok

    async def aclose(self, timeout: float = 5.0) -> bool:
        """The asyncio form of ``close``."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        if self._feed is not None:
            self._feed.stop()
        ok = await self._delivery.aclose(timeout)
        self._profiles.close()
        self._close_runtime(self._runtime)
        return ok

    def forget(self, *, user_id: str | None = None, anonymous_id: str | None = None) -> int:
        """Erase a visitor: caches, alias map, spooled events, and upstream where the profile
        source supports it. Returns how many queued or spooled events were purged."""
        ids = self._profiles.forget(user_id=user_id, anonymous_id=anonymous_id)
        for store in self._stores():
            erase = getattr(store, "forget", None)
            if callable(erase) and ids:
                try:
                    erase(ids)
                except Exception:
                    pass  # a shared store down: its own stats() count the failure
        return self._delivery.forget(ids)

    def _stores(self) -> list[Any]:
        # the stores given in code that a person's state may be kept in (distinct objects)
        found: list[Any] = []
        for store in (self._profile_store, self._sticky_store, self._hooks.dedup_store,
                      self.counter_store):
            if store is not None and all(store is not f for f in found):
                found.append(store)
        return found

    def __enter__(self) -> Persona:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Persona:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _log_listener_error() -> None:
    import logging

    logging.getLogger("persona_sdk.flags").exception("an on_features_change listener raised")
