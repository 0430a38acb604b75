"""Tracking plans: a JSON Schema per event name, enforced before fan-out.

A plan is part of the container::

    [tracking_plan]
    mode = "flag"            # what a violation does by default: block | flag | pass
    unplanned = "pass"       # a track event the plan does not name: block | flag | pass

    [tracking_plan.events."Order Completed"]
    mode = "block"
    schema = { type = "object", required = ["order_id", "revenue"],
               properties = { revenue = { type = "number", minimum = 0 } } }

The schema validates the event's ``properties`` (JSON Schema draft 2020-12, through the
``jsonschema`` package: ``pip install 'persona-sdk-py[tracking-plan]'``). Schemas are checked
and compiled when the container loads. At ``track`` / ``ingest`` / the collector:

- ``block``: the event is refused at the call (``EventValidationError``; a 400 item at the
  collector), so no id is returned for an event that will not be sent;
- ``flag``: the event goes on with Segment Protocols' ``context.protocols.violations``, which
  tag triggers can route (``{ "context.protocols.violations" = { "$exists" = true } }``);
- ``pass``: the event goes on untouched; the violation is only counted.

Every violation is counted per event name in ``persona.stats()["tracking_plan"]``.
"""

from __future__ import annotations

import threading
from itertools import islice
from typing import Any

from .._errors import ConfigError, EventValidationError
from .._stats import TrackingPlanStats
from ..config import TrackingPlanConfig
from ..config import TrackingPlanMode as Mode
from ._model import Message

__all__ = ["TrackingPlan"]

#: the most violations described per event (the rest are counted, not listed)
MAX_DESCRIBED = 10


class TrackingPlan:
    """A compiled plan; ``check(msg)`` runs on the caller's thread before fan-out."""

    def __init__(self, config: TrackingPlanConfig) -> None:
        self._unplanned = config.unplanned
        self._events: dict[str, tuple[Any, Mode]] = {}
        self._lock = threading.Lock()
        self.checked = 0
        self.blocked = 0
        self.violations: dict[str, int] = {}
        if not config.events and config.unplanned == "pass":
            self.active = False
            return
        self.active = True
        if not config.events:
            return
        try:
            from jsonschema import Draft202012Validator, SchemaError
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigError(
                "tracking_plan: JSON Schema validation needs the jsonschema package "
                "(pip install 'persona-sdk-py[tracking-plan]')"
            ) from None
        errors = []
        for name, event in config.events.items():
            try:
                Draft202012Validator.check_schema(event.schema)
            except SchemaError as exc:
                where = "/".join(str(p) for p in exc.path)
                errors.append(
                    f"tracking_plan.events.{name}.schema{'.' + where if where else ''}: "
                    f"{exc.message}"
                )
                continue
            self._events[name] = (Draft202012Validator(event.schema), event.mode or config.mode)
        if errors:
            raise ConfigError(errors)

    def check(self, msg: Message) -> None:
        """Apply the plan to one message: raise ``EventValidationError`` (block), add
        ``context.protocols.violations`` (flag), or let it pass; count what it found."""
        if msg.type != "track" or msg.event is None:
            return
        planned = self._events.get(msg.event)
        mode: Mode
        if planned is None:
            if self._unplanned == "pass":
                return
            found = [{"type": "Unplanned", "field": "event",
                      "description": f"{msg.event!r} is not in the tracking plan"}]
            mode = self._unplanned
        else:
            validator, mode = planned
            found = [
                {"type": "Track", "field": _path(err.absolute_path), "description": err.message}
                for err in islice(validator.iter_errors(msg.properties or {}), MAX_DESCRIBED)
            ]
        with self._lock:
            self.checked += 1
            if not found:
                return
            self.violations[msg.event] = self.violations.get(msg.event, 0) + 1
            if mode == "block":
                self.blocked += 1
        if mode == "block":
            first = found[0]
            raise EventValidationError(
                first["field"], f"tracking plan: {first['description']}"
            )
        if mode == "flag":
            context = msg.context if msg.context is not None else {}
            context["protocols"] = {"violations": found}
            msg.context = context

    def stats(self) -> TrackingPlanStats:
        """``checked``, ``blocked`` and ``violations`` per event name."""
        with self._lock:
            return {
                "checked": self.checked, "blocked": self.blocked,
                "violations": dict(self.violations),
            }


def _path(parts: Any) -> str:
    return "properties" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts
    )
