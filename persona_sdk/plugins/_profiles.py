"""The profile source and profile store contracts, and ``FetchResult``, what a source answers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from attrs import frozen

from .._strenum import StrEnum

__all__ = [
    "EMPTY",
    "FetchErrorKind",
    "FetchResult",
    "FetchStatus",
    "ListableProfileStore",
    "ProfileSource",
    "ProfileSourceFactory",
    "ProfileStore",
    "ProfileStoreFactory",
]


#: A shared, read-only empty mapping.
EMPTY: Mapping[str, Any] = MappingProxyType({})


class FetchStatus(StrEnum):
    """The three outcomes a profile source can report."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    ERROR = "error"


class FetchErrorKind(StrEnum):
    """Why a fetch failed."""

    TIMEOUT = "timeout"  #: the deadline passed (connect, wait or a slow body)
    CONNECTION = "connection"  #: refused, reset, or the peer broke the protocol
    HTTP_STATUS = "http_status"  #: an unexpected status (5xx, 401, ...)
    RATE_LIMITED = "rate_limited"  #: 429 (``retry_after`` holds the server's Retry-After)
    BAD_JSON = "bad_json"  #: the body is not JSON
    BAD_RESPONSE = "bad_response"  #: JSON of an unexpected shape, or a body over the size cap
    INTERNAL = "internal"  #: the source raised instead of returning a result


_RETRYABLE = frozenset({FetchErrorKind.CONNECTION, FetchErrorKind.RATE_LIMITED})


@frozen(kw_only=True)
class FetchResult:
    """One normalized answer of a ``ProfileSource``.

    Build it with ``FetchResult.found(traits)``, ``FetchResult.not_found()`` or
    ``FetchResult.failed(kind, detail, http_status=..., retry_after=...)``.
    """

    status: FetchStatus
    traits: Mapping[str, Any] = EMPTY
    error: FetchErrorKind | None = None
    detail: str = ""
    http_status: int | None = None
    retry_after: float | None = None
    profile_id: str | None = None  #: the id the CDP filed the profile under, when it says

    @classmethod
    def found(cls, traits: Mapping[str, Any], *, profile_id: str | None = None) -> FetchResult:
        """The profile exists; ``traits`` are its (flat or nested) traits."""
        return cls(status=FetchStatus.FOUND, traits=traits, profile_id=profile_id)

    @classmethod
    def not_found(cls, detail: str = "") -> FetchResult:
        """The CDP does not know this id (404, an empty body, an error body...)."""
        return cls(status=FetchStatus.NOT_FOUND, detail=detail)

    @classmethod
    def failed(
        cls,
        kind: FetchErrorKind,
        detail: str = "",
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> FetchResult:
        """The lookup failed; the resolver falls back and says why."""
        return cls(
            status=FetchStatus.ERROR,
            error=kind,
            detail=detail,
            http_status=http_status,
            retry_after=retry_after,
        )

    @property
    def ok(self) -> bool:
        """Whether the source answered (found or not found)."""
        return self.status is not FetchStatus.ERROR

    @property
    def retryable(self) -> bool:
        """Whether one more attempt may succeed: connection errors, 429, 5xx and 408."""
        if self.error in _RETRYABLE:
            return True
        return self.error is FetchErrorKind.HTTP_STATUS and (
            self.http_status is not None and (self.http_status >= 500 or self.http_status == 408)
        )




@runtime_checkable
class ProfileSource(Protocol):
    """Where remote profiles come from (entry point group ``persona_sdk.profile_sources``).

    ``get`` and ``aget`` never raise for remote failures: they return a ``FetchResult``.
    ``id_type`` is ``"user_id"`` or ``"anonymous_id"``; ``timeout`` is the whole budget left,
    in seconds. Optional extras the resolver uses when present:

    - ``erase(profile_id, *, id_type, timeout) -> bool``: delete the profile upstream
      (called by ``forget``);
    - ``async aclose()``: release async clients (called on the resolver's I/O loop);
    - ``in_process = True``: ``get`` never blocks (an in-memory source), so the resolver
      calls it inline instead of on its I/O thread.
    """

    name: str

    def get(self, profile_id: str, *, id_type: str = "user_id", timeout: float) -> FetchResult:
        """Look one profile up, blocking at most about ``timeout`` seconds."""
        ...

    async def aget(
        self, profile_id: str, *, id_type: str = "user_id", timeout: float
    ) -> FetchResult:
        """The asyncio form of ``get``."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class ProfileSourceFactory(Protocol):
    """Builds a source from the container's ``profiles.source`` options (without ``type``).

    Raise ``ConfigError`` with paths relative to the options (``space_id: required field is
    missing``); the resolver prefixes them with ``profiles.source``.
    """

    def __call__(self, *, options: Mapping[str, Any]) -> ProfileSource: ...


@runtime_checkable
class ProfileStore(Protocol):
    """The shared (L2) profile cache, e.g. Redis (entry point group ``persona_sdk.stores``).

    Values are opaque bytes written by the resolver; ``ttl`` is in seconds. Errors may raise:
    the resolver treats any exception as a miss and carries on.

    Optional extras the resolver uses when present (a shared store should have them):

    - ``set_field(key, field, value, *, ttl)`` / ``aset_field``: set one field of the hash
      under ``key`` and its expiry, atomically (each process writes its computed-trait
      states into its own field, so no process overwrites another's: no read-modify-write);
    - ``get_fields(key) -> Mapping[str, bytes]`` / ``aget_fields``: every field of that hash;
    - ``get_many(keys, fields_at) -> Sequence[bytes | Mapping[str, bytes] | None]`` /
      ``aget_many``: several keys in one round trip (the key at index ``fields_at``, if any,
      is a hash answered with its fields). A lookup reads the visitor's identity link, entry
      and computed traits together this way.
    """

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None."""
        ...

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Remove these keys (missing ones are ignored)."""
        ...

    async def aget(self, key: str) -> bytes | None:
        """The asyncio form of ``get``."""
        ...

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        """The asyncio form of ``set``."""
        ...

    async def adelete(self, keys: Sequence[str]) -> None:
        """The asyncio form of ``delete``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class ListableProfileStore(ProfileStore, Protocol):
    """A ``ProfileStore`` that can also list its keys (optional: a store without
    ``scan_keys`` stays a valid ``ProfileStore``; check with ``isinstance``).

    ``scan_keys(prefix, batch=...)`` yields the live keys starting with ``prefix`` in pages of
    about ``batch`` keys (never all at once). A key written or deleted during the walk may or
    may not be listed; a key live for the whole walk is listed at least once (Redis ``SCAN``
    may repeat one). It is meant for background work (a sweep over the profiles held in the
    store), never for a request.
    """

    def scan_keys(self, prefix: str, *, batch: int = 500) -> Iterator[list[str]]:
        """The live keys starting with ``prefix``, in pages of about ``batch``."""
        ...


class ProfileStoreFactory(Protocol):
    """Builds a store from the container's ``profiles.store`` options (without ``type``)."""

    def __call__(self, *, options: Mapping[str, Any]) -> ProfileStore: ...
