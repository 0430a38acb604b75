"""Unleash feature toggles, compiled once: strategies, constraints, segments, variants and
dependencies, evaluated as the Unleash client specification says.

Hashing is Unleash's ``normalizedHash``: MurmurHash3 x86 32-bit (seed 0 for rollouts,
86028157 for variants) of ``"{groupId}:{stickiness value}"``, modulo the normalizer, plus one.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .._errors import ConfigError
from ..allocation import murmur3_32
from ._constraints import Ctx, Predicate, compile_constraint, context_value, parse_ip

__all__ = ["UnleashToggles", "UnleashVariant"]

VARIANT_SEED = 86028157
MAX_TOGGLES = 100_000
MAX_ITEMS = 10_000  # strategies, constraints, values or variants in one list

StrategyTest = Callable[[Ctx], bool]

#: for random stickiness and rollouts: the OS's randomness, not the global ``random`` state
_RANDOM = random.SystemRandom()



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


@attrs.frozen
class _Variants:
    group: str
    stickiness: str
    total: int
    items: tuple[tuple[int, str, Mapping[str, Any] | None], ...]
    overrides: tuple[tuple[str, frozenset[str], int], ...]


@attrs.frozen
class _Strategy:
    test: StrategyTest
    variants: _Variants | None


@attrs.frozen
class _Toggle:
    name: str
    enabled: bool
    strategies: tuple[_Strategy, ...]
    variants: _Variants | None
    dependencies: tuple[tuple[str, bool, frozenset[str] | None], ...]


def normalized_hash(identifier: str, group: str, normalizer: int = 100, seed: int = 0) -> int:
    """Unleash's bucket of ``identifier`` in ``group``: 1 to ``normalizer``."""
    return murmur3_32(f"{group}:{identifier}".encode(), seed) % normalizer + 1


def _random_id() -> str:
    return str(_RANDOM.randint(1, 1_000_000))


def _stickiness(ctx: Ctx, stickiness: str, fallbacks: tuple[str, ...]) -> str | None:
    if stickiness == "default":
        for name in fallbacks:
            value = ctx.get(name)
            if value is not None and value != "":
                return str(value)
        return _random_id()
    if stickiness == "random":
        return _random_id()
    value = context_value(ctx, stickiness)
    return None if value is None else str(value)


class _Compiler:
    def __init__(self, segments: Mapping[int, Any], hostname: str) -> None:
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.segments = segments
        self.hostname = hostname

    def constraints(self, items: Any, path: str) -> list[Predicate]:
        if items is None:
            return []
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            self.errors.append(f"{path}: expected a list of at most {MAX_ITEMS} constraints")
            return []
        preds = []
        for i, spec in enumerate(items):
            if not isinstance(spec, Mapping):
                self.errors.append(f"{path}[{i}]: expected an object")
                continue
            preds.append(compile_constraint(spec, f"{path}[{i}]", self.warnings))
        return preds

    def variants(
        self, items: Any, group: str, path: str, stickiness: str = "default"
    ) -> _Variants | None:
        if not items:
            return None
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            self.errors.append(f"{path}: expected a list of at most {MAX_ITEMS} variants")
            return None
        chosen: list[tuple[int, str, Mapping[str, Any] | None]] = []
        overrides: list[tuple[str, frozenset[str], int]] = []
        for i, spec in enumerate(items):
            if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                self.errors.append(f"{path}[{i}]: expected an object with a name")
                continue
            weight = spec.get("weight", 0)
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                self.errors.append(f"{path}[{i}].weight: expected a non-negative integer")
                continue
            if i == 0 and isinstance(spec.get("stickiness"), str):
                stickiness = spec["stickiness"]
            payload = spec.get("payload")
            chosen.append((weight, spec["name"], payload if isinstance(payload, Mapping) else None))
            for override in spec.get("overrides") or ():
                if isinstance(override, Mapping) and isinstance(override.get("values"), list):
                    values = frozenset(str(v) for v in override["values"])
                    overrides.append((str(override.get("contextName")), values, len(chosen) - 1))
        total = sum(w for w, _, _ in chosen)
        if not chosen:
            return None
        return _Variants(group, stickiness, total, tuple(chosen), tuple(overrides))

    def strategy(self, spec: Any, toggle: str, path: str) -> _Strategy:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            self.errors.append(f"{path}: expected an object with a name")
            return _Strategy(lambda _ctx: False, None)
        params = spec.get("parameters") or {}
        if not isinstance(params, Mapping):
            self.errors.append(f"{path}.parameters: expected an object")
            params = {}
        preds = self.constraints(spec.get("constraints"), f"{path}.constraints")
        for i, seg in enumerate(spec.get("segments") or ()):
            segment = self.segments.get(seg) if isinstance(seg, int) else None
            if segment is None:  # an unknown segment can never be satisfied
                self.warnings.append(f"{path}.segments[{i}]: unknown segment {seg!r}")
                preds.append(lambda _ctx: False)
                continue
            preds.extend(segment)
        rule = self._rule(spec["name"], params, toggle, path)
        group = str(params.get("groupId") or toggle)
        # strategy variants inherit the strategy's stickiness unless they name their own
        inherited = str(params.get("stickiness") or "default")
        variants = self.variants(spec.get("variants"), group, f"{path}.variants", inherited)
        checks = (*preds, rule)
        return _Strategy(lambda ctx: all(check(ctx) for check in checks), variants)

    def _rule(self, name: str, params: Mapping[str, Any], toggle: str, path: str) -> StrategyTest:
        if name == "default":
            return lambda _ctx: True
        if name == "userWithId":
            ids = frozenset(s.strip() for s in str(params.get("userIds", "")).split(","))
            return lambda ctx: ctx.get("userId") is not None and str(ctx["userId"]) in ids
        if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
            field = "userId" if name == "gradualRolloutUserId" else "sessionId"
            percentage = _percentage(params.get("percentage"))
            group = str(params.get("groupId", ""))

            def sticky(ctx: Ctx) -> bool:
                value = ctx.get(field)
                return value is not None and value != "" and (
                    normalized_hash(str(value), group) <= percentage
                )

            return sticky
        if name == "gradualRolloutRandom":
            percentage = _percentage(params.get("percentage"))
            return lambda _ctx: percentage > 0 and _RANDOM.randint(1, 100) <= percentage
        if name == "flexibleRollout":
            rollout = _percentage(params.get("rollout"))
            stickiness = str(params.get("stickiness") or "default")
            group = str(params.get("groupId") or toggle)

            def flexible(ctx: Ctx) -> bool:
                value = _stickiness(ctx, stickiness, ("userId", "sessionId"))
                return value is not None and normalized_hash(value, group) <= rollout

            return flexible
        if name == "remoteAddress":
            return _remote_address(str(params.get("IPs", "")))
        if name == "applicationHostname":
            hosts = {h.strip().lower() for h in str(params.get("hostNames", "")).split(",")}
            on = self.hostname.lower() in hosts
            return lambda _ctx: on
        self.warnings.append(f"{path}.name: unknown strategy {name!r}; never enabled")
        return lambda _ctx: False


def _percentage(value: Any) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return 0
    return max(0, min(100, number))


def _remote_address(ips: str) -> StrategyTest:
    exact: set[str] = set()
    networks = []
    for item in (s.strip() for s in ips.split(",")):
        if "/" in item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue
        elif item:
            exact.add(item)

    def test(ctx: Ctx) -> bool:
        raw = ctx.get("remoteAddress")
        if not isinstance(raw, str):
            return False
        if raw in exact:
            return True
        address = parse_ip(raw)
        return address is not None and any(
            address.version == net.version and address in net for net in networks
        )

    return test


def _choose(variants: _Variants, ctx: Ctx) -> tuple[str, Mapping[str, Any] | None] | None:
    for field, values, index in variants.overrides:
        value = context_value(ctx, field)
        if value is not None and str(value) in values:
            _, name, payload = variants.items[index]
            return name, payload
    if variants.total <= 0:
        return None
    sticky = _stickiness(ctx, variants.stickiness, ("userId", "sessionId", "remoteAddress"))
    if sticky is None:
        sticky = _random_id()
    target = normalized_hash(sticky, variants.group, variants.total, VARIANT_SEED)
    counter = 0
    for weight, name, payload in variants.items:
        if weight == 0:
            continue
        counter += weight
        if counter >= target:
            return name, payload
    return None


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
        toggles: Mapping[str, _Toggle],
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
        compiler = _Compiler({}, hostname if hostname is not None else socket.gethostname())
        compiler.errors.extend(errors)
        compiled_segments = {
            key: compiler.constraints(seg.get("constraints"), f"segments[{key!r}].constraints")
            for key, seg in segments.items()
        }
        compiler.segments = compiled_segments
        toggles: dict[str, _Toggle] = {}
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
            toggles[name] = _Toggle(
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
            chosen = _choose(variants, ctx)
            if chosen is not None:
                name, payload = chosen
                return UnleashVariant(name, enabled=True, feature_enabled=True, payload=payload)
            break
        return UnleashVariant("disabled", enabled=False, feature_enabled=True)

    def _evaluate(self, name: str, ctx: Ctx, depth: int) -> tuple[bool, _Strategy | None]:
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
