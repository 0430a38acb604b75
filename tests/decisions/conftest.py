"""Fixtures for decision tests (helpers live in ``decisions_support``)."""

from __future__ import annotations

from decisions_support import make_engine

__all__ = ["make_engine"]
