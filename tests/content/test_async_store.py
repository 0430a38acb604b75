"""``await visitor.adecide``: the counter store's asyncio side (``AsyncCounterStore``) is
awaited where the store has it; a method it lacks is called synchronously, as ``decide``
does; a decision cancelled while awaiting the store releases the bandit's refresh lock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import persona_sdk as ps
from persona_sdk.plugins import AsyncCounterStore, CounterStore

Make = Callable[..., Any]


class LoopStore:
    """A counter store whose asyncio methods hand each call to the event loop's default
    executor (the shape of a store that talks to a server), counting calls by method and by
    side. ``async_methods`` names the asyncio methods it offers."""

    def __init__(self, async_methods: tuple[str, ...] = ("incr", "get_all", "window_hit")):
        self.inner = ps.InMemoryCounterStore()
        self.calls: Counter[str] = Counter()
        self.hold: asyncio.Event | None = None
        for name in async_methods:
            setattr(self, f"a{name}", self._async(name))

    def _async(self, name: str) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[f"a{name}"] += 1
            if self.hold is not None:
                await self.hold.wait()
            method = getattr(self.inner, name)
            return await asyncio.get_running_loop().run_in_executor(
                None, lambda: method(*args, **kwargs)
            )

        return call

    def incr(self, key: str, field: str, amount: float = 1.0) -> float:
        self.calls["incr"] += 1
        return self.inner.incr(key, field, amount)

    def get_all(self, key: str) -> dict[str, float]:
        self.calls["get_all"] += 1
        return self.inner.get_all(key)

    def window_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        self.calls["window_hit"] += 1
        return self.inner.window_hit(key, now=now, window=window, limit=limit)

    def window_count(self, key: str, *, now: float, window: float) -> int:
        return self.inner.window_count(key, now=now, window=window)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


CONTAINER = {
    "content": [{"id": "h1"}, {"id": "h2"}, {"id": "base"}],
    "placements": {
        "hero": {"strategy": "bandit", "items": ["h1", "h2"], "fallback": "base",
                 "caps": [{"per": "item", "limit": 1, "window": "1d"}]},
    },
}


def _adecide(persona: ps.Persona, who: str) -> ps.Decision:
    async def run() -> ps.Decision:
        visitor = await persona.avisitor(anonymous_id=who)
        return await visitor.adecide("hero")

    return asyncio.run(run())


def test_adecide_awaits_the_async_side_and_keeps_caps_exact(make_persona: Make) -> None:
    """Every store call of ``adecide`` goes through the awaited methods (none through the
    sync ones); caps and bandit trials come out as ``decide`` makes them."""
    store = LoopStore()
    assert isinstance(store, AsyncCounterStore)
    assert isinstance(store, CounterStore)
    persona, _ = make_persona(CONTAINER, counter_store=store)
    shown = [_adecide(persona, "v-1").ids() for _ in range(3)]
    assert sorted(shown[:2]) == [["h1"], ["h2"]]  # each item once (cap 1 a day)
    assert shown[2] == ["base"]  # both capped: the fallback
    assert store.calls["get_all"] == store.calls["incr"] == store.calls["window_hit"] == 0
    assert store.calls["aget_all"] >= 1
    assert store.calls["aincr"] == 2  # the two bandit trials
    assert store.inner.get_all("bandit:hero:*") == {"h1|n": 1.0, "h2|n": 1.0}
    # two hits allowed, every other check a refusal (the second decision may try the
    # item already shown first)
    assert store.calls["awindow_hit"] - 2 == persona.stats()["content"]["capped"] >= 2


def test_a_method_without_an_async_form_is_called_synchronously(make_persona: Make) -> None:
    """A store with only ``awindow_hit`` gets its increments and reads synchronously."""
    store = LoopStore(async_methods=("window_hit",))
    assert not isinstance(store, AsyncCounterStore)
    persona, _ = make_persona(CONTAINER, counter_store=store)
    assert _adecide(persona, "v-2").ids() in (["h1"], ["h2"])
    assert store.calls["awindow_hit"] == 1
    assert store.calls["window_hit"] == 0
    assert store.calls["incr"] == 1
    assert store.calls["get_all"] >= 1


def test_a_cancelled_adecide_releases_the_bandit_refresh(make_persona: Make) -> None:
    """Cancelled while awaiting the bandit statistics, the decision lets go of the refresh
    lock: the next decision (sync here) refreshes and decides."""
    store = LoopStore()
    persona, _ = make_persona(CONTAINER, counter_store=store)

    async def run() -> None:
        store.hold = asyncio.Event()
        visitor = await persona.avisitor(anonymous_id="v-3")
        task = asyncio.create_task(visitor.adecide("hero"))
        while store.calls["aget_all"] == 0:
            await asyncio.sleep(0)
        arms = persona._runtime.content.placements["hero"].arms_for("*")  # type: ignore[union-attr]
        assert arms.lock.locked()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not arms.lock.locked()
        store.hold = None

    asyncio.run(run())
    assert persona.visitor(anonymous_id="v-4").decide("hero").ids() in (["h1"], ["h2"])
    assert store.calls["get_all"] == 1  # the sync decision refreshed
