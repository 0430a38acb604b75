"""``Persona``: the facade that wires a container to the tag layer, profiles and decisions.

The class is assembled from the facade's parts (``persona_sdk._facade``): the event API, the
exposure path, the operating API (``reload`` too) and the flags API; construction and the hot
paths (``track``, ``visitor``) are written here.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from ._errors import ClosedError, EventValidationError
from ._facade.core import observe
from ._facade.events import EventsApi
from ._facade.exposures import ExposuresApi
from ._facade.flags import FlagsApi, growthbook_container
from ._facade.operate import OperateApi
from ._facade.runtime import Builder, naming_source
from ._ports import Ports, Tracker
from ._speed import KEYWORDS_ONLY, KeywordsOnly, keywords_only, positional_error
from .config import Container, load_container
from .decisions import visitor_builder
from .events import (
    MESSAGE_IDS,
    Message,
    check_finite,
    check_integrations,
    check_message,
    coerce_id,
    has_nonfinite,
    to_epoch,
)

if TYPE_CHECKING:
    from .decisions import ExposureHook, FeatureUsageHook, Visitor
    from .plugins import (
        AsyncStickyBucketStore,
        ContentSourceFactory,
        CounterStore,
        DedupStore,
        Destination,
        Enricher,
        ProfileSource,
        ProfileStore,
        StickyBucketStore,
        Strategy,
    )
    from .rules import OperatorRegistry

__all__ = ["Persona"]

#: the classes of property values track() looks into: floats (NaN, ±Infinity) and containers
_CHECKED = frozenset({float, dict, list, tuple})


class Persona(EventsApi, ExposuresApi, OperateApi, FlagsApi):
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
        destinations: Mapping[str, Destination] | None = None,
        profile_source: ProfileSource | None = None,
        profile_store: ProfileStore | None = None,
        sticky_store: StickyBucketStore | AsyncStickyBucketStore | None = None,
        counter_store: CounterStore | None = None,
        dedup_store: DedupStore | None = None,
        content_sources: Mapping[str, ContentSourceFactory] | None = None,
        enrichers: Mapping[str, Enricher] | None = None,
        strategies: Mapping[str, Strategy] | None = None,
        operators: OperatorRegistry | None = None,
        on_exposure: ExposureHook | None = None,
        on_feature_usage: FeatureUsageHook | None = None,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        from .decisions import HookSet

        self._env = env
        self._clock = clock
        self._sticky_store = sticky_store
        self._profile_store = profile_store
        if counter_store is None:
            from .content import InMemoryCounterStore

            counter_store = InMemoryCounterStore(clock=clock)
        #: frequency caps and bandit statistics (``persona_sdk.plugins.CounterStore``)
        self.counter_store = counter_store
        self._hooks = HookSet(
            on_exposure=on_exposure, on_feature_usage=on_feature_usage, dedup_store=dedup_store
        )
        self._lock = threading.Lock()
        self._closed = False
        self._feed = None
        self._flag_listeners = []
        with naming_source(container):
            cont = load_container(container if container is not None else Container(), env=env)
            self._wire(cont, profile_source, profile_store)
            self._builder = Builder(
                delivery=self._delivery, profiles=self._profiles, hooks=self._hooks,
                counter_store=counter_store, clock=clock, operators=operators,
                sticky_store=sticky_store, destinations=destinations or {},
                content_sources=content_sources or {}, enrichers=enrichers or {},
                strategies=strategies or {}, actions_host=self,
            )
            self._runtime = self._builder.build(cont)
        # what visitors track exposures with: ``track``, bound once (never this Persona)
        self._tracker = Tracker(self.track)
        #: how this persona's visitors log exposures (one per persona, following the runtime)
        self._new_lane()
        #: the callables this Persona hands the web adapters (``Collector``, profile API),
        #: bound once here
        self.ports = Ports(self.ingest, self._ingest_batch, self._profiles.record)

    def _wire(
        self,
        cont: Container,
        profile_source: ProfileSource | None,
        profile_store: ProfileStore | None,
    ) -> None:
        # __init__'s delivery and profiles, and the callables bound once from them
        from .delivery import Delivery
        from .profiles import ProfileResolver

        self._delivery = Delivery(cont.delivery)
        #: bound once: track() hands every message to them (exposures, to both)
        self._submit = self._delivery.submit
        self._enqueue = self._delivery.enqueue
        #: the sync spool writes each event before the caller returns: no deferring
        self._sync_spool = str(cont.delivery.spool) == "sync"
        self._profiles = ProfileResolver(
            cont, source=profile_source, store=profile_store, emit=self._emit, clock=self._clock
        )
        #: the read path: the visitor builder binds its bare-profile test and ``resolve``
        self._reader = self._profiles.reader

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
        persona = cls(
            growthbook_container(payload, decryption_key, base, kwargs.get("env")), **kwargs
        )
        persona._follow_growthbook(
            payload is not None, api_host, client_key, decryption_key, poll_interval,
            streaming, cache_path,
        )
        return persona

    # -- the write path -------------------------------------------------------------------

    def track(
        self,
        event: str,
        *,
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
        """
        # What type checkers and IDEs read; at run time ``track`` is ``_track`` (below), whose
        # options are keyword-only behind a guard (``persona_sdk._speed``: the cost of ``*``).
        raise NotImplementedError  # pragma: no cover - replaced by _track at run time

    @keywords_only("_kw")
    def _track(  # noqa: PLR0917 - keyword-only behind the guard (persona_sdk._speed)
        self,
        event: str,
        _kw: KeywordsOnly = KEYWORDS_ONLY,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: float | datetime | str | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> str:
        # long: the hot path of the write side, so built inline rather than through _message
        # and _emit: every step here is paid on the caller's thread (a call costs ~50 ns).
        if _kw is not KEYWORDS_ONLY:  # a second positional argument: refused as * would
            raise positional_error("Persona.track", 2)
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
        # Inlined (one set test per value) rather than a call: this runs on every track.
        for v in props.values():
            if type(v) in _CHECKED:  # one test for a value of any other class
                if type(v) is not float:
                    check_finite(props, "properties")  # nested: the full walk
                    break
                if v - v != 0.0:  # 0.0 for every finite float; NaN for NaN and infinities
                    check_finite(props, "properties")  # raises, naming the path
        if anonymous_id is not None and type(anonymous_id) is not str:
            anonymous_id = coerce_id("anonymousId", anonymous_id)
        if user_id is not None and type(user_id) is not str:
            user_id = coerce_id("userId", user_id)
        ctx: dict[str, Any] = dict(context) if context else {}
        if ctx and has_nonfinite(ctx):
            check_finite(ctx, "context")
        if consent is not None:
            ctx["consent"] = {"categoryPreferences": dict(consent)}
        # positional (Message's field order): msgspec matches keywords one by one
        msg = Message(
            "track", message_id or MESSAGE_IDS.next(), anonymous_id, user_id, event,
            None, None, None, None,  # name, category, group_id, previous_id
            props, None, ctx, None,  # properties, traits, context, integrations
            self._clock() if timestamp is None else to_epoch(timestamp),
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
            observe(runtime, msg)
        self._submit(msg, runtime.route)
        return msg.message_id

    if not TYPE_CHECKING:  # track's signature and doc for type checkers, _track's code
        _track.__doc__ = track.__doc__
        _track.__name__, _track.__qualname__ = "track", "Persona.track"
        track = _track

    # -- the read path ------------------------------------------------------------------------

    def _follow_runtime(self) -> None:
        # the exposure lane (Core's), then this runtime's visitor builder: persona.visitor
        # itself, one call where a method would make two (the builder's docstring: why)
        super()._follow_runtime()
        rt = self._runtime
        lane = self._exposer
        build = visitor_builder(
            rt.engine, self._tracker, self._hooks, rt.visitor_segments, lane, self._reader,
            default_store=None, in_force=lane,
        )
        build.__name__ = build.__qualname__ = "visitor"
        build.__module__ = __name__
        build.__doc__ = _VISITOR.__doc__
        build.__signature__ = _VISITOR_SIGNATURE  # type: ignore[attr-defined]
        lane.visitor = build  # a builder kept by a caller hands over to this one
        self._build_visitor = build
        # Set on the instance unless a subclass has its own visitor, or something else
        # stands there (a test's patch.object(persona, "visitor", ...)): then left alone.
        # Every builder shares one code object: that tells ours from anything else.
        standing = self.__dict__.get("visitor", build)
        if type(self).visitor is _VISITOR and getattr(standing, "__code__", None) is (
            build.__code__
        ):
            self.__dict__["visitor"] = build

    def visitor(
        self,
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        url: str | None = None,
        forced_variations: Mapping[str, int] | None = None,
        sticky_store: StickyBucketStore | AsyncStickyBucketStore | None = None,
        gpc: bool = False,
    ) -> Visitor:
        """Resolve the visitor's profile (bounded by the profile deadline) and return a
        ``Visitor`` that decides features. Never raises because a remote system failed.

        ``gpc=True`` says the request carried a Global Privacy Control signal: the events the
        visitor tracks (exposures too) carry ``context.gpc``, so no destination needing a
        purpose marked ``sale_sharing`` in the container in force gets them (the web
        middlewares pass it from ``Sec-GPC``)."""
        # an instance's visitor is its runtime's builder (_follow_runtime): this body runs
        # only when called through the class (Persona.visitor(persona, ...), super())
        return self._build_visitor(
            anonymous_id, user_id, attributes, consent, url, forced_variations, sticky_store,
            gpc,
        )

    async def avisitor(
        self,
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        url: str | None = None,
        forced_variations: Mapping[str, int] | None = None,
        sticky_store: StickyBucketStore | AsyncStickyBucketStore | None = None,
        gpc: bool = False,
    ) -> Visitor:
        """The asyncio form of ``visitor``; never blocks the event loop."""
        profiles = self._reader
        profile: Any = profiles.bare(anonymous_id, user_id)
        if profile is None:
            profile = await profiles.aresolve(anonymous_id, user_id, consent)
        return self._build_visitor(
            anonymous_id, user_id, attributes, consent, url, forced_variations, sticky_store,
            gpc, profile,
        )

    # -- context managers -------------------------------------------------------------------

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


#: ``Persona.visitor`` as defined here (a subclass may define its own, a test may patch the
#: class's), and its documented signature (keyword-only, without ``self``), which every
#: instance's builder shows (``help(persona.visitor)``, ``inspect.signature``)
_VISITOR = Persona.visitor
_VISITOR_SIGNATURE = inspect.signature(_VISITOR)
_VISITOR_SIGNATURE = _VISITOR_SIGNATURE.replace(
    parameters=tuple(_VISITOR_SIGNATURE.parameters.values())[1:]
)
