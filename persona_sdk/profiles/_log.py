"""The profile tier's error log: counted errors logged once per kind, then a periodic count."""

from __future__ import annotations

import logging

from .._logonce import LogOnce

__all__ = ["errors", "log"]

log = logging.getLogger("persona_sdk.profiles")
#: Resolver internal errors (a source that raised), segment conditions that raised, the
#: source's circuit breaker opening.
errors = LogOnce(log)
