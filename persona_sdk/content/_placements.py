"""``Placement``: one ``[placements.<name>]`` compiled against the catalog it serves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ConfigError, PluginError
from ..config import PlacementConfig, parse_window
from ..plugins import load_plugin, missing_members
from ..rules import Condition, compile_condition
from ._catalog import Catalog, ContentItem
from ._decision import ContentReason
from ._strategies import STRATEGIES, BanditArms, Scorer

__all__ = ["Placement", "compile_placements"]

_PER = ("item", "placement", "campaign")
_STRATEGY_REASON = {
    "first_match": ContentReason.FIRST_MATCH,
    "weighted": ContentReason.WEIGHTED,
    "score": ContentReason.SCORE,
    "bandit": ContentReason.BANDIT,
}


class Placement:
    """A placement's strategy, candidates, caps, holdout and fallback (built once)."""

    def __init__(
        self,
        name: str,
        config: PlacementConfig,
        *,
        select: Condition | None,
        scorer: Scorer | None,
    ) -> None:
        self.name = name
        self.config = config
        self.strategy = config.strategy
        self.n = config.n
        self.holdout = config.holdout
        self.fallback = config.fallback
        self.ids = tuple(config.items) if config.items is not None else None
        self.select = select
        self.scorer = scorer
        #: placement caps count decisions (checked once, before any item)
        self.placement_caps = tuple(
            (c.limit, parse_window(c.window)) for c in config.caps if c.per == "placement"
        )
        #: (per, limit, window) of each item's caps: campaign caps first, so an item
        #: refused by its campaign has not spent a hit of its own
        self.item_caps = tuple(
            (c.per, c.limit, parse_window(c.window))
            for c in sorted(config.caps, key=lambda c: c.per != "campaign")
            if c.per != "placement"
        )
        self.arms: dict[str, BanditArms] = {}
        #: a plugin ``Strategy`` (``persona_sdk.plugins.Strategy``), for other strategy names
        self.custom: Any = None
        self.segments = tuple(config.bandit.segments)
        #: whether the eligible set is needed to rank (weighted, score, a plugin's): else
        #: the candidates are ranked without reading the visitor and checked lazily
        self.checked = self.strategy not in ("first_match", "bandit")
        #: the reasons of a decision its strategy made without a cap or store failure
        self.why = (_STRATEGY_REASON.get(self.strategy, ContentReason.STRATEGY),)
        self._cache: tuple[int, tuple[ContentItem, ...], dict[str, Any]] | None = None
        self._unscored: tuple[tuple[ContentItem, ...], list[tuple[ContentItem, None]]] = (
            (), []
        )

    def candidates(self, catalog: Catalog) -> tuple[tuple[ContentItem, ...], dict[str, Any]]:
        """The catalog's items this placement may show, in strategy order for
        ``first_match`` (priority, then catalog order), with the score rules' per-item
        parts; cached per catalog version."""
        cache = self._cache
        if cache is not None and cache[0] == catalog.version:
            return cache[1], cache[2]
        if self.ids is not None:
            items = [it for i in self.ids if (it := catalog.get(i)) is not None]
        else:
            items = list(catalog.items.values())
        select = self.select
        if select is not None:
            items = [it for it in items if select(it.attributes)]
        if self.fallback is not None:
            items = [it for it in items if it.id != self.fallback]
        if self.strategy == "first_match":
            items.sort(key=lambda it: -it.priority)  # stable: catalog order among equals
        scorer = self.scorer
        statics = {it.id: scorer.static(it) for it in items} if scorer is not None else {}
        result = tuple(items)
        self._cache = (catalog.version, result, statics)
        return result, statics

    def unscored(
        self, items: tuple[ContentItem, ...]
    ) -> list[tuple[ContentItem, None]]:
        """``items`` (the candidates) as ``first_match`` ranks them: ``(item, None)``, made
        once per candidate tuple."""
        made = self._unscored
        if made[0] is not items:
            made = self._unscored = (items, [(it, None) for it in items])
        return made[1]

    def arms_for(self, segment: str) -> BanditArms:
        """The bandit statistics of one segment (``*``: everyone else)."""
        arms = self.arms.get(segment)
        if arms is None:
            arms = self.arms.setdefault(
                segment, BanditArms(f"bandit:{self.name}:{segment}", self.config.bandit)
            )
        return arms


def compile_placements(
    placements: Mapping[str, PlacementConfig],
    item_ids: Sequence[str],
    *,
    operators: Any = None,
    saved_groups: Mapping[str, Any] | None = None,
    feeds: bool = False,
    strategies: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Placement], list[str]]:
    """Compile every placement; the errors name each bad path (``placements.hero.items[2]:
    unknown item "x"``). Item ids must be the container's unless feeds are configured (feed
    items arrive later: an id unknown at decision time is skipped)."""
    out: dict[str, Placement] = {}
    errors: list[str] = []
    known = set(item_ids)
    for name, cfg in placements.items():
        path = f"placements.{name}"
        problems: list[str] = []
        custom = None
        if cfg.strategy not in STRATEGIES:
            custom, problem = _custom_strategy(cfg.strategy, strategies)
            if problem:
                problems.append(f"{path}.strategy: {problem}")
        if cfg.items is None and cfg.select is None:
            problems.append(f"{path}: give items (ids) or select (a condition over items)")
        if not feeds:
            for i, item_id in enumerate(cfg.items or ()):
                if item_id not in known:
                    problems.append(f"{path}.items[{i}]: unknown item {item_id!r}")
            if cfg.fallback is not None and cfg.fallback not in known:
                problems.append(f"{path}.fallback: unknown item {cfg.fallback!r}")
        _check_numbers(cfg, path, problems)
        if cfg.scoring and cfg.strategy != "score":
            problems.append(f"{path}.scoring: only a score placement has scoring rules")
        select = scorer = None
        try:
            if cfg.select is not None:
                select = compile_condition(
                    cfg.select, path=f"{path}.select", operators=operators
                )
            if cfg.strategy == "score":
                scorer = Scorer(cfg.scoring, f"{path}.scoring", operators, saved_groups)
        except ConfigError as exc:
            problems.extend(exc.errors)
        if problems:
            errors.extend(problems)
            continue
        placement = Placement(name, cfg, select=select, scorer=scorer)
        placement.custom = custom
        out[name] = placement
    return out, errors


def _check_numbers(cfg: PlacementConfig, path: str, problems: list[str]) -> None:
    """The placement's counts, shares, caps and bandit settings in range."""
    if cfg.n < 1:
        problems.append(f"{path}.n: must be at least 1")
    if not 0.0 <= cfg.holdout < 1.0:
        problems.append(f"{path}.holdout: expected a share in [0, 1)")
    for i, cap in enumerate(cfg.caps):
        if cap.per not in _PER:
            problems.append(f"{path}.caps[{i}].per: expected one of {', '.join(_PER)}")
        if cap.limit < 1:
            problems.append(f"{path}.caps[{i}].limit: must be at least 1")
        try:
            parse_window(cap.window)
        except ValueError as exc:
            problems.append(f"{path}.caps[{i}].window: {exc}")
    bandit = cfg.bandit
    a, b = bandit.prior
    if not (a > 0 and b > 0):
        problems.append(f"{path}.bandit.prior: both parameters must be positive")
    if not 1 <= bandit.samples <= 4096:
        problems.append(f"{path}.bandit.samples: expected 1 to 4096")
    if bandit.refresh < 0:
        problems.append(f"{path}.bandit.refresh: must be >= 0")

def _custom_strategy(name: str, given: Mapping[str, Any] | None) -> tuple[Any, str]:
    # a Strategy passed to Persona(strategies=...), else an entry point
    found = (given or {}).get(name)
    if found is None:
        try:
            found = load_plugin("persona_sdk.strategies", name)
        except PluginError:
            return None, (
                f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}, or a "
                "Strategy passed as Persona(strategies=...) or installed under "
                "persona_sdk.strategies"
            )
        if isinstance(found, type):
            found = found()
    if missing_members("persona_sdk.strategies", found):
        return None, f"strategy {name!r} has no rank(items, attributes, visitor_key)"
    return found, ""
