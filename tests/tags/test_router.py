"""The tag router: triggers and consent evaluated once per tag; consent gating; counters."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tag_helpers import message  # type: ignore[import-not-found]

from persona_sdk import ConfigError, Container
from persona_sdk.events import Message, to_segment
from persona_sdk.privacy import sha256_hex
from persona_sdk.rules import OperatorRegistry
from persona_sdk.tags import Router, _router
from persona_sdk.testing import CaptureDestination

PURPOSES = {"analytics": {}, "ads": {"sale_sharing": True}, "personalization": {}}


def build(
    tags: list[dict[str, Any]],
    destinations: dict[str, dict[str, Any]] | None = None,
    *,
    purposes: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    **rest: Any,
) -> tuple[Router, dict[str, CaptureDestination]]:
    destinations = destinations if destinations is not None else {"d": {"type": "capture"}}
    container = Container.from_dict(
        {
            "consent": {"purposes": PURPOSES if purposes is None else purposes},
            "destinations": destinations,
            "tags": tags,
            **rest,
        }
    )
    built: dict[str, Any] = {n: CaptureDestination(n) for n in destinations}
    built.update(extra or {})
    return Router.build(container, built), built


def routed(router: Router, msg: Message) -> list[str]:
    return [d for d, _ in router.route(msg)]


@pytest.mark.parametrize(
    ("consent", "gpc", "expected"),
    [
        ({"analytics": True, "ads": True}, None, ["plain", "stats", "ads"]),
        ({"analytics": True, "ads": True}, True, ["plain", "stats"]),  # GPC revokes ads
        ({"analytics": True}, None, ["plain", "stats"]),  # ads unknown: not granted
        ({"analytics": False, "ads": True}, None, ["plain", "ads"]),  # denied
        ({}, None, ["plain"]),
        (None, None, ["plain"]),  # no consent info at all
        ({"analytics": "true", "ads": 1}, None, ["plain"]),  # only JSON true grants
        ({"analytics": True, "ads": True}, "1", ["plain", "stats"]),  # header-style GPC
        ({"analytics": True, "ads": True}, False, ["plain", "stats", "ads"]),
    ],
)
def test_consent_matrix(consent: dict[str, Any] | None, gpc: Any,
                        expected: list[str]) -> None:  # fmt: skip
    """A destination gets the event only when every purpose it (and its tag) needs is
    granted; unknown is not granted; GPC revokes the sale/sharing purposes."""
    router, _ = build(
        [
            {"name": "plain", "destination": "plain"},
            {"name": "stats", "destination": "stats"},
            {"name": "ads", "destination": "ads", "consent": ["ads"]},
        ],
        {
            "plain": {"type": "capture"},
            "stats": {"type": "capture", "consent": ["analytics"]},
            "ads": {"type": "capture"},
        },
    )
    assert routed(router, message(consent=consent, gpc=gpc)) == expected


def test_tag_and_destination_purposes_combine() -> None:
    """A tag needing ``ads`` on a destination needing ``analytics`` needs both."""
    router, _ = build(
        [{"name": "t", "destination": "d", "consent": ["ads"]}],
        {"d": {"type": "capture", "consent": ["analytics"]}},
    )
    assert routed(router, message(consent={"ads": True})) == []
    assert routed(router, message(consent={"analytics": True})) == []
    assert routed(router, message(consent={"ads": True, "analytics": True})) == ["d"]


_purpose_names = st.sampled_from(["p1", "p2", "p3", "p4"])


@settings(max_examples=200, deadline=None)
@given(
    sale=st.sets(_purpose_names),
    dest_purposes=st.lists(st.lists(_purpose_names, max_size=3), min_size=1, max_size=4),
    tag_purposes=st.lists(st.lists(_purpose_names, max_size=2), min_size=1, max_size=6),
    prefs=st.one_of(
        st.none(),
        st.dictionaries(_purpose_names, st.one_of(st.booleans(), st.just("yes"), st.none())),
    ),
    gpc=st.one_of(st.none(), st.booleans()),
)
def test_no_event_reaches_a_destination_without_all_its_purposes(
    sale: set[str],
    dest_purposes: list[list[str]],
    tag_purposes: list[list[str]],
    prefs: dict[str, Any] | None,
    gpc: bool | None,
) -> None:
    """Property: whatever the container and the visitor's choices, every routed destination
    has all its purposes (and its tag's) granted as ``true``, and none is sale/sharing when
    GPC is on; conversely every tag whose purposes are all granted fires."""
    purposes = {p: {"sale_sharing": p in sale} for p in ("p1", "p2", "p3", "p4")}
    destinations = {f"d{i}": {"type": "capture", "consent": c} for i, c in enumerate(dest_purposes)}
    tags = [
        {"name": f"t{i}", "destination": f"d{i % len(dest_purposes)}", "consent": c}
        for i, c in enumerate(tag_purposes)
    ]
    router, _ = build(tags, destinations, purposes=purposes)
    routes = router.route(message(consent=prefs, gpc=gpc))
    granted = {p for p, v in (prefs or {}).items() if v is True and prefs is not None}
    if gpc:
        granted -= sale
    expected = [
        t["destination"]
        for t in tags
        if set(t["consent"]) | set(destinations[t["destination"]]["consent"]) <= granted
    ]
    assert [d for d, _ in routes] == expected


class _Counting:
    """An operator that counts how often its predicate runs."""

    name = "$counted"

    def __init__(self) -> None:
        self.calls = 0

    def compile(self, operand: Any, path: str) -> Any:
        def predicate(value: Any) -> bool:
            self.calls += 1
            return bool(value == operand)

        return predicate


def test_each_trigger_runs_once_per_message_and_sees_the_segment_shape() -> None:
    """Each tag's compiled trigger runs exactly once per message, over the Segment-shaped
    view (``event``, ``properties``, ``context``, ``userId``...)."""
    op = _Counting()
    registry = OperatorRegistry()
    registry.register(op)
    container = Container.from_dict(
        {
            "destinations": {"d": {"type": "capture"}},
            "tags": [
                {"name": f"t{i}", "destination": "d",
                 "trigger": {"event": {"$counted": "Order Completed"},
                             "properties.revenue": {"$gte": 10}, "userId": "u-1"}}
                for i in range(3)
            ],
        }
    )  # fmt: skip
    router = Router.build(container, {"d": CaptureDestination("d")}, operators=registry)
    assert len(router.route(message(user_id="u-1"))) == 3
    assert op.calls == 3
    assert router.route(message(user_id="u-2")) == ()
    assert op.calls == 6


def test_routes_remembered_per_type_and_event_still_count_and_skip_plugins() -> None:
    """A router whose triggers read only ``type`` and ``event`` with built-in operators
    remembers each pair's routes: the answers and the miss counts are those of the full
    path, the ``integrations`` object is still honoured, and a trigger using a plugin
    operator (which may depend on more than its operand) runs for every message."""
    tags = [
        {"name": "orders", "destination": "a", "trigger": {"event": "Order Completed"}},
        {"name": "tracks", "destination": "b", "trigger": {"type": {"$in": ["track"]}}},
    ]
    router, _ = build(tags, {"a": {"type": "capture"}, "b": {"type": "capture"}})
    for _ in range(3):
        assert routed(router, message("Order Completed")) == ["a", "b"]
        assert routed(router, message("Product Viewed")) == ["b"]
    assert routed(router, message("Order Completed", integrations={"a": False})) == ["b"]
    assert routed(router, message(type_="identify")) == []
    assert router.filtered_by_tag() == {
        "orders": {"trigger": 4, "consent": 0, "integrations": 1},
        "tracks": {"trigger": 1, "consent": 0, "integrations": 0},
    }  # the identify: a miss for both
    assert router._memo  # the answers came from the memo
    op = _Counting()
    registry = OperatorRegistry()
    registry.register(op)
    container = Container.from_dict({
        "destinations": {"d": {"type": "capture"}},
        "tags": [{"name": "t", "destination": "d",
                  "trigger": {"event": {"$counted": "Order Completed"}}}],
    })  # fmt: skip
    router = Router.build(container, {"d": CaptureDestination("d")}, operators=registry)
    for _ in range(3):
        assert routed(router, message("Order Completed")) == ["d"]
    assert op.calls == 3
    assert router._memo is None


def test_timestamp_triggers_see_iso_timestamps() -> None:
    """A trigger reading ``timestamp`` gets the ISO-8601 string of the Segment wire shape."""
    router, _ = build(
        [{"name": "t", "destination": "d", "trigger": {"timestamp": {"$gte": "2023-11"}}}]
    )
    assert routed(router, message(timestamp=1_700_000_000.0)) == ["d"]  # 2023-11-14
    assert routed(router, message(timestamp=1_600_000_000.0)) == []


def test_filtered_counts_by_reason() -> None:
    """Tag evaluations that do not route are counted per destination and per tag."""
    router, _ = build(
        [
            {"name": "orders", "destination": "d", "trigger": {"event": "Order Completed"},
             "consent": ["analytics"]},
            {"name": "views", "destination": "d", "trigger": {"event": "Product Viewed"}},
        ]
    )  # fmt: skip
    router.route(message("Order Completed", consent={"analytics": True}))
    router.route(message("Order Completed"))
    router.route(message("Product Viewed"))
    assert router.filtered() == {"d": {"trigger": 3, "consent": 1, "integrations": 0}}
    assert router.filtered_by_tag() == {
        "orders": {"trigger": 1, "consent": 1, "integrations": 0},
        "views": {"trigger": 2, "consent": 0, "integrations": 0},
    }


def test_render_builds_the_segment_dict_once_per_message(monkeypatch: Any) -> None:
    """Several tags rendering one message share one ``to_segment`` call, and each tag's
    mapping leaves the others' output untouched."""
    calls: list[str] = []
    real = _router.to_segment

    def counting(msg: Message, **kw: Any) -> dict[str, Any]:
        calls.append(msg.message_id)
        return real(msg, **kw)

    monkeypatch.setattr(_router, "to_segment", counting)
    router, _ = build(
        [
            {"name": "a", "destination": "d", "mapping": {"events": {"Order Completed": "x"}}},
            {"name": "b", "destination": "d", "mapping": {"drop": ["properties.revenue"]}},
            {"name": "c", "destination": "d"},
        ]
    )
    msg = message()
    outs = [render(msg) for _, render in router.route(msg)]
    assert calls == ["m-1"]
    assert outs[0]["event"] == "x"
    assert outs[0]["properties"] == {"revenue": 42.0}
    assert outs[1]["event"] == "Order Completed"
    assert outs[1]["properties"] == {}
    # no mapping, a passthrough destination: the Segment JSON itself, encoded once
    assert isinstance(outs[2], bytes)
    assert msgspec.json.decode(outs[2]) == to_segment(msg)
    assert msg.properties == {"revenue": 42.0}


def test_passthrough_renders_share_one_encoding(monkeypatch: Any) -> None:
    """Tags whose destinations change nothing (passthrough, no mapping, no router-side PII
    rule) get the message's Segment JSON encoded once, the same bytes for all of them; a
    destination that transforms still gets its own dict."""
    calls: list[str] = []
    real = _router.to_segment_json

    def counting(msg: Message) -> bytes:
        calls.append(msg.message_id)
        return real(msg)

    class Shaping(CaptureDestination):
        passthrough = False

        def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
            return {**event, "shaped": True}

    monkeypatch.setattr(_router, "to_segment_json", counting)
    container = Container.from_dict({
        "destinations": {"a": {"type": "capture"}, "b": {"type": "capture"},
                         "c": {"type": "capture"}},
        "tags": [{"name": n, "destination": n} for n in "abc"],
    })  # fmt: skip
    router = Router.build(
        container, {"a": CaptureDestination("a"), "b": CaptureDestination("b"), "c": Shaping("c")}
    )
    msg = message()
    outs = {d: render(msg) for d, render in router.route(msg)}
    assert calls == ["m-1"]
    assert outs["a"] is outs["b"]
    assert msgspec.json.decode(outs["a"]) == to_segment(msg)
    assert outs["c"] == {**to_segment(msg), "shaped": True}


class _SelfHashing(CaptureDestination):
    handles_pii = True
    passthrough = False  # its transform would hash (here it keeps the event as mapped)


def test_pii_policy_applies_to_destinations_that_do_not_handle_it() -> None:
    """Plugin destinations (no ``handles_pii``) get the container's PII policy applied
    before their ``transform``; destinations that handle PII get the event as mapped."""
    router, _ = build(
        [{"name": "plugin", "destination": "plugin"}, {"name": "own", "destination": "own"}],
        {"plugin": {"type": "capture"}, "own": {"type": "capture"}},
        extra={"own": _SelfHashing("own")},
        pii={"fields": {"properties.email": "email"}, "truncate_ip": True},
    )
    msg = message(properties={"email": "Ann@X.org"})
    out = {d: render(msg) for d, render in router.route(msg)}
    assert out["plugin"]["properties"]["email"] == sha256_hex("ann@x.org")
    assert out["own"]["properties"]["email"] == "Ann@X.org"


def test_disabled_tags_and_destinations_are_inert() -> None:
    """A disabled tag never routes; a tag whose destination is declared but not built
    (disabled) is accepted and inert."""
    container = Container.from_dict(
        {
            "destinations": {"on": {"type": "capture"}, "off": {"type": "capture",
                                                                "enabled": False}},
            "tags": [{"name": "a", "destination": "on", "enabled": False},
                     {"name": "b", "destination": "off"}, {"name": "c", "destination": "on"}],
        }
    )  # fmt: skip
    router = Router.build(container, {"on": CaptureDestination("on")})
    assert router.tags == ("c",)
    assert routed(router, message()) == ["on"]


def test_config_errors_list_every_problem_with_its_path() -> None:
    """One ConfigError names each bad field: trigger operator, destination, purposes,
    duplicate names, mapping paths and PII settings."""
    with pytest.raises(ConfigError) as info:
        build(
            [
                {"name": "ok", "destination": "d"},
                {"name": "ok", "destination": "y", "consent": ["analytcs"]},
                {"name": "t2", "destination": "d",
                 "trigger": {"$and": [{"x": {"$foo": 1}}]},
                 "mapping": {"rename": {"revenue": "properties.value"}}},
            ],
            {"d": {"type": "capture", "consent": ["nope"]}},
            pii={"fields": {"traits..email": "email"}, "phone_country_code": "+33"},
        )  # fmt: skip
    errors = "\n".join(info.value.errors)
    assert 'tags[1].name: duplicate tag name "ok" (also tags[0])' in errors
    assert 'tags[1].destination: unknown destination "y"' in errors
    assert 'tags[1].consent[0]: unknown consent purpose "analytcs"' in errors
    assert 'tags[2].trigger.$and[0].x: unknown operator "$foo"' in errors
    assert "tags[2].mapping.rename.revenue: 'revenue' must start with one of" in errors
    assert 'destinations.d.consent[0]: unknown consent purpose "nope"' in errors
    assert "pii.fields.traits..email: " in errors
    assert "pii.phone_country_code: " in errors


def test_no_tags_routes_nothing_quickly() -> None:
    """An empty container routes nothing and allocates no list."""
    router, _ = build([])
    assert router.route(message()) == ()
    assert router.filtered() == {}


def test_nested_logical_triggers_see_every_key_they_read() -> None:
    """The view holds every key read under ``$and``/``$or``/``$not``; an unrecognised
    top-level operator gets the full view."""
    router, _ = build(
        [
            {"name": "or", "destination": "d",
             "trigger": {"$or": [{"userId": "u-1"}, {"$not": {"context.gpc": True}}]}},
            {"name": "grp", "destination": "d",
             "trigger": {"$and": [{"anonymousId": "a-1"}, {"messageId": {"$exists": True}}]}},
        ]
    )  # fmt: skip
    assert routed(router, message(gpc=True, user_id="u-1")) == ["d", "d"]
    assert routed(router, message(gpc=True, user_id="u-2")) == ["d"]
    assert routed(router, message(gpc=False, anonymous_id="zz")) == ["d"]
