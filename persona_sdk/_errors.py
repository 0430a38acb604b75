"""Exceptions raised by persona-sdk.

The tree::

    PersonaError
    ├── ConfigError (also ValueError)        a container or option is invalid; names every path
    ├── EventValidationError (also ValueError) an event is malformed; names the field
    │   └── PayloadTooLarge                   an event or body is over its byte cap
    ├── PluginError                           a plugin could not be found, loaded or verified
    ├── SpoolError (also OSError)             ``sync`` spool mode: an event could not be put on disk
    │   └── SpoolFullError                    the spool is at its byte cap (``spool_max_bytes``)
    └── ClosedError (also RuntimeError)       the client was used after ``close()``

The read path (``visitor``, ``feature``, ``decide``) never raises because something remote
failed: it returns data that carries the reason instead.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ClosedError",
    "ConfigError",
    "EventValidationError",
    "PayloadTooLarge",
    "PersonaError",
    "PluginError",
    "SpoolError",
    "SpoolFullError",
]


class PersonaError(Exception):
    """Root of every exception persona-sdk raises on purpose."""


class ConfigError(PersonaError, ValueError):
    """A container or option is invalid.

    ``errors`` holds one line per problem, each starting with the path of the bad field,
    for example ``tags[2].trigger: unknown operator "$foo"``.
    """

    def __init__(self, errors: Sequence[str] | str, *, source: str | None = None) -> None:
        self.errors: tuple[str, ...] = (errors,) if isinstance(errors, str) else tuple(errors)
        self.source = source
        head = f"invalid configuration in {source}" if source else "invalid configuration"
        if len(self.errors) == 1:
            message = f"{head}: {self.errors[0]}"
        else:
            message = head + ":\n" + "\n".join(f"  {line}" for line in self.errors)
        super().__init__(message)


class EventValidationError(PersonaError, ValueError):
    """An event is malformed. ``field`` is the dotted path of the bad field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class PayloadTooLarge(EventValidationError):
    """An event or request body is over its byte cap."""

    def __init__(self, field: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(field, f"{size} bytes is over the {limit}-byte limit")


class PluginError(PersonaError):
    """A plugin could not be found, loaded or verified; the message names plugin and group."""


class SpoolError(PersonaError, OSError):
    """``sync`` spool mode: an event could not be written to the spool, so no id is returned.

    Destinations already written keep their row (delivered at least once); retrying the call
    with the same ``message_id`` is safe, since receivers deduplicate by ``messageId``.
    """


class SpoolFullError(SpoolError):
    """``sync`` spool mode: the spool holds ``delivery.spool_max_bytes`` already (a long
    outage); the event was not accepted. Nothing was written for it."""


class ClosedError(PersonaError, RuntimeError):
    """The client was used after ``close()``."""
