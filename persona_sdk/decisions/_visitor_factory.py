"""``engine_visitor``: the one constructor body of ``Visitor`` (``engine.visitor``,
``persona.visitor`` and ``Visitor(...)`` all build through it), on every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import EventValidationError
from .._speed import blank
from ._results import Reason
from ._visitor import Visitor
from ._visitor_state import UNSET, Exposer

if TYPE_CHECKING:
    from ._engine import Engine
    from ._hooks import HookSet

__all__ = ["engine_visitor"]


def _profile_reasons(profile: Any) -> tuple[Reason, ...]:
    source = getattr(profile, "source", None)
    kind = getattr(source, "value", source)
    if kind == "fallback":
        return (Reason.FALLBACK_PROFILE,)
    if kind == "stale":
        return (Reason.STALE_PROFILE,)
    return ()


def engine_visitor(  # noqa: PLR0917 - see the docstring
    engine: Engine,
    anonymous_id: str | None = None,
    user_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    consent: Mapping[str, bool] | None = None,
    persona: Any = None,
    hooks: HookSet | None = None,
    segments: Any = None,
    profile: Any = None,
    url: str | None = None,
    forced_variations: Mapping[str, int] | None = None,
    sticky_store: Any = UNSET,
    expose: Exposer | None = None,
) -> Visitor:
    """A new ``Visitor`` deciding with ``engine``: ``engine.visitor(...)`` (this function
    is that method) and ``Visitor(engine=engine, ...)`` with the same arguments.

    Args:
        anonymous_id, user_id, consent: the visitor's ids and consent, as on events.
        attributes: request attributes for conditions (country, device, ...).
        persona: where exposures and ``track`` go (its ``track`` method).
        hooks: the long-lived ``HookSet`` (exposure dedupe memory and hooks).
        segments: what computes ``visitor.segments`` (``persona_sdk.profiles.Segments``).
        profile: the resolved profile (``traits``, ``targeting_traits``, ``source``...).
        url: the page URL, for URL targeting, redirects and ``?<experiment>=<n>``.
        forced_variations: ``{experiment key: variation index}`` for this visitor only.
        sticky_store: a sticky-bucket store for this visitor (default: the engine's).
        expose: how the visitor logs exposures (``Exposer``); default: ``persona.track``.

    ``profile`` may also be ``(build, key)``: a profile known to hold nothing but its id
    ``key`` (no traits), which ``build(key)`` makes on the first read of ``visitor.profile``.

    The one body every way of building a visitor ends in (``persona.visitor``,
    ``engine.visitor``, ``Visitor(...)``); positional because the facade calls it on every
    request (the public forms are keyword-only). It makes the instance with
    ``persona_sdk._speed.blank``: see that package for why and what keeps it correct.
    """
    # long: the per-visitor hot path, inlined: each helper call would cost ~50 ns per visitor
    # Every store here is paid on every request: the state only some visitors need (sticky
    # buckets, segments) is set up only for them.
    visitor: Visitor = blank(Visitor)
    visitor._engine = engine
    visitor._segments_engine = segments
    visitor._persona = persona
    visitor._hooks = hooks
    visitor._expose = expose
    visitor._gpc = False  # a plain slot read: a missing one would raise on every exposure
    visitor.anonymous_id = anonymous_id
    visitor.user_id = user_id
    visitor.consent = consent
    visitor._profile = profile
    visitor.url = url
    visitor._memo = {}
    visitor._results = {}
    extra: tuple[Reason, ...]
    if profile is None or profile.__class__ is tuple:  # none, or one with nothing in it
        # dict.copy() is the cheapest copy of the usual plain dict
        attrs = attributes.copy() if attributes.__class__ is dict else dict(attributes or ())
        ident = user_id or anonymous_id
        visitor._extra = extra = ()
    else:
        traits = getattr(profile, "targeting_traits", None)
        attrs = dict(traits) if traits else {}
        if attributes:
            attrs.update(attributes)
        ident = getattr(profile, "canonical_id", None) or user_id or anonymous_id
        visitor._extra = extra = _profile_reasons(profile)
    if ident is not None:
        if attributes and "id" in attributes:
            _check_id_attribute(attributes["id"], anonymous_id, user_id)
        attrs["id"] = ident
    # only when a rule could read them: a sixth key costs the usual dict a resize
    if anonymous_id is not None and engine.reads_anonymous_id:
        attrs["anonymousId"] = anonymous_id
    if user_id is not None and engine.reads_user_id:
        attrs["userId"] = user_id
    visitor._attrs = attrs
    # conditions that read segments need them in the attributes: computed on first use
    visitor._ready = ready = not engine.uses_segments
    if sticky_store is UNSET and forced_variations is None and url is None:
        mode = visitor._mode = engine.mode
        # feature() may hand the engine's result back as it is
        if engine.direct and not extra:
            visitor._direct = True  # and so no sticky store: nothing more to set up
            return visitor
        visitor._direct = False
    else:
        store = engine.sticky_store if sticky_store is UNSET else sticky_store
        mode = visitor._mode = engine.mode_for(url, forced_variations, store)
        visitor._direct = store is None and ready and not extra
    if mode.store is not None:
        visitor._pending_load = visitor._sticky_ok = True
        visitor._docs = {}
        visitor._dirty = {}
        visitor._exposures = []  # logged once the flow has saved the sticky documents
    return visitor


def _check_id_attribute(given: Any, anonymous_id: str | None, user_id: str | None) -> None:
    # ``id`` is the attribute experiments hash by default; the visitor's ids set it (the user
    # id, else the anonymous id). A different one in ``attributes`` would be overwritten
    # without a word, so it is refused instead.
    if given is None or given in (anonymous_id, user_id):
        return
    raise EventValidationError(
        "attributes.id",
        f"{given!r} conflicts with the visitor's ids: attributes['id'] is set from user_id "
        "(else anonymous_id); leave it out, or pass it as one of them",
    )
