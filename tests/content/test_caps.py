"""Frequency caps: N per visitor per sliding window, per item, placement or campaign, kept
in the counter store, checked inside decide, exact across threads."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from content_support import Clock

import persona_sdk as ps

Make = Callable[..., Any]
DAY = 86400.0


def _persona(make: Make, caps: list[dict[str, Any]], **kwargs: Any) -> Any:
    content = [
        {"id": "promo", "priority": 9, "campaign": "summer"},
        {"id": "promo2", "priority": 5, "campaign": "summer"},
        {"id": "plain", "priority": 1},
        {"id": "fallback"},
    ]
    persona, _ = make(
        {"content": content,
         "placements": {"banner": {"items": ["promo", "promo2", "plain"],
                                   "fallback": "fallback", "caps": caps}}},
        **kwargs,
    )
    return persona


def _shown(persona: Any, visitor: str = "v-1") -> str:
    # a new Visitor per request, as a web app makes: decisions are memoized per visitor
    return persona.visitor(anonymous_id=visitor).decide("banner").ids()[0]  # type: ignore[no-any-return]


def test_item_cap_slides(make_persona: Make, clock: Clock) -> None:
    """An item capped at 2 a day shows twice, then the next item; a day after the first
    exposure one hit has left the window."""
    persona = _persona(make_persona, [{"per": "item", "limit": 2, "window": "1d"}])
    assert [_shown(persona) for _ in range(3)] == ["promo", "promo", "promo2"]
    d = persona.visitor(anonymous_id="v-1").decide("banner")
    assert d.ids() == ["promo2"]
    assert ps.ContentReason.CAPPED in d.reasons
    assert _shown(persona, "v-2") == "promo"  # per visitor
    clock.now += DAY - 1
    assert _shown(persona) == "plain"  # both promos at their cap of 2
    clock.now += 1  # the first promo exposure is exactly a day old: out of the window
    assert _shown(persona) == "promo"


def test_campaign_cap_counts_every_item_of_the_campaign(make_persona: Make) -> None:
    """A campaign cap counts exposures of all its items together."""
    persona = _persona(make_persona, [{"per": "campaign", "limit": 3, "window": 3600}])
    assert [_shown(persona) for _ in range(5)] == ["promo"] * 3 + ["plain"] * 2


def test_placement_cap_gives_the_fallback(make_persona: Make) -> None:
    """A placement cap counts decisions; past it the visitor gets the fallback."""
    persona = _persona(make_persona, [{"per": "placement", "limit": 2, "window": "1h"}])
    assert [_shown(persona) for _ in range(3)] == ["promo", "promo", "fallback"]
    d = persona.visitor(anonymous_id="v-1").decide("banner")
    assert d.reasons == (ps.ContentReason.CAPPED, ps.ContentReason.FALLBACK)


def test_caps_are_exact_across_threads(make_persona: Make) -> None:
    """Threads deciding for one visitor at once never show an item more than its cap."""
    persona = _persona(make_persona, [{"per": "item", "limit": 5, "window": "1d"}])
    shown: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        mine = [_shown(persona) for _ in range(10)]
        with lock:
            shown.update(mine)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shown == {"promo": 5, "promo2": 5, "plain": 5, "fallback": 65}


class _BrokenStore(ps.InMemoryCounterStore):
    def window_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        raise ConnectionError("store down")


def test_a_failing_store_closes_caps_and_never_raises(make_persona: Make) -> None:
    """When the counter store fails, capped items are not shown (a cap is never exceeded),
    the decision says why, and the failure is counted."""
    persona = _persona(
        make_persona, [{"per": "item", "limit": 5, "window": "1d"}],
        counter_store=_BrokenStore(),
    )
    d = persona.visitor(anonymous_id="v").decide("banner")
    assert d.ids() == ["fallback"]
    assert ps.ContentReason.STORE_UNAVAILABLE in d.reasons
    assert persona.stats()["content"]["store_errors"] >= 1


def test_the_counter_store_is_shared_by_personas(make_persona: Make) -> None:
    """Two Personas (two processes' worth) sharing one store share the caps."""
    store = ps.InMemoryCounterStore()
    one = _persona(make_persona, [{"per": "item", "limit": 1, "window": "1d"}],
                   counter_store=store)
    two = _persona(make_persona, [{"per": "item", "limit": 1, "window": "1d"}],
                   counter_store=store)
    assert _shown(one) == "promo"
    assert _shown(two) == "promo2"
