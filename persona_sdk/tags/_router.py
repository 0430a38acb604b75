"""The tag router: which destinations get a message, and how it is shaped for each.

``Router.build`` compiles the container's tags once: each tag's trigger into a condition,
its consent purposes (plus its destination's) into a requirement, its mapping into a function.
``Router.route(msg)`` is the hot path: it builds one condition view of the message, evaluates
each tag's trigger and consent once, and returns ``(destination, render)`` for each tag that
fires; no logging, no serialization, no locks. ``render(msg)`` runs later (on the delivery
thread, or on the caller's in ``sync`` spool mode): Segment wire dict (built once per message
and shared between its tags), then the tag's mapping, then the privacy policy when the
destination does not apply its own, then the destination's ``transform``. When none of these
changes the event (a ``passthrough`` destination, no mapping, no router-side PII rule), the
render is the message's Segment JSON, encoded once and shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._errors import ConfigError
from .._speed import Counter, generate
from .._stats import FilteredCounts
from ..events import Message, format_ts, integration_enabled, to_segment, to_segment_json
from ..plugins import BUILTIN_OPERATORS
from ..privacy import (
    ConsentRequirement,
    PrivacyPolicy,
    check_pii_config,
    check_purposes,
    gpc_signal,
)
from ._mapping import compile_mapping
from ._render import PerMessage, Render, tag_render

if TYPE_CHECKING:
    from ..config import Container, TagConfig
    from ..plugins import Destination
    from ..rules import OperatorRegistry

__all__ = ["Render", "Route", "Router"]

#: One routing decision: the destination's name and how to render the message for it.
Route = tuple[str, Render]

_NO_ROUTES: Final[tuple[Route, ...]] = ()
#: Segment key -> ``Message`` attribute, for the condition view.
_VIEW_FIELDS: Final = {
    "type": "type", "event": "event", "name": "name", "category": "category",
    "properties": "properties", "traits": "traits", "context": "context",
    "userId": "user_id", "anonymousId": "anonymous_id", "messageId": "message_id",
    "groupId": "group_id", "previousId": "previous_id", "integrations": "integrations",
}  # fmt: skip
_TIME_FIELDS: Final = {"timestamp": "timestamp", "sentAt": "sent_at", "receivedAt": "received_at"}


def _referenced(cond: Any, keys: set[str]) -> bool:
    """Add the top-level event keys ``cond`` reads to ``keys``; False if it cannot tell."""
    if not isinstance(cond, Mapping):
        return False
    for key, value in cond.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not all(_referenced(c, keys) for c in value):
                return False
        elif key == "$not":
            if not _referenced(value, keys):
                return False
        elif not isinstance(key, str) or key.startswith("$"):
            return False
        else:
            keys.add(key.split(".", 1)[0])
    return True


#: the view keys a trigger's answer may be remembered by (see ``Router``'s memo)
_MEMO_KEYS: Final = frozenset({"type", "event"})
_MEMO_MAX: Final = 1024


def _builtin_only(cond: Any) -> bool:
    """Whether ``cond`` uses the compiler's own operators only (a plugin operator may depend
    on more than its operand: the clock, a sample rate)."""
    if isinstance(cond, Mapping):
        return all(
            (not isinstance(k, str) or not k.startswith("$") or k in BUILTIN_OPERATORS)
            and _builtin_only(v)
            for k, v in cond.items()
        )
    if isinstance(cond, (list, tuple)):
        return all(_builtin_only(c) for c in cond)
    return True


def _optional_ts(ts: float | None) -> str | None:
    return None if ts is None else format_ts(ts)


def _view_builder(keys: set[str] | None) -> Callable[[Message], dict[str, Any]]:
    """A function building the condition view of a message: the Segment shape, holding only
    the keys the triggers read (all of them when that cannot be told).

    It is generated once per router, as attrs generates ``__init__``: one dict literal is
    several times cheaper than filling a dict in a loop, and this runs for every event.
    Only names from the fixed tables above reach the generated source.
    """
    wanted = set(_VIEW_FIELDS) | set(_TIME_FIELDS) if keys is None else keys
    parts = [f"{k!r}: m.{attr}" for k, attr in _VIEW_FIELDS.items() if k in wanted]
    if "timestamp" in wanted:
        parts.append("'timestamp': _ts(m.timestamp)")
    parts.extend(
        f"{k!r}: _opt_ts(m.{attr})"
        for k, attr in _TIME_FIELDS.items()
        if k != "timestamp" and k in wanted
    )
    source = f"def view(m):\n    return {{{', '.join(parts)}}}\n"
    view: Callable[[Message], dict[str, Any]] = generate(
        source, "view", what="condition view", namespace={"_ts": format_ts, "_opt_ts": _optional_ts}
    )
    return view


def _naming_errors(
    tag: TagConfig, i: int, seen: dict[str, int], known: set[str]
) -> list[str]:
    """``tags[i]``'s name (non-empty, unique: ``seen`` notes it) and destination (``known``)."""
    where = f"tags[{i}]"
    errors: list[str] = []
    if not tag.name:
        errors.append(f"{where}.name: must be a non-empty string")
    elif tag.name in seen:
        errors.append(
            f'{where}.name: duplicate tag name "{tag.name}" (also tags[{seen[tag.name]}])'
        )
    else:
        seen[tag.name] = i
    if tag.destination not in known:
        listed = ", ".join(sorted(known)) or "none is configured"
        errors.append(
            f'{where}.destination: unknown destination "{tag.destination}" (known: {listed})'
        )
    return errors


def _container_errors(container: Container) -> list[str]:
    """What is wrong with the container's PII policy and destinations' consent purposes."""
    errors: list[str] = check_pii_config(container.pii)
    for name, dcfg in container.destinations.items():
        errors.extend(
            check_purposes(dcfg.consent, container.consent, f"destinations.{name}.consent")
        )
    return errors


def _compile_trigger(
    tag: TagConfig, where: str, saved_groups: Any, operators: OperatorRegistry | None,
    errors: list[str],
) -> Callable[[Mapping[str, Any]], bool] | None:
    """``tag``'s trigger as a condition (None without one, or when it has ``errors``)."""
    from ..rules import compile_condition

    if not tag.trigger:
        return None
    try:
        return compile_condition(
            tag.trigger, path=f"{where}.trigger", saved_groups=saved_groups, operators=operators
        )
    except ConfigError as exc:
        errors.extend(exc.errors)
        return None


class _Tag:
    __slots__ = ("consent_miss", "destination", "integrations_miss", "name", "purposes",
                 "route", "sale", "trigger", "trigger_miss")  # fmt: skip

    def __init__(
        self,
        name: str,
        destination: str,
        trigger: Callable[[Mapping[str, Any]], bool] | None,
        requirement: ConsentRequirement,
        render: Render,
    ) -> None:
        self.name = name
        self.destination = destination
        self.trigger = trigger
        self.purposes = requirement.purposes
        self.sale = requirement.sale_sharing
        self.route: Route = (destination, render)
        self.trigger_miss = Counter()
        self.consent_miss = Counter()
        self.integrations_miss = Counter()


class Router:
    """Routes each message to the destinations whose tags fire for it.

    Build it with :meth:`build`; it is immutable afterwards (a reload builds a new one).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, tags: Sequence[_Tag], *, view_keys: set[str] | None = None, pure: bool = False
    ) -> None:
        self._tags = tuple(tags)
        self._view = (
            _view_builder(view_keys) if any(t.trigger is not None for t in self._tags) else None
        )
        self._needs_consent = any(t.purposes for t in self._tags)
        #: When the triggers read only ``type`` and ``event`` with built-in operators
        #: (``pure``) and no tag needs consent, what a message routes to depends on those
        #: two alone: remembered per pair, with the tags whose trigger missed (still counted).
        self._memo: dict[tuple[Any, Any], tuple[tuple[Route, ...], tuple[_Tag, ...]]] | None = (
            {} if pure and view_keys is not None and view_keys <= _MEMO_KEYS
            and not self._needs_consent else None
        )

    @classmethod
    def build(
        cls,
        container: Container,
        destinations: Mapping[str, Destination],
        operators: OperatorRegistry | None = None,
    ) -> Router:
        """Compile the container's tags against the built ``destinations``.

        Raises ``ConfigError`` listing every problem with its path
        (``tags[2].trigger.$and[0].x: unknown operator "$foo"``,
        ``tags[1].destination: unknown destination "y"``).

        A tag whose destination is declared in the container but not built (disabled) is
        kept inert. Destinations that do not apply privacy themselves (no ``handles_pii``
        attribute set true, e.g. third-party plugins and ``CaptureDestination``) get the
        container's ``pii`` policy applied before their ``transform``.
        """
        consent = container.consent
        errors = _container_errors(container)
        segment = PerMessage(to_segment)
        wire = PerMessage(to_segment_json)
        policies: dict[str, PrivacyPolicy | None] = {}
        known = set(destinations) | set(container.destinations)
        seen: dict[str, int] = {}
        tags: list[_Tag] = []
        view_keys: set[str] | None = set()
        saved_groups = container.saved_groups or None
        for i, tag in enumerate(container.tags):
            where = f"tags[{i}]"
            errors.extend(_naming_errors(tag, i, seen, known))
            trigger = _compile_trigger(tag, where, saved_groups, operators, errors)
            if tag.trigger and tag.enabled and view_keys is not None and not _referenced(
                    tag.trigger, view_keys):
                view_keys = None
            errors.extend(check_purposes(tag.consent, consent, f"{where}.consent"))
            mapper, mapping_errors = compile_mapping(tag.mapping, f"{where}.mapping")
            errors.extend(mapping_errors)
            dest = destinations.get(tag.destination)
            if errors or dest is None or not tag.enabled:
                continue
            render = tag_render(tag, dest, container, policies, mapper, segment, wire)
            declared = container.destinations.get(tag.destination)
            needed = [*tag.consent, *(declared.consent if declared is not None else ())]
            tags.append(_Tag(
                tag.name, tag.destination, trigger, ConsentRequirement.build(needed, consent),
                render,
            ))
        if errors:
            raise ConfigError(errors)
        if wire.users == 1:  # nothing to share: encode directly, no cache lookup per event
            for t in tags:
                if t.route[1] is wire:
                    t.route = (t.destination, wire.make)
        pure = all(_builtin_only(t.trigger) for t in container.tags if t.enabled)
        return cls(tags, view_keys=view_keys, pure=pure)

    @property
    def tags(self) -> tuple[str, ...]:
        """The names of the active tags, in container order."""
        return tuple(t.name for t in self._tags)

    def route(self, msg: Message) -> Sequence[Route]:
        """The ``(destination, render)`` pairs of every tag that fires for ``msg``.

        A tag fires when its trigger matches and every consent purpose it needs (its own and
        its destination's) is granted; unknown consent is not granted, and a GPC signal
        (``context.gpc`` of any value but an explicit no; see ``gpc_signal``) revokes the
        purposes marked ``sale_sharing``. A message carrying Segment's ``integrations`` object
        (``{"All": false, "Mixpanel": true}``) goes only to the destinations it enables
        (see ``integration_enabled``).
        """
        # long: every event goes through here: the memo and the full evaluation, inline
        integrations = msg.integrations
        memo = self._memo
        if memo is not None and not integrations:
            try:
                hit = memo.get((msg.type, msg.event))
            except TypeError:  # not hashable: the full path says what it makes of it
                hit = None
            if hit is not None:
                for t in hit[1]:
                    t.trigger_miss.bump()
                return hit[0]
            return self._remember(msg, memo)
        view = self._view(msg) if self._view is not None else None
        prefs: Mapping[str, Any] | None = None
        gpc = False
        if self._needs_consent:
            ctx = msg.context
            if ctx:
                c = ctx.get("consent")
                if type(c) is dict:
                    p = c.get("categoryPreferences")
                    if type(p) is dict:
                        prefs = p
                g = ctx.get("gpc")
                # "1", "True", 1.0 arrive from other collectors; a doubtful value is a signal
                gpc = g is True or (g is not None and g is not False and gpc_signal(g))
        out: list[Route] | None = None
        for t in self._tags:
            trigger = t.trigger
            if trigger is not None and not trigger(view):  # type: ignore[arg-type]
                t.trigger_miss.bump()
                continue
            if t.purposes:
                if prefs is None or (gpc and t.sale):
                    t.consent_miss.bump()
                    continue
                denied = False
                for purpose in t.purposes:
                    if prefs.get(purpose) is not True:
                        denied = True
                        break
                if denied:
                    t.consent_miss.bump()
                    continue
            if integrations and not integration_enabled(integrations, t.destination):
                t.integrations_miss.bump()
                continue
            if out is None:
                out = [t.route]
            else:
                out.append(t.route)
        return _NO_ROUTES if out is None else out

    def _remember(
        self, msg: Message, memo: dict[tuple[Any, Any], tuple[tuple[Route, ...], tuple[_Tag, ...]]]
    ) -> Sequence[Route]:
        # route(), for a router whose answer depends on (type, event) alone: the first
        # message of each pair is routed in full and the answer kept
        view = self._view(msg) if self._view is not None else None
        routes: list[Route] = []
        missed: list[_Tag] = []
        for t in self._tags:
            trigger = t.trigger
            if trigger is not None and not trigger(view):  # type: ignore[arg-type]
                t.trigger_miss.bump()
                missed.append(t)
            else:
                routes.append(t.route)
        out = tuple(routes)
        try:
            key = (msg.type, msg.event)
            hash(key)
        except TypeError:
            return out
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = (out, tuple(missed))
        return out

    def filtered(self) -> dict[str, FilteredCounts]:
        """Per destination, how many tag evaluations did not route, by reason: ``trigger``
        (the trigger did not match), ``consent`` (a needed purpose was not granted) and
        ``integrations`` (the event's ``integrations`` object turned the destination off)."""
        out: dict[str, FilteredCounts] = {}
        for t in self._tags:
            counts = out.setdefault(
                t.destination, {"trigger": 0, "consent": 0, "integrations": 0}
            )
            counts["trigger"] += t.trigger_miss.value
            counts["consent"] += t.consent_miss.value
            counts["integrations"] += t.integrations_miss.value
        return out

    def filtered_by_tag(self) -> dict[str, FilteredCounts]:
        """The same counts as :meth:`filtered`, per tag name."""
        return {
            t.name: {
                "trigger": t.trigger_miss.value,
                "consent": t.consent_miss.value,
                "integrations": t.integrations_miss.value,
            }
            for t in self._tags
        }

    def __repr__(self) -> str:
        return f"Router(tags={list(self.tags)!r})"
