"""Configuration of the profile API (the collector's ``profile_api`` table)."""

from __future__ import annotations

from attrs import Factory, field, frozen

from .._errors import ConfigError

__all__ = ["SCOPES", "ApiToken", "ProfileApiConfig"]

#: what a token may be allowed to do
SCOPES = frozenset({"profiles:read", "segments:read", "personal:read"})


def _scopes(_inst: object, attr: object, value: list[str]) -> None:
    unknown = [s for s in value if s not in SCOPES]
    if unknown:
        raise ConfigError(
            f"scopes: unknown scope {unknown[0]!r} (expected some of {', '.join(sorted(SCOPES))})"
        )


def _secret(_inst: object, attr: object, value: str) -> None:
    if len(value) < 16:
        raise ConfigError("token: must be at least 16 characters")


@frozen(kw_only=True)
class ApiToken:
    """One bearer token: a name (for counts and logs), the secret, its scopes.

    The secret never appears in ``repr``; load it from the environment::

        [[collector.profile_api.tokens]]
        name = "crm"
        token = "${env:PERSONA_CRM_TOKEN}"
        scopes = ["profiles:read", "segments:read"]
    """

    name: str
    token: str = field(repr=False, validator=_secret)
    scopes: list[str] = field(factory=list, validator=_scopes)


@frozen(kw_only=True)
class ProfileApiConfig:
    """``GET /v1/profiles/{id}`` and ``GET /v1/segments/{name}/members`` on the collector.

    Off unless at least one token is configured. Each token is rate-limited on its own
    (``rate_limit_per_second``, bursts of ``rate_limit_burst``); member listings return at
    most ``max_members`` ids.
    """

    tokens: list[ApiToken] = Factory(list)
    rate_limit_per_second: float = 10.0
    rate_limit_burst: int = 20
    max_members: int = 1000

    def __attrs_post_init__(self) -> None:
        problems = []
        if self.rate_limit_per_second <= 0:
            problems.append("rate_limit_per_second: must be positive")
        if self.rate_limit_burst < 1:
            problems.append("rate_limit_burst: must be at least 1")
        if self.max_members < 1:
            problems.append("max_members: must be at least 1")
        names = [t.name for t in self.tokens]
        if len(set(names)) != len(names):
            problems.append("tokens: names must be unique")
        if problems:
            raise ConfigError(problems)
