"""Compiling Unleash toggles (strategies, constraints, segments, variants, dependencies) into
the forms :class:`~persona_sdk.unleash.UnleashToggles` evaluates, and choosing variants.

Hashing is Unleash's ``normalizedHash``: MurmurHash3 x86 32-bit (seed 0 for rollouts,
86028157 for variants) of ``"{groupId}:{stickiness value}"``, modulo the normalizer, plus one.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..allocation import murmur3_32
from ._constraints import Ctx, Predicate, compile_constraint, context_value, parse_ip

__all__ = [
    "MAX_ITEMS",
    "MAX_TOGGLES",
    "Strategy",
    "Toggle",
    "ToggleCompiler",
    "Variants",
    "choose_variant",
    "normalized_hash",
]

VARIANT_SEED = 86028157
MAX_TOGGLES = 100_000
MAX_ITEMS = 10_000  # strategies, constraints, values or variants in one list

StrategyTest = Callable[[Ctx], bool]

#: for random stickiness and rollouts: the OS's randomness, not the global ``random`` state
_RANDOM = random.SystemRandom()


@attrs.frozen
class Variants:
    group: str
    stickiness: str
    total: int
    items: tuple[tuple[int, str, Mapping[str, Any] | None], ...]
    overrides: tuple[tuple[str, frozenset[str], int], ...]


@attrs.frozen
class Strategy:
    test: StrategyTest
    variants: Variants | None


@attrs.frozen
class Toggle:
    name: str
    enabled: bool
    strategies: tuple[Strategy, ...]
    variants: Variants | None
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


class ToggleCompiler:
    """Compiles toggle specs, collecting structural ``errors`` and "never matches" ``warnings``."""

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
    ) -> Variants | None:
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
        return Variants(group, stickiness, total, tuple(chosen), tuple(overrides))

    def strategy(self, spec: Any, toggle: str, path: str) -> Strategy:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            self.errors.append(f"{path}: expected an object with a name")
            return Strategy(lambda _ctx: False, None)
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
        return Strategy(lambda ctx: all(check(ctx) for check in checks), variants)

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


def choose_variant(variants: Variants, ctx: Ctx) -> tuple[str, Mapping[str, Any] | None] | None:
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
