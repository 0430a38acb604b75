"""The resolver's settings: everything derived from one container, swapped whole."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._breaker import BreakerPolicy, CircuitBreaker
from ..config import BreakerConfig, MergePolicy, ProfilesConfig
from ._computed import ComputedTraits
from ._log import errors
from ._lookup import Entry, PlanContext
from ._registry import build_source, build_store
from ._types import EMPTY, Profile, ProfileReason, ProfileSource, ProfileSourceKind, ProfileStore

if TYPE_CHECKING:
    from ..config import Container

__all__ = ["Settings", "build_profile", "build_settings", "profile_breaker"]

_STALE = ProfileSourceKind.STALE


class Settings:
    """Everything derived from one container; swapped whole by ``configure``."""

    def __init__(
        self,
        cfg: ProfilesConfig,
        computed: ComputedTraits,
        ctx: PlanContext,
        *,
        source_spec: Any,
        store_spec: Any,
        owned: tuple[Any, ...],
    ) -> None:
        self.cfg = cfg
        self.computed = computed
        self.ctx = ctx
        self.source = ctx.source
        self.store = ctx.store
        self.breaker = ctx.breaker
        self.source_spec = source_spec
        self.store_spec = store_spec
        self.owned = owned  # sources and stores built here (closed here)
        self.personal = frozenset(cfg.personal_traits)
        self.purpose = cfg.personalization_purpose
        self.computed_wins = cfg.merge is MergePolicy.COMPUTED_WINS
        # in-memory sources answer inline: no thread hop for a dict lookup
        # (and without any source or store there is nothing to wait for)
        self.inline = ctx.store is None and (
            ctx.source is None or bool(getattr(ctx.source, "in_process", False))
        )
        # a store reading several keys in one round trip answers an L2 hit on the caller's
        # thread (bounded by its own timeout): no hop to the I/O thread and back
        self.store_inline = ctx.store is not None and callable(
            getattr(ctx.store, "get_many", None)
        )


def profile_breaker(
    config: BreakerConfig, clock: Callable[[], float], *, slow_call: float | None = None
) -> CircuitBreaker:
    """The profile source's breaker for ``[profiles.breaker]``; calls slower than
    ``slow_call`` (the lookup deadline unless the config names one) count as slow. Its
    opening is logged (a warning, once, then counted)."""
    policy = BreakerPolicy(
        window=config.window, min_calls=config.min_calls, failure_rate=config.failure_rate,
        slow_call=config.slow_call if config.slow_call is not None else slow_call,
        slow_rate=config.slow_rate, open_for=config.open_for, probes=config.half_open_probes,
        enabled=config.enabled,
    )

    def opened(why: str) -> None:
        errors("breaker_open", f"the profile source's circuit breaker opened ({why}); "
               f"fallback profiles for {config.open_for:g} s", level=logging.WARNING)

    return CircuitBreaker(policy, clock, on_open=opened)


def build_settings(
    container: Container,
    old: Settings | None,
    *,
    source: ProfileSource | None,
    store: ProfileStore | None,
    clock: Callable[[], float],
) -> Settings:
    """Settings for ``container``, reusing ``old``'s source, store and breaker where they stay
    the same; ``source``/``store`` given in code win over the container. ``ConfigError``
    leaves nothing half-built."""
    cfg = container.profiles
    source, store, owned = _source_and_store(cfg, old, source, store)
    keep_breaker = (
        old is not None
        and old.source is source
        and (old.cfg.breaker, old.cfg.deadline) == (cfg.breaker, cfg.deadline)
    )
    breaker = (
        old.breaker
        if keep_breaker and old is not None
        else profile_breaker(cfg.breaker, clock, slow_call=cfg.deadline)
    )
    prefix = cfg.store_prefix
    computed = ComputedTraits.compile(container.computed_traits)
    ctx = PlanContext(
        cfg=cfg,
        source=source,
        store=store,
        breaker=breaker,
        clock=clock,
        entry_key=lambda k: f"{prefix}p:{k}",
        computed_key=lambda k: f"{prefix}c:{k}",
        link_key=lambda k: f"{prefix}a:{k}",
        back_key=lambda k: f"{prefix}r:{k}",
        wants_peers=bool(computed.specs),
        fields=callable(getattr(store, "aget_fields", None))
        and callable(getattr(store, "aset_field", None)),
    )
    return Settings(
        cfg,
        computed,
        ctx,
        source_spec=cfg.source,
        store_spec=cfg.store,
        owned=tuple(o for o in owned if o is not None),
    )


def _source_and_store(
    cfg: ProfilesConfig,
    old: Settings | None,
    source: ProfileSource | None,
    store: ProfileStore | None,
) -> tuple[ProfileSource | None, ProfileStore | None, list[Any]]:
    """The source and store to use (given in code, kept from ``old`` when their spec stays
    the same, else built), and those of them these settings own (close)."""
    owned: list[Any] = []
    if source is None:
        if old is not None and old.source_spec == cfg.source:
            source = old.source
        else:
            source = build_source(cfg.source)
            owned.append(source)
    if store is None:
        if old is not None and old.store_spec == cfg.store:
            store = old.store
        else:
            try:
                store = build_store(cfg.store)
            except Exception:
                for obj in owned:
                    if obj is not None:
                        obj.close()
                raise
            owned.append(store)
    if old is not None:
        owned.extend(o for o in old.owned if o is source or o is store)
    return source, store, owned


def build_profile(
    s: Settings,
    key: str,
    kind: ProfileSourceKind,
    entry: Entry | None,
    reasons: tuple[ProfileReason, ...],
    *,
    granted: bool,
    local: Mapping[str, Any] = EMPTY,
    computed: Mapping[str, Any] = EMPTY,
) -> Profile:
    """A ``Profile`` from an entry (or none), local traits and computed traits."""
    traits: Mapping[str, Any] = EMPTY
    if entry is not None:
        traits = entry.traits
        if kind is _STALE and not reasons:
            reasons = (ProfileReason.REVALIDATING,)
        if not entry.found:
            reasons = (*reasons, ProfileReason.NOT_FOUND)
    if local:
        traits = {**traits, **local}
    targeting: Mapping[str, Any]
    if computed:
        targeting = {**traits, **computed} if s.computed_wins else {**computed, **traits}
    else:
        targeting = traits
    if not granted and s.personal and not s.personal.isdisjoint(targeting):
        targeting = {k: v for k, v in targeting.items() if k not in s.personal}
        reasons = (*reasons, ProfileReason.PERSONAL_TRAITS_WITHHELD)
    return Profile(
        canonical_id=key,
        traits=traits,
        computed=computed,
        source=kind,
        reasons=reasons,
        targeting_traits=targeting,
    )
