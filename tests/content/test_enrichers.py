"""Real-time context: built-in enrichers feed content conditions and scores."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from content_support import Clock

import persona_sdk as ps
from persona_sdk.content._enrichers import (
    device_enricher,
    geo_enricher,
    time_enricher,
    utm_enricher,
)
from persona_sdk.plugins import Enricher

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
IPAD = "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID_TAB = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120 Safari"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# 2024-01-06 (a Saturday) 23:30 UTC
SAT = 1_704_583_800.0


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"timezone": "Europe/Paris"}, ("Europe/Paris", 0, "sunday", True, "night")),
        ({"cookies": {"tz": "America/New_York"}}, ("America/New_York", 18, "saturday", True,
                                                    "evening")),
        ({"headers": {"CF-Timezone": "Asia/Tokyo"}}, ("Asia/Tokyo", 8, "sunday", True,
                                                      "morning")),
        ({"timezone": "Mars/Olympus"}, ("UTC", 23, "saturday", True, "evening")),
        ({}, ("UTC", 23, "saturday", True, "evening")),
    ],
)
def test_time_of_day_from_attribute_cookie_or_header(
    attrs: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    """Local hour, day and daypart follow the timezone from the attribute, the tz cookie or
    a CDN header; an unknown zone is UTC."""
    got = time_enricher(attrs, SAT)
    assert (got["timezone"], got["local_hour"], got["day_of_week"], got["weekend"],
            got["daypart"]) == expected


@pytest.mark.parametrize(
    ("ua", "device", "os"),
    [(IPHONE, "mobile", "ios"), (IPAD, "tablet", "ios"), (ANDROID_TAB, "tablet", "android"),
     (DESKTOP, "desktop", "windows"), (BOT, "bot", "other")],
)
def test_device_class_from_user_agent(ua: str, device: str, os: str) -> None:
    """The user agent (attribute or header) gives the device class and OS."""
    assert device_enricher({"user_agent": ua}, 0) == {"device": device, "os": os}
    assert device_enricher({"headers": {"user-agent": ua}}, 0)["device"] == device


def test_country_from_cdn_headers() -> None:
    """The first usable CDN country header gives the country; XX is unknown."""
    assert geo_enricher({"headers": {"cf-ipcountry": "XX",
                                     "cloudfront-viewer-country": "fr"}}, 0) == {"country": "FR"}
    assert geo_enricher({"headers": {"x-vercel-ip-country": "DE"}}, 0) == {"country": "DE"}
    assert geo_enricher({"headers": {"cf-ipcountry": "T1"}}, 0) == {}


def test_utm_and_referrer() -> None:
    """UTM parameters come from the page URL; the referrer is classified."""
    got = utm_enricher(
        {"url": "https://shop.example/p?utm_source=news&utm_campaign=summer&x=1",
         "referrer": "https://www.google.com/search?q=shoes"}, 0)
    assert got == {"utm_source": "news", "utm_campaign": "summer",
                   "referrer_host": "www.google.com", "referrer_type": "search"}
    assert utm_enricher({"url": "https://a.example/", "referrer": "https://a.example/x"},
                        0)["referrer_type"] == "internal"
    assert utm_enricher({"headers": {"referer": "https://l.facebook.com/"}},
                        0)["referrer_type"] == "social"
    assert utm_enricher({}, 0) == {"referrer_type": "direct"}


def test_enriched_attributes_drive_content_conditions_and_scores(
    make_persona: Callable[..., Any], clock: Clock
) -> None:
    """Items target the enriched device, daypart and UTM campaign; the app's own attributes
    win over enriched ones; a failing enricher is counted and skipped."""

    class Broken:
        def enrich(self, attributes: Mapping[str, Any], now: float) -> Mapping[str, Any]:
            raise RuntimeError("boom")

    assert isinstance(Broken(), Enricher)
    persona, _ = make_persona(
        {
            "content": [
                {"id": "mobile-night", "priority": 9,
                 "condition": {"device": "mobile", "daypart": "night"}},
                {"id": "summer", "priority": 5, "condition": {"utm_campaign": "summer"}},
                {"id": "fr", "priority": 1, "condition": {"country": "FR"}},
            ],
            "placements": {"p": {"items": ["mobile-night", "summer", "fr"]}},
            "context": {"enrichers": ["broken", "time", "device", "geo", "utm"]},
        },
        enrichers={"broken": Broken()},
    )
    clock.now = SAT + 3600  # 00:30 UTC

    def ids(**attrs: Any) -> list[str]:
        return persona.visitor(anonymous_id=str(attrs), attributes=attrs).decide("p").ids()

    assert ids(user_agent=IPHONE) == ["mobile-night"]
    assert ids(user_agent=DESKTOP, url="https://s.example/?utm_campaign=summer") == ["summer"]
    assert ids(headers={"cf-ipcountry": "FR"}) == ["fr"]
    assert ids(headers={"cf-ipcountry": "FR"}, country="DE") == []  # the app's own wins
    assert persona.stats()["content"]["enricher_errors"] == 4


def test_unknown_enricher_is_a_config_error() -> None:
    """An enricher name that is neither built in, given nor installed names its path."""
    with pytest.raises(ps.ConfigError) as info:
        ps.Persona({"content": [{"id": "a"}], "placements": {"p": {"items": ["a"]}},
                    "context": {"enrichers": ["time", "nope"]}})
    assert info.value.errors[0].startswith("context.enrichers[1]: no plugin 'nope'")
