"""``visitor_builder``: the one constructor body of ``Visitor``, on every request.

``persona.visitor``, ``engine.visitor`` and ``Visitor(...)`` all build through a builder
made here: a persona keeps one per runtime (the engine, its visitors' persona, hooks,
segments and exposure lane bound in it), an engine the one of the parts it was last asked
for (``keep_builder``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._errors import EventValidationError
from .._speed import blank
from ._results import Reason
from ._visitor import Visitor
from ._visitor_state import UNSET, Exposer

if TYPE_CHECKING:
    from .._ports import ProfileReader
    from ._engine import Engine
    from ._hooks import HookSet

__all__ = ["RESOLVE", "InForce", "VisitorBuilder", "keep_builder", "visitor_builder"]

#: ``_profile=RESOLVE`` (a persona's builder's default): resolve the visitor's profile
#: through the persona's profile reader
RESOLVE: Final[Any] = object()

#: ``build(anonymous_id, user_id, attributes, consent, url, forced_variations,
#: sticky_store, gpc, _profile)``: a new ``Visitor`` (``visitor_builder``)
VisitorBuilder = Callable[..., Visitor]


class InForce(Protocol):
    """What says which builder is in force: ``visitor``. A persona's exposure lane is
    its visitors' (``ExposureLane.visitor``, set on every swap of the runtime); a builder
    no longer in force (kept by a caller across a reload) hands over to the one that is."""

    visitor: Any


class _Own:
    # an engine's builder: always in force (nothing else builds for its parts)
    __slots__ = ("visitor",)

    visitor: Any


def _profile_reasons(profile: Any) -> tuple[Reason, ...]:
    source = getattr(profile, "source", None)
    kind = getattr(source, "value", source)
    if kind == "fallback":
        return (Reason.FALLBACK_PROFILE,)
    if kind == "stale":
        return (Reason.STALE_PROFILE,)
    return ()


def visitor_builder(  # noqa: PLR0917 - built once per runtime or parts
    engine: Engine,
    persona: Any = None,
    hooks: HookSet | None = None,
    segments: Any = None,
    expose: Exposer | None = None,
    profiles: ProfileReader | None = None,
    default_store: Any = UNSET,
    in_force: InForce | None = None,
) -> VisitorBuilder:
    """The builder of ``engine``'s visitors whose exposures and events go to ``persona``
    (see ``Engine.visitor`` for each argument; ``expose``: how they log exposures, an
    ``Exposer``, else through ``persona.track``): ``build(anonymous_id=..., ...)``.

    ``profiles``: the persona's profile reader, which resolves the profile when ``build``
    is given none (``_profile=RESOLVE``, its default then). ``default_store``: the
    ``sticky_store`` that means "the engine's" (``persona.visitor`` says so with None).
    ``in_force``: where the builder in force is read (``InForce``); while ``build`` is not
    that one, it hands every call over to it, so a builder kept across a reload decides
    with the runtime in force, as a method reading it would.

    Everything constant for a run of visitors (this engine, its mode, what its rules read)
    is read here once and bound in ``build``, whose parameters are positional-or-keyword
    (CPython 3.11 looks each omitted keyword-only default up in a dict, on every call):
    ``persona.visitor`` is this ``build`` (``Persona._follow_runtime``), its documented
    signature the class's. Instances are made with ``persona_sdk._speed.blank``: see that
    package for why and what keeps it correct.
    """
    # long: holds build, the one constructor body
    mode0, direct, ready0 = engine.mode, engine.direct, not engine.uses_segments
    reads_anonymous_id, reads_user_id = engine.reads_anonymous_id, engine.reads_user_id
    if profiles is not None:
        state, held, linked, bare = profiles.bare_parts
        # the dicts the two tests look in, when they are dict look-ups: while one is empty
        # (a persona with no local traits or no linked ids), its test is a truth test
        held_in, linked_in = _looked_in(held), _looked_in(linked)
        resolve = profiles.resolve
        no_profile: Any = RESOLVE
    else:
        no_profile = bare = None
    new = blank
    current: InForce = _Own() if in_force is None else in_force

    def build(  # noqa: PLR0917 - see above
        anonymous_id: str | None = None,
        user_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        url: str | None = None,
        forced_variations: Mapping[str, int] | None = None,
        sticky_store: Any = default_store,
        gpc: bool = False,
        _profile: Any = no_profile,
    ) -> Visitor:
        # long: the per-visitor hot path, one frame (see visitor_builder)
        # ``_profile`` may be the profile reader's ``build`` (``bare``): a profile known to
        # hold nothing but the visitor's id (no traits), made on the first read of ``.profile``
        if current.visitor is not build:  # kept across a reload: the one in force decides
            return current.visitor(  # type: ignore[no-any-return]
                anonymous_id, user_id, attributes, consent, url, forced_variations,
                sticky_store, gpc, _profile,
            )
        profile = _profile
        if profile is RESOLVE:
            # nothing to look up (no source, store or local traits): the profile is built
            # only if the visitor reads it (ProfileReader.bare, inlined)
            key = user_id or anonymous_id
            if (
                not state.remote_seen and key and key.__class__ is str
                and not (held_in and held(key)) and not (linked_in and linked(key))
            ):
                profile = bare
            else:
                profile = resolve(anonymous_id, user_id, consent)
        # Every store here is paid on every request: the state only some visitors need
        # (sticky buckets, segments) is set up only for them.
        visitor: Visitor = new(Visitor)
        visitor._engine = engine
        visitor._segments_engine = segments
        visitor._persona = persona
        visitor._hooks = hooks
        visitor._expose = expose
        # set only when signalled: a plain slot read (a missing one would raise)
        visitor._gpc = True if gpc else False  # noqa: SIM210 - one bool, never the object
        visitor.anonymous_id = anonymous_id
        visitor.user_id = user_id
        visitor.consent = consent
        visitor._profile = profile
        visitor.url = url
        visitor._memo = {}
        visitor._results = {}
        extra: tuple[Reason, ...]
        if profile is None or profile is bare:  # none, or one with nothing in it
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
        if anonymous_id is not None and reads_anonymous_id:
            attrs["anonymousId"] = anonymous_id
        if user_id is not None and reads_user_id:
            attrs["userId"] = user_id
        visitor._attrs = attrs
        # conditions that read segments need them in the attributes: computed on first use
        visitor._ready = ready0
        if sticky_store is default_store and forced_variations is None and url is None:
            mode = visitor._mode = mode0
            # feature() may hand the engine's result back as it is
            if direct and not extra:
                visitor._direct = True  # and so no sticky store: nothing more to set up
                return visitor
            visitor._direct = False
        else:
            if sticky_store is default_store:
                sticky_store = UNSET
            store = engine.sticky_store if sticky_store is UNSET else sticky_store
            mode = visitor._mode = engine.mode_for(url, forced_variations, store)
            visitor._direct = store is None and ready0 and not extra
        if mode.store is not None:
            visitor._pending_load = visitor._sticky_ok = True
            visitor._docs = {}
            visitor._dirty = {}
            visitor._exposures = []  # logged once the flow has saved the sticky documents
        return visitor

    if in_force is None:
        current.visitor = build  # always in force: nothing else builds for these parts
    return build


def _looked_in(test: Callable[[object], bool]) -> Any:
    # The dict whose ``__contains__`` ``test`` is (``persona_sdk._speed.membership``), else
    # a stand-in that is always true (the test is always made).
    data = getattr(test, "__self__", None)
    return data if type(data) is dict and test == data.__contains__ else _ALWAYS


_ALWAYS: Final = (True,)


def keep_builder(engine: Engine, persona: Any, hooks: Any, segments: Any) -> tuple[Any, ...]:
    """``engine.visitor``'s builder for these parts, kept on the engine as ``(persona,
    hooks, segments, build)``: one tuple in one slot, read and replaced whole, so threads
    never pair one's parts with another's builder; a run of visitors for the same parts
    (the usual caller) makes it once."""
    kept = (persona, hooks, segments, visitor_builder(engine, persona, hooks, segments))
    object.__setattr__(engine, "_last_builder", kept)  # the engine is frozen but for this
    return kept


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
