"""``unomi``: Apache Unomi, by profile id or through the context request.

- ``mode = "profile"``: ``GET {base_url}/cxs/profiles/{id}`` (an authenticated, private
  endpoint; Unomi's default credentials are karaf/karaf). The profile's ``properties`` become
  traits; its ``segments`` go under ``segments_trait``. 204, 404 or an empty body: not found.
  ``erase`` sends ``DELETE /cxs/profiles/{id}``.
- ``mode = "context"``: ``POST {base_url}/cxs/context.json`` with ``profileId``,
  ``requiredProfileProperties`` and ``requireSegments``; the answer's ``profileProperties``
  and ``profileSegments`` become traits. Unomi mints a new profile for an id it does not know,
  so an answer for another ``profileId`` means *not found*.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from attrs import Factory, field, frozen

from ..plugins import ConfigError, FetchErrorKind, FetchResult, Secret
from ..plugins.kit import (
    Flow,
    HttpCall,
    HttpReply,
    OptionsHttpSource,
    StrEnum,
    check_status,
    decode_json,
    load_options,
    reply_document,
)

__all__ = ["UnomiMode", "UnomiSource", "UnomiSourceOptions"]


class UnomiMode(StrEnum):
    """Which Unomi endpoint answers."""

    PROFILE = "profile"
    CONTEXT = "context"


@frozen(kw_only=True)
class UnomiSourceOptions:
    """Options of the ``unomi`` source.

    Usage (TOML)::

        [profiles.source]
        type = "unomi"
        base_url = "https://unomi.internal:9443"
        mode = "profile"
        username = "karaf"
        password = "${env:UNOMI_PASSWORD}"
    """

    base_url: str
    mode: UnomiMode = field(default=UnomiMode.PROFILE, converter=UnomiMode)
    username: str | None = None
    password: Secret | None = None
    headers: dict[str, Secret] = Factory(dict)
    scope: str = "persona-sdk"
    properties: list[str] = Factory(lambda: ["*"])
    segments_trait: str | None = "segments"
    scores_trait: str | None = None
    max_body_bytes: int = 1_048_576
    name: str = "unomi"

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(f"base_url: expected an http(s) URL, got {self.base_url!r}")
        if (self.username is None) != (self.password is None):
            problems.append("password: username and password go together")
        if problems:
            raise ConfigError(problems)


class UnomiSource(OptionsHttpSource[UnomiSourceOptions]):
    """Apache Unomi source (``type = "unomi"``); see ``UnomiSourceOptions``.

    Usage::

        source = UnomiSource(UnomiSourceOptions(base_url="http://localhost:8181",
                                                username="karaf", password="karaf"))
    """

    def _configure(self, options: UnomiSourceOptions) -> None:
        self._base = options.base_url.rstrip("/")
        headers = {"accept": "application/json", **options.headers}
        if options.username is not None:
            pair = f"{options.username}:{options.password}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        self._headers = headers

    @classmethod
    def from_options(cls, *, options: Mapping[str, Any]) -> UnomiSource:
        """The ``persona_sdk.profile_sources`` factory: build from container options."""
        return cls(load_options(UnomiSourceOptions, options))

    def _flow(self, profile_id: str, id_type: str) -> Flow:
        if self.options.mode is UnomiMode.CONTEXT:
            reply = yield self.context_call(profile_id)
            return self.parse_context(reply, profile_id)
        reply = yield HttpCall(
            method="GET",
            url=f"{self._base}/cxs/profiles/{quote(profile_id, safe='')}",
            headers=self._headers,
        )
        return self.parse_profile(reply)

    def context_call(self, profile_id: str) -> HttpCall:
        """The context request for one profile."""
        o = self.options
        body: dict[str, Any] = {
            "source": {"itemId": "persona-sdk", "itemType": "page", "scope": o.scope},
            "profileId": profile_id,
            "requiredProfileProperties": list(o.properties),
            "requireSegments": o.segments_trait is not None,
            "requireScores": o.scores_trait is not None,
        }
        return HttpCall(
            method="POST",
            url=f"{self._base}/cxs/context.json",
            # older Unomi versions read the profile id from this cookie only
            headers={**self._headers, "cookie": f"context-profile-id={quote(profile_id)}"},
            json=body,
        )

    def _traits(self, properties: Any, segments: Any, scores: Any) -> dict[str, Any] | FetchResult:
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            return FetchResult.failed(FetchErrorKind.BAD_RESPONSE, "properties is not an object")
        traits = dict(properties)
        o = self.options
        if o.segments_trait is not None and isinstance(segments, list):
            traits[o.segments_trait] = segments
        if o.scores_trait is not None and isinstance(scores, dict):
            traits[o.scores_trait] = scores
        return traits

    def parse_profile(self, reply: HttpReply) -> FetchResult:
        """Normalize a ``GET /cxs/profiles/{id}`` answer."""
        doc = reply_document(reply, frozenset({204, 404}))
        if isinstance(doc, FetchResult):
            return doc
        if not isinstance(doc, dict):
            return FetchResult.failed(FetchErrorKind.BAD_RESPONSE, "profile is not an object")
        traits = self._traits(doc.get("properties"), doc.get("segments"), doc.get("scores"))
        if isinstance(traits, FetchResult):
            return traits
        item_id = doc.get("itemId")
        return FetchResult.found(traits, profile_id=item_id if isinstance(item_id, str) else None)

    def parse_context(self, reply: HttpReply, profile_id: str) -> FetchResult:
        """Normalize a ``POST /cxs/context.json`` answer for ``profile_id``."""
        early = check_status(reply)
        if early is not None:
            return early
        doc = decode_json(reply.body)
        if isinstance(doc, FetchResult):
            return doc
        if not isinstance(doc, dict):
            return FetchResult.failed(FetchErrorKind.BAD_RESPONSE, "context is not an object")
        answered = doc.get("profileId")
        if answered != profile_id:
            return FetchResult.not_found(f"Unomi answered for profile {answered!r}")
        traits = self._traits(
            doc.get("profileProperties"), doc.get("profileSegments"), doc.get("profileScores")
        )
        if isinstance(traits, FetchResult):
            return traits
        return FetchResult.found(traits, profile_id=profile_id)

    def _erase_flow(self, profile_id: str, id_type: str) -> Flow | None:
        return self._erase(profile_id)

    def _erase(self, profile_id: str) -> Flow:
        reply = yield HttpCall(
            method="DELETE",
            url=f"{self._base}/cxs/profiles/{quote(profile_id, safe='')}",
            headers=self._headers,
        )
        if 200 <= reply.status < 300 or reply.status == 404:
            return FetchResult.not_found("erased")
        return FetchResult.failed(
            FetchErrorKind.HTTP_STATUS, f"HTTP {reply.status}", http_status=reply.status
        )
