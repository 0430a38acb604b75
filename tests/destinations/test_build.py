"""``build_destinations``: entry points, options errors with full paths, extras."""

from __future__ import annotations

import base64

import pytest

from persona_sdk import ConfigError, Container
from persona_sdk.destinations import build_destinations
from persona_sdk.destinations.ga4 import GA4Destination
from persona_sdk.destinations.http import HttpDestination
from persona_sdk.destinations.jsonl import JsonlDestination
from persona_sdk.destinations.meta_capi import MetaCapiDestination
from persona_sdk.destinations.webhook import WebhookDestination
from persona_sdk.plugins import Destination
from persona_sdk.testing import CaptureDestination

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
ALL = {
    "seg": {"type": "http", "options": {"url": "https://api.segment.io", "write_key": "k"}},
    "hook": {"type": "webhook", "options": {"url": "https://x.test/h", "secret": SECRET}},
    "lake": {"type": "jsonl", "options": {"path": "var/e.jsonl"}},
    "ga": {"type": "ga4", "options": {"measurement_id": "G-1", "api_secret": "s"}},
    "meta": {"type": "meta_capi", "options": {"pixel_id": "1", "access_token": "t"}},
    "cap": {"type": "capture"},
    "off": {"type": "http", "enabled": False, "options": {}},
}


def test_every_builtin_type_is_found_through_its_entry_point() -> None:
    """Each type loads from the persona_sdk.destinations entry point group and satisfies the
    Destination protocol; disabled destinations are not built."""
    built = build_destinations(Container.from_dict({"destinations": ALL}))
    kinds = {name: type(d) for name, d in built.items()}
    assert kinds == {
        "seg": HttpDestination, "hook": WebhookDestination, "lake": JsonlDestination,
        "ga": GA4Destination, "meta": MetaCapiDestination, "cap": CaptureDestination,
    }  # fmt: skip
    for name, dest in built.items():
        assert isinstance(dest, Destination)
        assert dest.name == name


def test_extras_are_added_and_replace_configured_ones() -> None:
    """Extra instances join by name; one named like a configured destination replaces it
    (which is then not built, so its options need not be valid)."""
    capture = CaptureDestination("ga")
    built = build_destinations(
        Container.from_dict({"destinations": {"ga": {"type": "ga4", "options": {}}}}),
        extra={"ga": capture, "more": CaptureDestination("more")},
    )
    assert built["ga"] is capture
    assert set(built) == {"ga", "more"}


def test_every_problem_is_reported_with_its_full_path() -> None:
    """Unknown types, missing or bad options of several destinations and non-destination
    extras are all listed in one ConfigError."""
    with pytest.raises(ConfigError) as info:
        build_destinations(
            Container.from_dict({
                "destinations": {
                    "a": {"type": "carrier_pigeon"},
                    "b": {"type": "ga4", "options": {"measurement_id": "G-1"}},
                    "c": {"type": "http", "options": {"url": "x", "typo": 1}},
                }
            }),
            extra={"d": object()},
        )  # fmt: skip
    errors = info.value.errors
    assert any(e.startswith("destinations.a.type: no plugin 'carrier_pigeon'") for e in errors)
    assert "destinations.b.options.api_secret: required field is missing" in errors
    assert "destinations.c.options.typo: unknown field" in errors
    assert any(e.startswith("destinations.d: object is not a Destination") for e in errors)
