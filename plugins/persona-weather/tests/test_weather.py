"""The weather enricher: cached, refreshed in the background from a loopback HTTP source,
used by persona-sdk content conditions through the public Enricher contract."""

from __future__ import annotations

from typing import Any

import pytest
from persona_weather import WeatherEnricher

import persona_sdk as ps
from persona_sdk.plugins import Enricher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def enricher(weather_server: Any, clock: Clock) -> Any:
    e = WeatherEnricher(url=f"{weather_server.url}/now?city={{city}}", ttl=60, retry=10,
                        clock=clock)
    yield e
    e.close()


def test_miss_fetches_in_the_background_then_hits(weather_server: Any, enricher: Any) -> None:
    """The first request for a city gets nothing and queues a fetch; later ones get the
    cached weather without a request."""
    weather_server.answers["Lyon"] = {"condition": "rain", "temperature_c": 12}
    assert isinstance(enricher, Enricher)
    assert enricher.enrich({"city": "Lyon"}, 0) is None
    assert enricher.wait_idle()
    assert enricher.enrich({"city": "Lyon"}, 0) == {"weather": "rain", "temperature_c": 12.0}
    assert enricher.enrich({"city": "Lyon"}, 0) == {"weather": "rain", "temperature_c": 12.0}
    assert weather_server.requests == ["Lyon"]
    assert enricher.stats()["hits"] == 2


def test_expired_entries_are_served_while_refreshing(
    weather_server: Any, enricher: Any, clock: Clock
) -> None:
    """Past the ttl the old answer is still served and a refresh replaces it."""
    weather_server.answers["Nice"] = {"condition": "sun"}
    enricher.enrich({"city": "Nice"}, 0)
    enricher.wait_idle()
    weather_server.answers["Nice"] = {"condition": "snow"}
    clock.now += 61
    assert enricher.enrich({"city": "Nice"}, 0) == {"weather": "sun"}
    assert enricher.wait_idle()
    assert enricher.enrich({"city": "Nice"}, 0) == {"weather": "snow"}


def test_failures_keep_the_last_answer_and_are_counted(
    weather_server: Any, enricher: Any, clock: Clock
) -> None:
    """An error status keeps the last good answer; a city never answered gets nothing and is
    not refetched before `retry`."""
    weather_server.answers["Pau"] = {"condition": "fog"}
    enricher.enrich({"city": "Pau"}, 0)
    enricher.wait_idle()
    weather_server.answers["Pau"] = 500
    clock.now += 61
    enricher.enrich({"city": "Pau"}, 0)
    enricher.wait_idle()
    assert enricher.enrich({"city": "Pau"}, 0) == {"weather": "fog"}
    enricher.enrich({"city": "Nowhere"}, 0)
    enricher.wait_idle()
    assert enricher.enrich({"city": "Nowhere"}, 0) == {}
    assert weather_server.requests.count("Nowhere") == 1
    assert enricher.stats()["failures"] == 2


def test_content_conditions_read_the_weather(weather_server: Any, enricher: Any) -> None:
    """A Persona with the enricher shows rain content to visitors in a rainy city."""
    weather_server.answers["Brest"] = {"condition": "rain"}
    container = {
        "content": [{"id": "umbrella", "priority": 5, "condition": {"weather": "rain"}},
                    {"id": "default"}],
        "placements": {"p": {"items": ["umbrella", "default"]}},
        "context": {"enrichers": ["weather"]},
    }
    with ps.Persona(container, enrichers={"weather": enricher}) as persona:
        first = persona.visitor(anonymous_id="a", attributes={"city": "Brest"}).decide("p")
        assert first.ids() == ["default"]  # not cached yet: never waits
        assert enricher.wait_idle()
        later = persona.visitor(anonymous_id="b", attributes={"city": "Brest"}).decide("p")
        assert later.ids() == ["umbrella"]


def test_from_options_is_the_entry_point() -> None:
    """from_options builds from the container's options table; a bad URL is refused."""
    e = WeatherEnricher.from_options(options={"url": "http://127.0.0.1:1/x?c={city}", "ttl": 5})
    assert e.ttl == 5
    with pytest.raises(ValueError, match="url"):
        WeatherEnricher.from_options(options={"url": "ftp://x"})
