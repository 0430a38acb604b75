"""Unleash feature toggles, compiled once: strategies, constraints, segments, variants and
dependencies, evaluated as the Unleash client specification says. The payload is read here;
each toggle is compiled by :mod:`persona_sdk.unleash._strategies`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._errors import ConfigError
from ._constraints import Ctx
from ._strategies import MAX_ITEMS, MAX_TOGGLES, Strategy, Toggle, ToggleCompiler, choose_variant

__all__ = ["UnleashToggles", "UnleashVariant"]


@attrs.frozen
class UnleashVariant:
    """The variant a toggle gives a context, shaped like Unleash's ``getVariant`` answer.

    ``enabled`` is whether a variant was chosen; ``feature_enabled`` whether the toggle is on.
    """

    name: str
    enabled: bool
    feature_enabled: bool
    payload: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The specification's JSON shape (``payload`` only when there is one)."""
        out: dict[str, Any] = {"name": self.name, "enabled": self.enabled}
        if self.payload is not None:
            out["payload"] = dict(self.payload)
        out["feature_enabled"] = self.feature_enabled
        return out



class UnleashToggles:
    """Toggles from an Unleash ``/api/client/features`` payload (or delta-API events),
    compiled once and evaluated in-process as the Unleash client specification says.

    Usage::

        toggles = UnleashToggles.from_payload(payload)
        toggles.is_enabled("new-checkout", {"userId": "u-1", "properties": {"plan": "pro"}})
        toggles.get_variant("cta-colour", {"userId": "u-1"}).name

    Structural problems (a strategy that is not an object, a negative weight) raise one
    :class:`~persona_sdk.ConfigError` naming every path; what the specification says to
    treat as "never matches" (an unknown operator or strategy, a bad regular expression)
    is kept in :attr:`warnings`.
    """

    def __init__(
        self,
        toggles: Mapping[str, Toggle],
        warnings: Iterable[str],
        raw: tuple[dict[str, Any], dict[int, Any]],
    ) -> None:
        self._toggles = dict(toggles)
        self.warnings: tuple[str, ...] = tuple(warnings)
        self._raw = raw

    @classmethod
    def from_payload(
        cls, payload: Mapping[str, Any], *, hostname: str | None = None
    ) -> UnleashToggles:
        """Compile a features payload (``{"features": [...], "segments": [...]}``) or a
        delta-API payload (``{"events": [...]}``)."""
        if not isinstance(payload, Mapping):
            raise ConfigError("expected an object")
        if "events" in payload:
            return cls({}, (), ({}, {})).apply_events(payload["events"], hostname=hostname)
        features, errors = _index(payload.get("features"), "features", "name")
        segments, seg_errors = _index(payload.get("segments"), "segments", "id")
        return cls._compile(features, segments, hostname, [*errors, *seg_errors])

    def apply_events(self, events: Any, *, hostname: str | None = None) -> UnleashToggles:
        """A new set with delta-API events applied (``hydration``, ``feature-updated``,
        ``feature-removed``, ``segment-updated``, ``segment-removed``); this one is unchanged."""
        if not isinstance(events, list) or len(events) > MAX_TOGGLES:
            raise ConfigError(f"events: expected a list of at most {MAX_TOGGLES} events")
        features, segments = dict(self._raw[0]), dict(self._raw[1])
        errors: list[str] = []
        for i, event in enumerate(events):
            kind = event.get("type") if isinstance(event, Mapping) else None
            path = f"events[{i}]"
            if kind == "hydration":
                f, e1 = _index(event.get("features"), f"{path}.features", "name")
                s, e2 = _index(event.get("segments"), f"{path}.segments", "id")
                features, segments = f, s
                errors += e1 + e2
            elif kind == "feature-updated" and isinstance(event.get("feature"), Mapping):
                feature = event["feature"]
                features[str(feature.get("name"))] = feature
            elif kind == "feature-removed":
                features.pop(str(event.get("featureName")), None)
            elif kind == "segment-updated" and isinstance(event.get("segment"), Mapping):
                segments[event["segment"].get("id")] = event["segment"]
            elif kind == "segment-removed":
                segments.pop(event.get("segmentId"), None)
            else:
                errors.append(f"{path}: unknown or malformed event {kind!r}")
        return self._compile(features, segments, hostname, errors)

    @classmethod
    def _compile(
        cls,
        features: dict[str, Any],
        segments: dict[Any, Any],
        hostname: str | None,
        errors: list[str],
    ) -> UnleashToggles:
        compiler = ToggleCompiler({}, hostname if hostname is not None else socket.gethostname())
        compiler.errors.extend(errors)
        compiled_segments = {
            key: compiler.constraints(seg.get("constraints"), f"segments[{key!r}].constraints")
            for key, seg in segments.items()
        }
        compiler.segments = compiled_segments
        toggles: dict[str, Toggle] = {}
        for name, spec in features.items():
            path = f"features[{name!r}]"
            strategies = spec.get("strategies") or []
            if not isinstance(strategies, list) or len(strategies) > MAX_ITEMS:
                compiler.errors.append(f"{path}.strategies: expected a list")
                continue
            deps = []
            for j, dep in enumerate(spec.get("dependencies") or ()):
                if not isinstance(dep, Mapping) or not isinstance(dep.get("feature"), str):
                    compiler.errors.append(f"{path}.dependencies[{j}]: expected an object")
                    continue
                wanted = dep.get("variants")
                variants = (
                    frozenset(map(str, wanted)) if isinstance(wanted, list) and wanted else None
                )
                deps.append((dep["feature"], dep.get("enabled", True) is not False, variants))
            toggles[name] = Toggle(
                name=name,
                enabled=spec.get("enabled") is True,
                strategies=tuple(
                    compiler.strategy(s, name, f"{path}.strategies[{i}]")
                    for i, s in enumerate(strategies)
                ),
                variants=compiler.variants(spec.get("variants"), name, f"{path}.variants"),
                dependencies=tuple(deps),
            )
        if compiler.errors:
            raise ConfigError(compiler.errors)
        return cls(toggles, compiler.warnings, (features, segments))

    def __contains__(self, name: object) -> bool:
        return name in self._toggles

    def __len__(self) -> int:
        return len(self._toggles)

    @property
    def names(self) -> tuple[str, ...]:
        """Every toggle's name."""
        return tuple(self._toggles)

    @staticmethod
    def visitor_context(visitor: Any, **fields: Any) -> dict[str, Any]:
        """An Unleash context for a persona-sdk ``Visitor``: ``userId`` is the visitor's user
        id (else its anonymous id), ``properties`` its scalar attributes as strings, and
        ``fields`` (``sessionId``, ``remoteAddress``, ``environment``, ``appName``,
        ``currentTime``) are added as given."""
        properties = {
            str(k): ("true" if v is True else "false" if v is False else str(v))
            for k, v in visitor.attributes.items()
            if isinstance(v, (str, int, float, bool))
        }
        ctx: dict[str, Any] = {"properties": properties}
        user = visitor.user_id if visitor.user_id is not None else visitor.anonymous_id
        if user is not None:
            ctx["userId"] = str(user)
        ctx.update({k: v for k, v in fields.items() if v is not None})
        return ctx

    def is_enabled(self, name: str, context: Ctx | None = None) -> bool:
        """Whether toggle ``name`` is on for ``context`` (False for an unknown toggle)."""
        return self._evaluate(name, context or {}, depth=0)[0]

    def get_variant(self, name: str, context: Ctx | None = None) -> UnleashVariant:
        """The variant toggle ``name`` gives ``context`` (``"disabled"`` when none)."""
        ctx = context or {}
        on, strategy = self._evaluate(name, ctx, depth=0)
        if not on:
            return UnleashVariant("disabled", enabled=False, feature_enabled=False)
        toggle = self._toggles[name]
        for variants in (strategy.variants if strategy else None, toggle.variants):
            if variants is None:
                continue
            chosen = choose_variant(variants, ctx)
            if chosen is not None:
                name, payload = chosen
                return UnleashVariant(name, enabled=True, feature_enabled=True, payload=payload)
            break
        return UnleashVariant("disabled", enabled=False, feature_enabled=True)

    def _evaluate(self, name: str, ctx: Ctx, depth: int) -> tuple[bool, Strategy | None]:
        toggle = self._toggles.get(name)
        if toggle is None or not toggle.enabled:
            return False, None
        for parent, want_on, variants in toggle.dependencies:
            parent_toggle = self._toggles.get(parent)
            # only one level of dependencies: a parent with parents of its own fails the child
            if depth > 0 or parent_toggle is None or parent_toggle.dependencies:
                return False, None
            if want_on:
                if not self._evaluate(parent, ctx, depth + 1)[0]:
                    return False, None
                if variants is not None and self.get_variant(parent, ctx).name not in variants:
                    return False, None
            elif self._evaluate(parent, ctx, depth + 1)[0]:
                return False, None
        if not toggle.strategies:
            return True, None
        for strategy in toggle.strategies:
            if strategy.test(ctx):
                return True, strategy
        return False, None


def _index(items: Any, path: str, key: str) -> tuple[dict[Any, Any], list[str]]:
    if items is None:
        return {}, []
    if not isinstance(items, list) or len(items) > MAX_TOGGLES:
        return {}, [f"{path}: expected a list of at most {MAX_TOGGLES} items"]
    out: dict[Any, Any] = {}
    errors = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or key not in item:
            errors.append(f"{path}[{i}]: expected an object with {key!r}")
            continue
        out[item[key]] = item
    return out, errors
