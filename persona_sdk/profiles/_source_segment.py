"""``segment``: Segment's Profile API (Unify), the traits of one user profile.

``GET {base_url}/v1/spaces/{space_id}/collections/users/profiles/{id_type}:{id}/traits``
with HTTP Basic auth (the access token as the user name, no password). The answer is
``{"traits": {...}, "cursor": {"has_more": bool, "next": "..."}}``; 404 means the space has no
such profile. The API allows about 100 requests per second per space, so the resolver's caches
and single-flight matter.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from attrs import Factory, frozen

from ..plugins import ConfigError, FetchErrorKind, FetchResult, Secret
from ..plugins.kit import (
    Flow,
    HttpCall,
    HttpReply,
    OptionsHttpSource,
    check_status,
    decode_json,
    load_options,
)

__all__ = ["SegmentSource", "SegmentSourceOptions"]


@frozen(kw_only=True)
class SegmentSourceOptions:
    """Options of the ``segment`` source.

    ``id_types`` maps the resolver's id kinds (``user_id``, ``anonymous_id``) to Segment
    external id types; a kind left out is never looked up (answered *not found* without a
    request, which saves rate limit). ``include`` asks for named traits only (faster);
    ``limit`` is the page size (Segment's default is 10, its maximum 200); ``max_pages``
    follows the cursor while the deadline allows.

    Usage (TOML)::

        [profiles.source]
        type = "segment"
        space_id = "spa_9aQ1..."
        access_token = "${env:SEGMENT_PROFILES_TOKEN}"
        include = ["plan", "lifetime_value", "favorite_category"]
        # base_url = "https://profiles.euw1.segment.com"   # EU workspaces
    """

    space_id: str
    access_token: Secret
    base_url: str = "https://profiles.segment.com"
    id_types: dict[str, str] = Factory(
        lambda: {"user_id": "user_id", "anonymous_id": "anonymous_id"}
    )
    include: list[str] = Factory(list)
    limit: int = 200
    max_pages: int = 1
    max_body_bytes: int = 1_048_576
    name: str = "segment"

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if not self.space_id:
            problems.append("space_id: must not be empty")
        if not self.access_token:
            problems.append("access_token: must not be empty")
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(f"base_url: expected an http(s) URL, got {self.base_url!r}")
        if not 1 <= self.limit <= 200:
            problems.append("limit: must be between 1 and 200")
        if self.max_pages < 1:
            problems.append("max_pages: must be at least 1")
        if problems:
            raise ConfigError(problems)


class SegmentSource(OptionsHttpSource[SegmentSourceOptions]):
    """Segment Profile API source (``type = "segment"``); see ``SegmentSourceOptions``.

    Usage::

        source = SegmentSource(SegmentSourceOptions(space_id="spa_1", access_token="tok"))
        source.get("u-1", id_type="user_id", timeout=0.05)
    """

    def _configure(self, options: SegmentSourceOptions) -> None:
        token = base64.b64encode(f"{options.access_token}:".encode()).decode("ascii")
        self._headers = {"authorization": f"Basic {token}", "accept": "application/json"}
        self._base = (
            f"{options.base_url.rstrip('/')}/v1/spaces/{quote(options.space_id, safe='')}"
            "/collections/users/profiles/"
        )
        self._params: dict[str, str] = {"limit": str(options.limit)}
        if options.include:
            self._params["include"] = ",".join(options.include)

    @classmethod
    def from_options(cls, *, options: Mapping[str, Any]) -> SegmentSource:
        """The ``persona_sdk.profile_sources`` factory: build from container options."""
        return cls(load_options(SegmentSourceOptions, options))

    def url(self, profile_id: str, id_type: str) -> str | None:
        """The traits URL of a profile, or None when ``id_type`` is not looked up."""
        external = self.options.id_types.get(id_type)
        if external is None:
            return None
        return f"{self._base}{quote(f'{external}:{profile_id}', safe=':')}/traits"

    def _flow(self, profile_id: str, id_type: str) -> Flow:
        url = self.url(profile_id, id_type)
        if url is None:
            return FetchResult.not_found(f"{id_type} is not looked up")
        traits: dict[str, Any] = {}
        params = dict(self._params)
        for _page in range(self.options.max_pages):
            reply = yield HttpCall(method="GET", url=url, params=params, headers=self._headers)
            page = self.parse(reply)
            if isinstance(page, FetchResult):
                return page
            page_traits, next_cursor = page
            traits.update(page_traits)
            if not next_cursor:
                break
            params = {**self._params, "next": next_cursor}
        return FetchResult.found(traits)

    @staticmethod
    def parse(reply: HttpReply) -> tuple[dict[str, Any], str | None] | FetchResult:
        """One page: ``(traits, next cursor)``, or the final result (not found, error)."""
        early = check_status(reply)
        if early is not None:
            return early
        doc = decode_json(reply.body)
        if isinstance(doc, FetchResult):
            return doc
        if not isinstance(doc, dict) or not isinstance(doc.get("traits"), dict):
            return FetchResult.failed(FetchErrorKind.BAD_RESPONSE, "no 'traits' object")
        cursor = doc.get("cursor")
        nxt = None
        if isinstance(cursor, dict) and cursor.get("has_more") and cursor.get("next"):
            nxt = str(cursor["next"])
        return doc["traits"], nxt
