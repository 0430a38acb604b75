"""The facade's flags API: GrowthBook payloads, the live flag feed, and change listeners."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import ConfigError
from ..config import Container, load_container
from .core import Core

__all__ = ["FlagsApi", "growthbook_container"]

class FlagsApi(Core):
    """``Persona``'s flag methods: ``from_growthbook``, ``reload_flags``, listeners, ready."""

    def _follow_growthbook(  # noqa: PLR0917 - from_growthbook's own options
        self,
        has_payload: bool,
        api_host: str | None,
        client_key: str | None,
        decryption_key: str | None,
        poll_interval: float,
        streaming: bool,
        cache_path: str | os.PathLike[str] | None,
    ) -> None:
        # from_growthbook, once built: follow GrowthBook's API on a background thread
        if api_host is None and client_key is None:
            if not has_payload:
                raise ConfigError("from_growthbook: pass a payload, or api_host and client_key")
            return
        if not api_host or not client_key:
            raise ConfigError("from_growthbook: api_host and client_key go together")
        from ..decisions import FlagFeed

        feed = FlagFeed(
            api_host=api_host,
            client_key=client_key,
            apply=lambda p: self.reload_flags(p, decryption_key=decryption_key),
            poll_interval=poll_interval,
            streaming=streaming,
            cache_path=cache_path,
        )
        if has_payload:
            feed.ready.set()
        self._feed = feed
        feed.start()

    def reload_flags(
        self, payload: Mapping[str, Any] | str | bytes, *, decryption_key: str | None = None
    ) -> None:
        """Swap in a GrowthBook SDK payload's features, experiments and saved groups,
        atomically, leaving destinations, tags and profiles as they are. On any error the
        running flags stay and ``ConfigError`` says why."""
        with self._lock:
            self._check_open()
            old = self._runtime
            self._runtime = new = self._builder.with_flags(old, payload, decryption_key)
            self._follow_runtime()
        container = new.container
        changed = _changed_keys(old.container.features, container.features)
        if changed:
            for listener in tuple(self._flag_listeners):
                try:
                    listener(changed)
                except Exception:  # a listener never breaks the feed
                    _log_listener_error()

    def on_features_change(self, listener: Callable[[frozenset[str]], Any]) -> None:
        """Call ``listener(keys)`` with the keys of the features that changed, after each
        swap of flags (``reload_flags``, or a live update from ``from_growthbook``)."""
        self._flag_listeners.append(listener)

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Whether flags are loaded, waiting up to ``timeout`` seconds for the first fetch
        (or the file cache) of a live ``from_growthbook``; True at once otherwise."""
        feed = self._feed
        return True if feed is None else feed.ready.wait(timeout)

    async def aready(self, timeout: float | None = None) -> bool:
        """The asyncio form of ``wait_until_ready`` (waits without blocking the loop)."""
        feed = self._feed
        if feed is None or feed.ready.is_set():
            return True
        import asyncio

        return await asyncio.to_thread(feed.ready.wait, timeout)


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _log_listener_error() -> None:
    import logging

    logging.getLogger("persona_sdk.flags").exception("an on_features_change listener raised")


def growthbook_container(
    payload: Mapping[str, Any] | str | bytes | None,
    decryption_key: str | None,
    base: Container | Mapping[str, Any] | None,
    env: Mapping[str, str] | None,
) -> Container:
    """``base`` (loaded) with a GrowthBook payload's flags, when one is given."""
    from ..decisions import container_from_growthbook

    container = load_container(base or Container(), env=env)
    if payload is not None:
        container = container_from_growthbook(
            payload, decryption_key=decryption_key, base=container
        )
    return container
