"""``http``: a generic CDP over HTTP, described by a URL template and JSON pointers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from attrs import Factory, frozen

from ..plugins import ConfigError, FetchErrorKind, FetchResult, Secret
from ..plugins.kit import (
    MISSING,
    Flow,
    HttpCall,
    HttpReply,
    OptionsHttpSource,
    compile_pointer,
    load_options,
    reply_document,
    resolve_pointer,
)

__all__ = ["HttpSource", "HttpSourceOptions"]


@frozen(kw_only=True)
class HttpSourceOptions:
    """Options of the ``http`` source.

    ``{id}`` and ``{id_type}`` are substituted in ``url`` (the id URL-quoted), ``params`` values
    (encoded once, as query values) and string values of ``body``. ``traits`` maps a trait
    name to a JSON pointer into the response; without it, the object at ``root`` is the
    traits. The profile is *not found* on a ``not_found_status``, an empty body, a JSON
    ``null``, a missing or empty ``root``, or when every pointer of ``not_found_when`` holds
    its value (an error body).

    Usage (TOML)::

        [profiles.source]
        type = "http"
        url = "https://cdp.example.com/v2/profiles/{id}"
        headers = { Authorization = "Bearer ${env:CDP_TOKEN}" }
        root = "/data"
        traits = { plan = "/data/subscription/plan", ltv = "/data/stats/ltv" }
        not_found_when = { "/error/code" = "PROFILE_NOT_FOUND" }
    """

    url: str
    method: str = "GET"
    headers: dict[str, Secret] = Factory(dict)
    params: dict[str, str] = Factory(dict)
    body: dict[str, Any] | None = None
    root: str = ""
    traits: dict[str, str] = Factory(dict)
    not_found_status: list[int] = Factory(lambda: [404])
    not_found_when: dict[str, Any] = Factory(dict)
    erase_url: str | None = None
    erase_method: str = "DELETE"
    max_body_bytes: int = 1_048_576
    name: str = "http"

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if self.method.upper() not in ("GET", "POST"):
            problems.append(f"method: expected GET or POST, got {self.method!r}")
        if not self.url.startswith(("http://", "https://")):
            problems.append(f"url: expected an http(s) URL, got {self.url!r}")
        if self.erase_url is not None and not self.erase_url.startswith(("http://", "https://")):
            problems.append(f"erase_url: expected an http(s) URL, got {self.erase_url!r}")
        if self.max_body_bytes < 1:
            problems.append("max_body_bytes: must be positive")
        if problems:
            raise ConfigError(problems)


def _fill(template: str, profile_id: str, id_type: str) -> str:
    return template.replace("{id}", quote(profile_id, safe="")).replace("{id_type}", id_type)


def _fill_raw(value: Any, profile_id: str, id_type: str) -> Any:
    # JSON bodies carry the id verbatim (no URL quoting).
    if isinstance(value, str):
        return value.replace("{id}", profile_id).replace("{id_type}", id_type)
    if isinstance(value, dict):
        return {k: _fill_raw(v, profile_id, id_type) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_raw(v, profile_id, id_type) for v in value]
    return value


class HttpSource(OptionsHttpSource[HttpSourceOptions]):
    """A generic HTTP profile source (``type = "http"``); see ``HttpSourceOptions``.

    Usage::

        source = HttpSource(HttpSourceOptions(url="https://cdp.example.com/p/{id}", root="/data"))
        result = source.get("u-1", timeout=0.05)   # FetchResult
    """

    def _configure(self, options: HttpSourceOptions) -> None:
        problems: list[str] = []
        self._root = self._pointer(options.root, "root", problems)
        self._traits = {
            name: self._pointer(p, f"traits.{name}", problems) for name, p in options.traits.items()
        }
        self._not_found_when = [
            (self._pointer(p, f"not_found_when.{p}", problems), v)
            for p, v in options.not_found_when.items()
        ]
        if problems:
            raise ConfigError(problems)
        self._not_found_status = frozenset(options.not_found_status)
        self._method = options.method.upper()

    @staticmethod
    def _pointer(pointer: str, path: str, problems: list[str]) -> tuple[str, ...]:
        try:
            return compile_pointer(pointer, path)
        except ConfigError as exc:
            problems.extend(exc.errors)
            return ()

    @classmethod
    def from_options(cls, *, options: Mapping[str, Any]) -> HttpSource:
        """The ``persona_sdk.profile_sources`` factory: build from container options."""
        return cls(load_options(HttpSourceOptions, options))

    def _flow(self, profile_id: str, id_type: str) -> Flow:
        o = self.options
        reply = yield HttpCall(
            method=self._method,
            url=_fill(o.url, profile_id, id_type),
            # httpx encodes query values itself: the id goes in raw, or it is encoded twice
            params={k: _fill_raw(v, profile_id, id_type) for k, v in o.params.items()},
            headers={"accept": "application/json", **o.headers},
            json=_fill_raw(o.body, profile_id, id_type) if o.body is not None else None,
        )
        return self.parse(reply)

    def parse(self, reply: HttpReply) -> FetchResult:
        """Normalize one response (the sans-I/O half; tests call it directly)."""
        doc = reply_document(reply, self._not_found_status)
        if isinstance(doc, FetchResult):
            return doc
        if self._not_found_when and all(
            resolve_pointer(doc, tokens) == value for tokens, value in self._not_found_when
        ):
            return FetchResult.not_found("error body")
        root = resolve_pointer(doc, self._root)
        if root is MISSING or root is None or root == {}:
            return FetchResult.not_found("no profile at root")
        if self._traits:
            traits = {}
            for name, tokens in self._traits.items():
                value = resolve_pointer(doc, tokens)
                if value is not MISSING:
                    traits[name] = value
            return FetchResult.found(traits)
        if not isinstance(root, dict):
            return FetchResult.failed(
                FetchErrorKind.BAD_RESPONSE, f"root is a {type(root).__name__}, not an object"
            )
        return FetchResult.found(root)

    def _erase_flow(self, profile_id: str, id_type: str) -> Flow | None:
        o = self.options
        if o.erase_url is None:
            return None
        return self._erase(
            HttpCall(
                method=o.erase_method.upper(),
                url=_fill(o.erase_url, profile_id, id_type),
                headers=dict(o.headers),
            )
        )

    @staticmethod
    def _erase(call: HttpCall) -> Flow:
        reply = yield call
        if 200 <= reply.status < 300 or reply.status == 404:
            return FetchResult.not_found("erased")
        return FetchResult.failed(
            FetchErrorKind.HTTP_STATUS, f"HTTP {reply.status}", http_status=reply.status
        )
