"""The personalization drill of ``--simulate``: simulated visitors meet the shop's
placements in-process (a clock that runs faster than time), then the checks.

- ``home-hero`` is a bandit over four creatives whose simulated click rates differ: after
  the drill the best creative must get at least 70% of the hero's traffic over its second
  half (checked from 1,000 visitors up);
- ``recommended`` is scored by the visitor's category affinity: its first item must be in
  the visitor's favourite category;
- ``promo-banner`` is capped at 3 a day: no visitor may see it more often, however many
  pages they view;
- ``cart-abandoned`` fires when a consenting visitor adds to the cart and does not order
  within 30 minutes: the shop's webhook sink must receive exactly one signed
  ``Cart Abandoned`` per abandoned cart, and none for buyers or visitors without consent.

The bandit's share per creative over time is written to ``bandit.json`` for the dashboard's
chart.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from .app import build_persona

__all__ = ["CLICK_RATES", "drill"]

#: the simulated click rate of each hero creative (the bandit does not know them)
CLICK_RATES = {"hero-summer": 0.04, "hero-new": 0.05, "hero-rain": 0.14, "hero-gift": 0.03}
CATEGORIES = ("shoes", "jackets", "accessories", "bags")
_CAP = 3


class _Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def drill(
    *, var_dir: Path, sink: Any, sink_url: str, visitors: int, seed: int
) -> tuple[list[str], list[str]]:
    """Run the drill; ``(summary lines, failed checks)``."""
    rng = random.Random(seed)
    clock = _Clock()
    persona = build_persona(var_dir=var_dir / "drill", sink_url=sink_url, clock=clock)
    lines: list[str] = []
    failures: list[str] = []
    hero: list[str] = []
    history: list[dict[str, Any]] = []
    promo_seen: Counter[str] = Counter()
    rec_ok = rec_total = 0
    abandoned: set[str] = set()
    window = max(50, visitors // 20)
    try:
        for i in range(visitors):
            clock.now += 15.0
            vid = f"drill-{seed}-{i}"
            consent = {"analytics": True, "advertising": rng.random() < 0.8}
            favourite = rng.choice(CATEGORIES)
            affinity = {c: (1.0 if c == favourite else rng.random() * 0.5) for c in CATEGORIES}
            attrs = {"category_affinity": affinity,
                     "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)"}
            v = persona.visitor(anonymous_id=vid, attributes=attrs, consent=consent)
            d = v.decide("home-hero")
            creative = d.ids()[0]
            hero.append(creative)
            if rng.random() < CLICK_RATES[creative]:
                v.click(d)
            rec = v.decide("recommended")
            rec_total += 1
            rec_ok += rec.ids()[0] == f"rec-{_best(favourite)}"
            for _ in range(rng.randint(1, 6)):  # page views, each a new request
                page = persona.visitor(anonymous_id=vid, attributes=attrs, consent=consent)
                if page.decide("promo-banner").ids():
                    promo_seen[vid] += 1
            if rng.random() < 0.3:
                v.track("Product Added", properties={"sku": favourite})
                if rng.random() < 0.5:
                    v.track("Order Completed", properties={"revenue": 42.0})
                elif consent["advertising"]:
                    abandoned.add(vid)
            if (i + 1) % window == 0:
                recent = Counter(hero[-window:])
                history.append(
                    {"visitors": i + 1,
                     "share": {k: recent[k] / window for k in CLICK_RATES}}
                )
        clock.now += 3600.0
        persona.run_actions()
        # wait until everything is delivered (a condition, not a sleep); the bound only keeps
        # a broken sink from hanging the drill, and is generous for a loaded CI machine
        if not persona.flush(timeout=180.0):
            failures.append("every event was delivered before the drill's deadline")
        actions = persona.stats()["actions"]["actions"]["cart-abandoned"]
    finally:
        persona.close()
    (var_dir / "bandit.json").write_text(json.dumps(history))

    second_half = Counter(hero[len(hero) // 2:])
    best = max(CLICK_RATES, key=CLICK_RATES.__getitem__)
    share = second_half[best] / max(1, sum(second_half.values()))
    lines.append(f"personalization drill: {visitors} visitors (in-process, simulated clock)")
    lines.append("  home-hero traffic, second half: " + ", ".join(
        f"{k} {second_half[k]}" for k in CLICK_RATES) + f" (best {best}: {share:.0%})")
    lines.append(f"  recommended: {rec_ok}/{rec_total} led with the favourite category")
    lines.append(f"  promo-banner: at most {max(promo_seen.values(), default=0)} per visitor "
                 f"(cap {_CAP})")
    hooks = [e for e in sink.events("webhook") if e.get("event") == "Cart Abandoned"]
    # delivery is at least once: a retried webhook arrives again with the same messageId
    # (its webhook-id), which a receiver deduplicates, as this one does
    unique = {str(e.get("messageId")): str(e.get("anonymousId")) for e in hooks}
    got = Counter(unique.values())
    lines.append(f"  cart-abandoned: {len(abandoned)} abandoned carts, {len(unique)} webhooks "
                 f"({len(hooks) - len(unique)} redelivered), {actions['fired']} fired, "
                 f"{actions['cancelled']} cancelled by an order")

    def check(ok: bool, what: str) -> None:
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            failures.append(what)

    if visitors >= 1000:
        check(share >= 0.7,
              f"the best hero creative got >= 70% of the hero's traffic ({share:.0%})")
    check(rec_ok == rec_total, "recommended led with the visitor's favourite category")
    check(max(promo_seen.values(), default=0) <= _CAP, "no visitor saw the promo over its cap")
    check(set(got) == abandoned and all(n == 1 for n in got.values()),
          "every abandoned cart fired exactly one webhook, and nothing else did")
    return lines, failures


def _best(category: str) -> str:
    return {"shoes": "trail-runner", "jackets": "rain-shell", "accessories": "wool-beanie",
            "bags": "day-pack"}[category]
