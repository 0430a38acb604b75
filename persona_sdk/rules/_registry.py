"""The shared operator registry (``Operator`` and ``OperatorRegistry`` are part of the plugin
contract, :mod:`persona_sdk.plugins`)."""

from __future__ import annotations

import threading

from ..plugins import BUILTIN_OPERATORS, Operator, OperatorRegistry

__all__ = ["BUILTIN_OPERATORS", "Operator", "OperatorRegistry", "default_registry"]

_default: OperatorRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> OperatorRegistry:
    """The shared registry, created on first use with the installed entry point plugins.

    If a plugin fails to load, the error is raised and the next call tries again.
    """
    global _default
    registry = _default
    if registry is not None:
        return registry
    with _default_lock:
        if _default is None:
            fresh = OperatorRegistry()
            fresh.load_entry_points()
            _default = fresh
        return _default
