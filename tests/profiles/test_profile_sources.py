"""Profile sources: each CDP's answers normalize to found / not found / error(kind).

Every source case runs through ``get`` (blocking client) and ``aget`` (asyncio), against the
fake CDP on loopback; ``httpx.MockTransport`` only covers error paths a real server cannot
produce on demand.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers.cdp import CdpServer, Fault

from persona_sdk import ConfigError
from persona_sdk.plugins.kit import parse_retry_after
from persona_sdk.profiles import (
    FetchErrorKind,
    FetchResult,
    FetchStatus,
    FileSource,
    HttpReply,
    HttpSource,
    HttpSourceOptions,
    ProfileSource,
    SegmentSource,
    SegmentSourceOptions,
    UnomiSource,
    UnomiSourceOptions,
)
from persona_sdk.profiles._registry import build_source

Get = Callable[..., FetchResult]


@pytest.fixture(params=["get", "aget"])
def fetch(request: pytest.FixtureRequest) -> Iterator[Callable[[ProfileSource], Get]]:
    """``fetch(source)(profile_id, **kw)`` through ``get`` or through ``aget`` on a loop."""
    loop = asyncio.new_event_loop() if request.param == "aget" else None
    used: list[ProfileSource] = []

    def bind(source: ProfileSource) -> Get:
        used.append(source)
        if loop is None:
            return lambda pid, **kw: source.get(pid, **{"timeout": 2.0, **kw})
        return lambda pid, **kw: loop.run_until_complete(source.aget(pid, **{"timeout": 2.0, **kw}))

    yield bind
    for s in used:
        if loop is not None and hasattr(s, "aclose"):
            loop.run_until_complete(s.aclose())
        s.close()
    if loop is not None:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


def segment(cdp: CdpServer, **kw: Any) -> SegmentSource:
    return SegmentSource(
        SegmentSourceOptions(space_id=cdp.space, access_token=cdp.token, base_url=cdp.url, **kw)
    )


def unomi(cdp: CdpServer, **kw: Any) -> UnomiSource:
    return UnomiSource(
        UnomiSourceOptions(base_url=cdp.url, username="karaf", password="karaf", **kw)
    )


# -- segment ---------------------------------------------------------------------------------


def test_segment_found_with_basic_auth_and_id_type(cdp: CdpServer, fetch: Any) -> None:
    """Segment: traits come back for ``user_id:<id>``, authenticated with the token."""
    get = fetch(segment(cdp))
    result = get("u-1", id_type="user_id")
    assert result.status is FetchStatus.FOUND
    assert result.traits == {"plan": "pro", "ltv": 120, "email": "ann@example.com"}
    assert cdp.lookups == [("user_id", "u-1")]
    assert cdp.requests[0].query["limit"] == ["200"]


def test_segment_404_is_not_found(cdp: CdpServer, fetch: Any) -> None:
    """Segment: a 404 (with Segment's error body) means not found, not an error."""
    result = fetch(segment(cdp))("nobody", id_type="anonymous_id")
    assert result.status is FetchStatus.NOT_FOUND
    assert cdp.lookups == [("anonymous_id", "nobody")]


def test_segment_pages_and_include(cdp: CdpServer, fetch: Any) -> None:
    """Segment: ``include`` asks for named traits; the cursor is followed up to max_pages."""
    get = fetch(segment(cdp, limit=1, max_pages=5, include=["plan", "ltv"]))
    result = get("u-1")
    assert result.traits == {"plan": "pro", "ltv": 120}
    assert [r.query.get("next") for r in cdp.requests] == [None, ["1"]]
    assert cdp.requests[0].query["include"] == ["plan,ltv"]


def test_segment_unmapped_id_type_sends_nothing(cdp: CdpServer, fetch: Any) -> None:
    """Segment: an id kind left out of ``id_types`` is not looked up (saves rate limit)."""
    get = fetch(segment(cdp, id_types={"user_id": "user_id"}))
    assert get("a-1", id_type="anonymous_id").status is FetchStatus.NOT_FOUND
    assert cdp.count() == 0


def test_segment_wrong_token_is_an_http_error(cdp: CdpServer, fetch: Any) -> None:
    """Segment: a rejected token is an ``http_status`` error (401), never "not found"."""
    src = SegmentSource(
        SegmentSourceOptions(space_id=cdp.space, access_token="wrong", base_url=cdp.url)
    )
    result = fetch(src)("u-1")
    assert (result.error, result.http_status) == (FetchErrorKind.HTTP_STATUS, 401)


# -- faults (the same for every HTTP source) --------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault(status=500), FetchErrorKind.HTTP_STATUS),
        (Fault(status=503), FetchErrorKind.HTTP_STATUS),
        (Fault(bad_json=True), FetchErrorKind.BAD_JSON),
        (Fault(reset=True), FetchErrorKind.CONNECTION),
        (Fault(status=200, body=b'{"cursor": {}}'), FetchErrorKind.BAD_RESPONSE),
    ],
    ids=["500", "503", "bad-json", "reset", "no-traits"],
)
def test_faults_normalize_to_error_kinds(
    cdp: CdpServer, fetch: Any, fault: Fault, kind: FetchErrorKind
) -> None:
    """A 5xx, invalid JSON, a connection reset or an odd body each give their error kind."""
    cdp.fail_next(fault)
    result = fetch(segment(cdp))("u-1")
    assert result.status is FetchStatus.ERROR
    assert result.error is kind
    assert not result.ok


def test_429_carries_retry_after(cdp: CdpServer, fetch: Any) -> None:
    """A 429 is ``rate_limited`` with the server's Retry-After in seconds."""
    cdp.fail_next(Fault(status=429, retry_after="7"))
    result = fetch(segment(cdp))("u-1")
    assert (result.error, result.retry_after, result.retryable) == (
        FetchErrorKind.RATE_LIMITED,
        7.0,
        True,
    )


def test_stalled_server_times_out_within_the_budget(cdp: CdpServer, fetch: Any) -> None:
    """A server that never answers gives a ``timeout`` error once the budget is spent."""
    cdp.stall()
    result = fetch(segment(cdp))("u-1", timeout=0.05)
    assert result.error is FetchErrorKind.TIMEOUT


def test_slow_drip_body_times_out(cdp: CdpServer, fetch: Any) -> None:
    """Headers and half a body, then silence: the deadline covers the body too."""
    cdp.fail_next(Fault(drip=True))
    result = fetch(segment(cdp))("u-1", timeout=0.1)
    assert result.error is FetchErrorKind.TIMEOUT


def test_refused_connection_is_a_connection_error(fetch: Any) -> None:
    """Nothing listening: a ``connection`` error."""
    with CdpServer() as gone:
        url = gone.url
    src = SegmentSource(SegmentSourceOptions(space_id="s", access_token="t", base_url=url))
    assert fetch(src)("u-1").error is FetchErrorKind.CONNECTION


# -- unomi ------------------------------------------------------------------------------------


def test_unomi_profile_by_id(cdp: CdpServer, fetch: Any) -> None:
    """Unomi ``GET /cxs/profiles/{id}``: properties plus segments; 204 is not found."""
    get = fetch(unomi(cdp))
    found = get("u-1")
    assert found.traits == {
        "plan": "pro",
        "ltv": 120,
        "email": "ann@example.com",
        "segments": ["vip"],
    }
    assert found.profile_id == "u-1"
    assert get("nobody").status is FetchStatus.NOT_FOUND
    assert cdp.requests[0].headers["authorization"].startswith("Basic ")


def test_unomi_context_request(cdp: CdpServer, fetch: Any) -> None:
    """Unomi ``POST /cxs/context.json``: the profile's properties and segments; an answer
    for a newly minted profile id means Unomi did not know the visitor."""
    get = fetch(unomi(cdp, mode="context", properties=["plan"]))
    found = get("u-1")
    assert found.traits == {"plan": "pro", "segments": ["vip"]}
    body = cdp.requests[0].json
    assert body["profileId"] == "u-1"
    assert body["requiredProfileProperties"] == ["plan"]
    assert body["requireSegments"] is True
    assert get("stranger").status is FetchStatus.NOT_FOUND


def test_unomi_erase_deletes_upstream(cdp: CdpServer) -> None:
    """Unomi's erase hook sends ``DELETE /cxs/profiles/{id}``."""
    src = unomi(cdp)
    try:
        assert src.erase("u-1", timeout=2.0) is True
    finally:
        src.close()
    assert cdp.deleted == ["u-1"]


# -- http -------------------------------------------------------------------------------------


def test_http_json_pointer_mapping(cdp: CdpServer, fetch: Any) -> None:
    """Generic HTTP: a URL template and JSON pointers pick the traits."""
    src = HttpSource(
        HttpSourceOptions(
            url=cdp.url + "/profiles/{id}",
            headers={"Authorization": "Bearer x"},
            traits={"tier": "/data/plan", "value": "/data/ltv", "missing": "/data/nope"},
        )
    )
    get = fetch(src)
    assert get("u-1").traits == {"tier": "pro", "value": 120}
    assert get("nobody").status is FetchStatus.NOT_FOUND
    assert cdp.requests[0].headers["authorization"] == "Bearer x"


def test_http_root_and_post_body(cdp: CdpServer, fetch: Any) -> None:
    """Generic HTTP: ``root`` selects the traits object; POST sends a templated JSON body."""
    src = HttpSource(
        HttpSourceOptions(url=cdp.url + "/profiles/{id}", root="/data", params={"who": "{id}"})
    )
    assert fetch(src)("u-1").traits["plan"] == "pro"
    assert cdp.requests[0].query == {"who": ["u-1"]}
    opts = HttpSourceOptions(url="http://x/q", method="POST", body={"query": {"id": "{id}"}})
    call = next(HttpSource(opts)._flow("a b", "user_id"))
    assert call.json == {"query": {"id": "a b"}}


def test_http_params_carry_the_id_encoded_once(cdp: CdpServer, fetch: Any) -> None:
    """An id with reserved characters in a ``params`` value reaches the server as it is
    (percent-encoded once by the HTTP client, not twice), while the path keeps it quoted."""
    cdp.add("a b/c&d=é%", {"plan": "pro"})
    src = HttpSource(
        HttpSourceOptions(url=cdp.url + "/profiles/{id}", root="/data", params={"who": "{id}"})
    )
    assert fetch(src)("a b/c&d=é%").traits["plan"] == "pro"
    assert cdp.requests[0].query == {"who": ["a b/c&d=é%"]}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"", FetchStatus.NOT_FOUND),
        (200, b"null", FetchStatus.NOT_FOUND),
        (200, b'{"data": {}}', FetchStatus.NOT_FOUND),
        (200, b'{"error": {"code": "NOPE"}}', FetchStatus.NOT_FOUND),
        (410, b"", FetchStatus.NOT_FOUND),
        (200, b'{"data": [1]}', FetchStatus.ERROR),
        (200, b'{"data": {"plan": "pro"}}', FetchStatus.FOUND),
    ],
    ids=["empty", "null", "empty-root", "error-body", "410", "root-not-object", "found"],
)
def test_http_not_found_shapes(status: int, body: bytes, expected: FetchStatus) -> None:
    """Generic HTTP: CDPs say "not found" in many ways; each adapter option maps one."""
    src = HttpSource(
        HttpSourceOptions(
            url="http://cdp/{id}",
            root="/data",
            not_found_status=[404, 410],
            not_found_when={"/error/code": "NOPE"},
        )
    )
    assert src.parse(HttpReply(status=status, headers={}, body=body)).status is expected


def test_body_over_the_cap_is_a_bad_response() -> None:
    """A body over ``max_body_bytes`` is refused (``bad_response``) instead of buffered."""
    big = json.dumps({"data": {"x": "y" * 5000}}).encode()
    transport = httpx.MockTransport(lambda req: httpx.Response(200, content=big))
    src = HttpSource(
        HttpSourceOptions(url="http://cdp/{id}", root="/data", max_body_bytes=1000),
        transport=transport,
    )
    try:
        assert src.get("u", timeout=1.0).error is FetchErrorKind.BAD_RESPONSE
    finally:
        src.close()


def test_retry_after_http_date() -> None:
    """Retry-After may be an HTTP date; it becomes seconds from now."""
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("3") == 3.0


# -- file -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("p.json", '{"u-1": {"plan": "pro", "ltv": 120}}'),
        ("rows.json", '[{"id": "u-1", "plan": "pro", "ltv": 120}]'),
        ("p.jsonl", '{"id": "u-1", "plan": "pro", "ltv": 120}\n\n{"id": "u-2", "plan": "free"}\n'),
        ("p.csv", "id,plan,ltv,vip\nu-1,pro,120,\nu-2,free,0,true\n"),
    ],
)
def test_file_formats(tmp_path: Path, fetch: Any, name: str, content: str) -> None:
    """File: JSON (object or rows), JSONL and CSV (numbers and booleans coerced) load."""
    path = tmp_path / name
    path.write_text(content)
    src = build_source({"type": "file", "path": str(path)})
    assert src is not None
    get = fetch(src)
    assert get("u-1").traits == {"plan": "pro", "ltv": 120}
    assert get("u-9").status is FetchStatus.NOT_FOUND
    if name == "p.csv":
        assert get("u-2").traits == {"plan": "free", "ltv": 0, "vip": True}


def test_file_from_records_and_erase() -> None:
    """File: records given in code; ``erase`` drops one from memory."""
    src = FileSource.from_records({"u-1": {"plan": "pro"}})
    assert src.get("u-1").traits == {"plan": "pro"}
    assert src.erase("u-1") is True
    assert src.get("u-1").status is FetchStatus.NOT_FOUND


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "segment", "access_token": "t"}, "profiles.source.space_id: required field"),
        (
            {"type": "segment", "space_id": "s", "access_token": "t", "limit": 500},
            "profiles.source.limit: must be between 1 and 200",
        ),
        ({"type": "http", "url": "ftp://x"}, "profiles.source.url: expected an http(s) URL"),
        (
            {"type": "http", "url": "http://x/{id}", "root": "data"},
            "profiles.source.root: a JSON pointer starts with '/'",
        ),
        ({"type": "unomi", "base_url": "http://u", "mode": "magic"}, "profiles.source.mode"),
        ({"type": "file", "path": "/nonexistent/p.json"}, "profiles.source.path: cannot read"),
        ({"type": "nope"}, "profiles.source.type: no plugin 'nope'"),
        ({}, "profiles.source.type: required field is missing"),
    ],
)
def test_bad_source_options_name_their_path(spec: dict[str, Any], message: str) -> None:
    """Bad source options raise ConfigError naming ``profiles.source.<field>``."""
    with pytest.raises(ConfigError) as err:
        build_source(spec)
    assert any(line.startswith(message) for line in err.value.errors), err.value.errors


def test_builtin_sources_satisfy_the_protocol(cdp: CdpServer) -> None:
    """Every built-in source is a ``ProfileSource``."""
    sources = [segment(cdp), unomi(cdp), FileSource.from_records({})]
    sources.append(HttpSource(HttpSourceOptions(url=cdp.url + "/profiles/{id}")))
    for s in sources:
        assert isinstance(s, ProfileSource)
        s.close()
