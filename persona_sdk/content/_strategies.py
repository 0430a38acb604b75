"""Placement strategies: each yields a placement's eligible items best first.

The runtime takes items from the front until it has ``n`` that pass their frequency caps,
so a strategy only orders: ``first_match`` by priority, ``weighted`` by a sticky weighted
draw, ``score`` by scoring rules, ``bandit`` by Thompson samples. Ties are broken by the
visitor's hash, so one visitor sees a stable order and different visitors spread.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .._errors import ConfigError
from ..allocation import fnv1a32
from ..config import BanditConfig, ScoringRule
from ..rules import ALWAYS, Condition, compile_condition, compile_path
from ._catalog import ContentItem

__all__ = ["STRATEGIES", "BanditArms", "Ranked", "Scorer", "ordered", "weighted_draws"]

#: (item, score or None), best first
Ranked = Iterator[tuple[ContentItem, float | None]]
#: a bandit column's items best first (``()``: it has ties; None: not made yet)
_Rank = list[tuple[ContentItem, float]] | tuple[()] | None
STRATEGIES = ("first_match", "weighted", "score", "bandit")


def unit_hash(text: str) -> float:
    """A number in [0, 1) from the visitor-scoped ``text`` (FNV-1a, as allocation does)."""
    return (fnv1a32(text) % 100_000) / 100_000


def ordered(items: Sequence[ContentItem], scores: Sequence[float], vkey: str) -> Ranked:
    """``items`` by ``scores``, highest first; equal scores in the order of the visitor's
    hash of each item id. The best comes without sorting (most placements need one)."""
    best = max(scores)
    first = scores.index(best)  # C-speed scans: ties are rare
    if scores.count(best) > 1:
        top = [i for i, s in enumerate(scores) if s == best]
        first = min(top, key=lambda i: fnv1a32(vkey + items[i].id))
    yield items[first], best
    rest = sorted((i for i in range(len(items)) if i != first), key=lambda i: -scores[i])
    # equal scores (rare with draws, common with scores) by the visitor's hash: hashed
    # only where there is a tie
    start = 0
    while start < len(rest):
        end = start + 1
        while end < len(rest) and scores[rest[end]] == scores[rest[start]]:
            end += 1
        if end - start > 1:
            rest[start:end] = sorted(rest[start:end], key=lambda i: fnv1a32(vkey + items[i].id))
        start = end
    for i in rest:
        yield items[i], scores[i]


def weighted_draws(items: Sequence[ContentItem], seed: str, vkey: str) -> Ranked:
    """Draw without replacement by ``weight``; the k-th draw hashes ``seed:k:vkey``, so a
    visitor draws the same items as long as the eligible set is the same."""
    left = [it for it in items if it.weight > 0]
    k = 0
    while left:
        total = sum(it.weight for it in left)
        u = unit_hash(f"{seed}:{k}:{vkey}") * total
        acc = 0.0
        pick = len(left) - 1
        for j, it in enumerate(left):
            acc += it.weight
            if u < acc:
                pick = j
                break
        item = left.pop(pick)
        yield item, item.weight / total
        k += 1


class Scorer:
    """The compiled scoring rules of a ``score`` placement."""

    def __init__(
        self, rules: Sequence[ScoringRule], path: str, operators: Any, saved_groups: Any
    ) -> None:
        self.visitor_rules: list[tuple[Condition, float]] = []
        self.item_rules: list[tuple[Condition, Condition, float]] = []
        self.matches: list[tuple[Callable[[Any], Any], str, float]] = []
        for i, rule in enumerate(rules):
            where = f"{path}[{i}]"
            when = compile_condition(
                rule.when, path=f"{where}.when", operators=operators, saved_groups=saved_groups
            )
            item = compile_condition(rule.item, path=f"{where}.item", operators=operators)
            if rule.attribute or rule.field:
                if not (rule.attribute and rule.field):
                    raise ConfigError(f"{where}: attribute and field go together")
                if when is not ALWAYS or item is not ALWAYS:
                    raise ConfigError(f"{where}: a match rule takes no when or item")
                self.matches.append((compile_path(rule.attribute), rule.field, rule.points))
            elif item is ALWAYS:
                self.visitor_rules.append((when, rule.points))
            else:
                self.item_rules.append((when, item, rule.points))

    def static(self, item: ContentItem) -> list[tuple[Condition, float]]:
        """The visitor conditions whose points this item earns (its item conditions hold)."""
        return [(w, p) for w, cond, p in self.item_rules if p and cond(item.attributes)]

    def scores(
        self,
        items: Sequence[ContentItem],
        statics: Mapping[str, list[tuple[Condition, float]]],
        attrs: Mapping[str, Any],
    ) -> list[float]:
        """Each item's score for a visitor with these attributes."""
        base = sum(p for when, p in self.visitor_rules if when(attrs))
        held: dict[int, bool] = {}
        values = [(get(attrs), name, p) for get, name, p in self.matches]
        out: list[float] = []
        for item in items:
            score = base
            for when, p in statics[item.id]:
                ok = held.get(id(when))
                if ok is None:
                    ok = held[id(when)] = when(attrs)
                if ok:
                    score += p
            for value, name, p in values:
                if value is None or value == "":
                    continue
                score += p * _match(value, item.attributes.get(name))
            out.append(score)
        return out


def _match(value: Any, item_value: Any) -> float:
    if item_value is None:
        return 0.0
    keys = item_value if isinstance(item_value, (list, tuple)) else (item_value,)
    if isinstance(value, Mapping):
        total = 0.0
        for k in keys:
            v = value.get(k) if isinstance(k, str) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total += v
        return total
    if isinstance(value, (list, tuple)):
        return float(sum(1 for k in keys if k in value))
    return 1.0 if value in keys else 0.0


class BanditArms:
    """Thompson sampling statistics of one placement and segment.

    The counter store hash ``key`` holds ``<item>|n`` (exposures) and ``<item>|s``
    (rewards). Every ``refresh`` seconds one caller (the others go on with the last
    snapshot, never waiting) reads the hash (the decision does the I/O: ``due``,
    ``refresh``) and draws ``samples`` values from each changed
    item's Beta posterior; a decision reads one column of those draws, so it costs a list
    index per item instead of a Beta draw.
    """

    def __init__(self, key: str, config: BanditConfig) -> None:
        self.key = key
        self.config = config
        self.samples = max(1, config.samples)
        #: held (taken without blocking) by the one caller refreshing the draws
        self.lock = threading.Lock()
        self._next = float("-inf")
        self._stats: dict[str, tuple[float, float]] = {}
        self.pools: dict[str, list[float]] = {}
        #: the candidate tuple the current draws cover, the draws by column (each a list
        #: aligned with that tuple: a decision reads one column, no per-item work) and each
        #: column's ``ranked`` order, made on first use (``()``: the column has ties); one
        #: tuple, swapped whole, so a reader never mixes two refreshes
        self._drawn: tuple[Sequence[ContentItem] | None, list[list[float]], list[_Rank]] = (
            None, [], []
        )
        self._rng = random.Random()

    def due(self, now: float, items: Sequence[ContentItem]) -> bool:
        """Whether the draws need a refresh (``refresh`` seconds passed, or the candidates
        changed: a new catalog version may hold items without draws yet). The caller that
        takes ``lock`` (without blocking) refreshes: ``refreshing``, the store's
        ``get_all(key)``, then ``refresh``."""
        return now >= self._next or items is not self._drawn[0]

    def refreshing(self, now: float) -> None:
        """The next refresh is due ``refresh`` seconds from ``now`` (even if this one fails)."""
        self._next = now + self.config.refresh

    def refresh(self, raw: Mapping[str, float], items: Sequence[ContentItem]) -> None:
        """New draws from the statistics ``raw`` (the hash ``key``), for ``items``."""
        a0, b0 = self.config.prior
        beta = self._rng.betavariate
        pools = dict(self.pools)
        stats = self._stats
        for it in items:
            n = raw.get(f"{it.id}|n", 0.0)
            s = min(raw.get(f"{it.id}|s", 0.0), n)
            if stats.get(it.id) == (n, s) and it.id in pools:
                continue
            stats[it.id] = (n, s)
            a, b = a0 + s, b0 + max(n - s, 0.0)
            pools[it.id] = [beta(a, b) for _ in range(self.samples)]
        self.pools = pools
        prior = a0 / (a0 + b0)
        columns = [
            [p[j] if (p := pools.get(it.id)) else prior for it in items]
            for j in range(self.samples)
        ]
        self._drawn = (items, columns, [None] * self.samples)

    def draws(self, items: Sequence[ContentItem]) -> list[float]:
        """One random column of the draws, aligned with ``items`` (the prior's mean for
        items not drawn yet, when another thread is refreshing)."""
        col = int(self._rng.random() * self.samples)
        drawn_for, columns, _ = self._drawn
        if items is drawn_for:
            return columns[col]
        a0, b0 = self.config.prior
        pools = self.pools
        return [p[col] if (p := pools.get(it.id)) else a0 / (a0 + b0) for it in items]

    def ranked(self, items: Sequence[ContentItem]) -> list[tuple[ContentItem, float]] | None:
        """One random column of the draws as ``(item, draw)``, best first: what ``ordered``
        makes of that column, sorted once per column and refresh (so a decision does no
        per-item work). None when the draws do not cover ``items`` or two draws of the
        column are equal: then ``ordered(items, draws(items), visitor)`` breaks the ties."""
        drawn_for, columns, ranks = self._drawn
        if items is not drawn_for:
            return None
        col = int(self._rng.random() * self.samples)
        found = ranks[col]
        if found is None:
            draws = columns[col]
            if len(set(draws)) < len(draws):
                found = ()
            else:
                order = sorted(range(len(draws)), key=draws.__getitem__, reverse=True)
                found = [(items[i], draws[i]) for i in order]
            ranks[col] = found  # a race makes the same list twice
        return found or None

    def stats(self) -> dict[str, tuple[float, float]]:
        """``{item: (exposures, rewards)}`` as last read."""
        return dict(self._stats)
