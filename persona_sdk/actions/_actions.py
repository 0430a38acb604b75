"""``ActionRunner``: the container's ``[[actions]]``, watching the events the visitor tracks.

An action fires by tracking an event (``emit``) and/or updating traits (``traits``, an
``identify``) through the tag layer: a tag routing the emitted event to a ``webhook``
destination makes it a Standard Webhooks-signed request, delivered by the background worker
with its retries, dead letters and ``stats()``. Nothing is sent on the caller's thread.

- **Idempotent**: the emitted message's id is derived from the action's name and the trigger
  message's id, so a trigger seen twice (a retried beacon) fires once, and a receiver can
  deduplicate by ``webhook-id``.
- **Consent**: ``purpose`` must be granted in the trigger event's consent; the emitted event
  carries the same consent, so the tag layer gates it again per destination.
- **Delayed**: with ``after`` (and ``unless``), a trigger schedules the action for the
  visitor; an ``unless`` event cancels it; a later trigger pushes it back (one action per
  abandoned cart). Due actions fire from a daemon thread (started by the first scheduled
  action), or from ``persona.run_actions()``. A forked child (gunicorn ``--preload``) starts
  its own thread with its first scheduled action; what the parent scheduled stays the
  parent's, so nothing fires twice.
- Events emitted by actions never trigger actions (no loops).
"""

from __future__ import annotations

import hashlib
import heapq
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from .. import _lifecycle
from .._errors import ConfigError
from .._stats import ActionCounts, ActionsStats
from ..config import ActionConfig, parse_window
from ..rules import Condition, compile_condition

__all__ = ["ActionConfig", "ActionRunner"]

_MAX_FIRED = 100_000
_MAX_PENDING = 100_000


class _Action:
    __slots__ = ("after", "config", "name", "when")

    def __init__(self, config: ActionConfig, when: Condition, after: float | None) -> None:
        self.config = config
        self.name = config.name
        self.when = when
        self.after = after


def _view(event: str, properties: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    return {"event": event, "properties": dict(properties), "context": dict(context)}


def derived_id(action: str, trigger_id: str) -> str:
    """The emitted message id: the same for the same action and trigger, UUID-shaped."""
    h = hashlib.sha256(f"{action}\0{trigger_id}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class ActionRunner:
    """Watches tracked events and fires the container's actions (see the module doc).

    ``persona`` is what actions track and identify with (a ``Persona``); ``clock`` is its
    clock.
    """

    def __init__(
        self,
        actions: Sequence[_Action],
        *,
        persona: Any,
        clock: Callable[[], float],
    ) -> None:
        self._actions = tuple(actions)
        self._persona = persona
        self._clock = clock
        self._by_trigger: dict[str, list[_Action]] = {}
        self._by_unless: dict[str, list[_Action]] = {}
        for a in self._actions:
            self._by_trigger.setdefault(a.config.on, []).append(a)
            if a.config.unless:
                self._by_unless.setdefault(a.config.unless, []).append(a)
        #: events whose arrival the runner must see
        self.watched = frozenset(self._by_trigger) | frozenset(self._by_unless)
        self._lock = threading.Lock()
        self._fired: OrderedDict[tuple[str, str], None] = OrderedDict()
        # (action, visitor) -> [due, trigger id, ids, consent, properties, generation]
        self._pending: dict[tuple[str, str], list[Any]] = {}
        self._heap: list[tuple[float, int, tuple[str, str]]] = []
        self._seq = 0
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False
        self.counts: dict[str, dict[str, int]] = {
            a.name: dict.fromkeys(
                ("triggered", "scheduled", "cancelled", "fired", "deduplicated",
                 "consent_denied", "dropped", "errors"),
                0,
            )
            for a in self._actions
        }
        _lifecycle.register("actions", after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The timer thread stayed in the parent, which fires what it scheduled; this child
        # starts empty, with fresh locks, and its first scheduled action starts a new thread.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread = None
        self._pending = {}
        self._heap = []

    @classmethod
    def build(
        cls,
        configs: Sequence[ActionConfig],
        *,
        persona: Any,
        clock: Callable[[], float],
        operators: Any = None,
    ) -> ActionRunner | None:
        """Check and compile ``[[actions]]``; ``ConfigError`` names each bad path."""
        if not configs:
            return None
        errors: list[str] = []
        built: list[_Action] = []
        names: set[str] = set()
        for i, cfg in enumerate(configs):
            path = f"actions[{i}]"
            if cfg.name in names:
                errors.append(f"{path}.name: duplicate action name {cfg.name!r}")
            names.add(cfg.name)
            if not cfg.emit and cfg.traits is None:
                errors.append(f"{path}: give emit (an event) and/or traits (a trait update)")
            if cfg.unless and cfg.after is None:
                errors.append(f"{path}.unless: needs after (how long to wait for it)")
            after = None
            if cfg.after is not None:
                try:
                    after = parse_window(cfg.after)
                except ValueError as exc:
                    errors.append(f"{path}.after: {exc}")
            try:
                when = compile_condition(cfg.when, path=f"{path}.when", operators=operators)
            except ConfigError as exc:
                errors.extend(exc.errors)
                continue
            built.append(_Action(cfg, when, after))
        if errors:
            raise ConfigError(errors)
        return cls(built, persona=persona, clock=clock)

    # -- watching ----------------------------------------------------------------------------

    def observe(self, msg: Any) -> None:
        """A tracked event arrived (on the thread that tracked it; no I/O here)."""
        context = msg.context or {}
        if context.get("persona_action"):
            return  # emitted by an action: never a trigger
        who = msg.user_id or msg.anonymous_id
        if who is None:
            return
        event = msg.event
        for a in self._by_unless.get(event, ()):
            with self._lock:
                if self._pending.pop((a.name, who), None) is not None:
                    self.counts[a.name]["cancelled"] += 1
        triggered = self._by_trigger.get(event)
        if not triggered:
            return
        props = msg.properties or {}
        view = _view(event, props, context)
        consent = context.get("consent")
        prefs = consent.get("categoryPreferences") if isinstance(consent, Mapping) else None
        for a in triggered:
            counts = self.counts[a.name]
            if not a.when(view):
                continue
            counts["triggered"] += 1
            purpose = a.config.purpose
            if purpose is not None and not (isinstance(prefs, Mapping) and prefs.get(purpose)):
                counts["consent_denied"] += 1
                continue
            ids = (msg.anonymous_id, msg.user_id)
            if a.after is None:
                self._fire(a, msg.message_id, ids, prefs, props)
            else:
                self._schedule(a, who, msg.message_id, ids, prefs, props)

    def _schedule(  # noqa: PLR0917 - private, the trigger's parts
        self, a: _Action, who: str, trigger_id: str, ids: tuple[str | None, str | None],
        prefs: Any, props: Mapping[str, Any],
    ) -> None:
        assert a.after is not None
        due = self._clock() + a.after
        key = (a.name, who)
        with self._lock:
            entry = self._pending.get(key)
            if entry is not None:  # pushed back; the first trigger stays the action's id
                entry[0] = due
            elif len(self._pending) >= _MAX_PENDING:
                self.counts[a.name]["dropped"] += 1
                return
            else:
                self._pending[key] = [due, trigger_id, ids, prefs, dict(props)]
                self.counts[a.name]["scheduled"] += 1
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, key))
            start = self._thread is None and not self._closed
            if start:
                self._thread = threading.Thread(
                    target=self._run, name="persona-actions", daemon=True
                )
            self._wake.notify_all()
        if start:
            assert self._thread is not None
            self._thread.start()

    # -- firing ------------------------------------------------------------------------------

    def run_due(self, now: float | None = None) -> int:
        """Fire every scheduled action due at ``now`` (default: the clock); how many fired."""
        now = self._clock() if now is None else now
        due: list[tuple[_Action, list[Any]]] = []
        by_name = {a.name: a for a in self._actions}
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                entry = self._pending.get(key)
                if entry is None or entry[0] != when:
                    continue  # cancelled, or pushed back (a later heap entry stands)
                del self._pending[key]
                due.append((by_name[key[0]], entry))
        for a, (_, trigger_id, ids, prefs, props) in due:
            self._fire(a, trigger_id, ids, prefs, props)
        return len(due)

    def _fire(
        self, a: _Action, trigger_id: str, ids: tuple[str | None, str | None], prefs: Any,
        props: Mapping[str, Any],
    ) -> None:
        counts = self.counts[a.name]
        key = (a.name, trigger_id)
        with self._lock:
            if key in self._fired:
                counts["deduplicated"] += 1
                return
            self._fired[key] = None
            if len(self._fired) > _MAX_FIRED:
                self._fired.popitem(last=False)
        anonymous_id, user_id = ids
        consent = dict(prefs) if isinstance(prefs, Mapping) else None
        context = {"persona_action": a.name, "trigger_id": trigger_id}
        cfg = a.config
        try:
            if cfg.emit:
                self._persona.track(
                    cfg.emit,
                    anonymous_id=anonymous_id,
                    user_id=user_id,
                    properties={**cfg.properties, "action": a.name, "trigger": dict(props)},
                    context=context,
                    consent=consent,
                    message_id=derived_id(a.name, trigger_id),
                )
            if cfg.traits is not None:
                self._persona.identify(
                    user_id,
                    anonymous_id=anonymous_id,
                    traits=cfg.traits,
                    context=context,
                    consent=consent,
                    message_id=derived_id(a.name + "\0traits", trigger_id),
                )
        except Exception:  # a closed Persona, a bad id: counted, never raised into a request
            counts["errors"] += 1
            return
        counts["fired"] += 1

    def _run(self) -> None:
        # Sleeps until the next due action (at most a second: the clock may be a test's).
        while True:
            with self._lock:
                if self._closed:
                    return
                wait = 1.0
                if self._heap:
                    wait = min(1.0, max(0.0, self._heap[0][0] - self._clock()))
                if wait > 0:
                    self._wake.wait(wait)
                    continue  # woken or timed out: check closed and the heap again
            self.run_due()

    def close(self) -> None:
        """Stop the timer thread (scheduled actions not yet due are dropped, counted)."""
        with self._lock:
            self._closed = True
            for name, _ in self._pending:
                self.counts[name]["dropped"] += 1
            self._pending.clear()
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def stats(self) -> ActionsStats:
        """Per action: ``triggered``, ``scheduled``, ``cancelled``, ``fired``,
        ``deduplicated``, ``consent_denied``, ``dropped``, ``errors``; and ``pending``."""
        with self._lock:
            pending = len(self._pending)
        # counts is keyed by name (bumped as counts[key]): a cast, pinned by a test
        actions = {k: cast("ActionCounts", dict(v)) for k, v in self.counts.items()}
        return {"pending": pending, "actions": actions}
