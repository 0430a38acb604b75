"""Secrets in config never print: reprs, errors and httpx's request log lines (issue #12)."""

from __future__ import annotations

import logging
import pickle
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from servers.sink import Sink

from persona_sdk import ConfigError, Persona, Secret
from persona_sdk.config import Container

ENV = {
    "GA_SECRET": "ga-secret-0001",
    "META_TOKEN": "meta-token-0002",
    "CDP_TOKEN": "cdp-token-0003",
    "HOOK_KEY": "hook-header-0004",
    "META_CODE": "meta-test-code-0006",
}
LITERAL = "literal-write-key-0005"


def _doc(url: str) -> dict[str, Any]:
    return {
        "destinations": {
            "ga": {"type": "ga4", "options": {"measurement_id": "G-1",
                                              "api_secret": "${env:GA_SECRET}",
                                              "base_url": url}},
            "meta": {"type": "meta_capi", "options": {"pixel_id": "1",
                                                      "access_token": "${env:META_TOKEN}",
                                                      "test_event_code": "${env:META_CODE}",
                                                      "base_url": url}},
            "seg": {"type": "http", "options": {"url": f"{url}/seg", "write_key": LITERAL,
                                                "headers": {"x-hook": "${env:HOOK_KEY}"}}},
        },
        "tags": [{"name": n, "destination": n} for n in ("ga", "meta", "seg")],
        "profiles": {"source": {"type": "http", "url": f"{url}/p/{{id}}",
                                "headers": {"Authorization": "Bearer ${env:CDP_TOKEN}"}}},
    }  # fmt: skip


def _assert_clean(text: str) -> None:
    for value in (*ENV.values(), LITERAL):
        assert value not in text


def test_container_repr_hides_env_secrets_and_known_secret_fields() -> None:
    """``repr(container)`` shows neither a value resolved from ``${env:...}`` in destination
    options or the profile source, nor a literal value of a secret-looking option
    (``write_key``); the values themselves still work as strings."""
    container = Container.from_dict(_doc("http://127.0.0.1:9"), env=ENV)
    _assert_clean(repr(container))
    _assert_clean(str(container.destinations))
    options = container.destinations["ga"].options
    assert isinstance(options["api_secret"], Secret)
    assert options["api_secret"] == ENV["GA_SECRET"]
    assert str(options["api_secret"]) == ENV["GA_SECRET"]
    assert container.destinations["seg"].options["write_key"] == LITERAL
    assert "Secret('***')" in repr(container)
    # a pickled container (e.g. handed to a worker process) keeps value and type
    again = pickle.loads(pickle.dumps(container))
    assert isinstance(again.destinations["ga"].options["api_secret"], Secret)
    assert again == container


def test_config_errors_do_not_echo_secrets() -> None:
    """A bad secret option whose value came from the environment, or one of the wrong type,
    is named in the ``ConfigError`` without its value."""
    doc = _doc("http://127.0.0.1:9")
    doc["destinations"]["hook"] = {"type": "webhook", "options": {
        "url": "http://127.0.0.1:9/h", "secret": "${env:GA_SECRET}"}}  # fmt: skip
    doc["destinations"]["meta"]["options"]["access_token"] = [ENV["META_TOKEN"]]
    with pytest.raises(ConfigError) as info:
        Persona(container=Container.from_dict(doc, env=ENV))
    assert "destinations.hook.options.secret" in str(info.value)
    assert "destinations.meta.options.access_token" in str(info.value)
    _assert_clean(str(info.value))


def test_secrets_stay_out_of_httpx_request_logs(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    """With httpx logging at INFO, delivering to GA4 (secret in the query string: the API
    allows no other place), Meta (token moved to the body) and an HTTP endpoint logs request
    lines without any secret, while the real server still receives them."""
    caplog.set_level(logging.INFO)
    with Persona(container=Container.from_dict(_doc(sink.url), env=ENV)) as persona:
        persona.track("Order Completed", anonymous_id="a-1", timestamp=time.time(),
                      properties={"revenue": 1.0},
                      context={"ip": "203.0.113.9", "userAgent": "UA/1",
                               "page": {"url": "https://shop.test/"}})  # fmt: skip
        assert persona.flush(timeout=10.0)
    paths = {r.path.rsplit("/", 1)[-1]: r for r in sink.requests}
    assert parse_qs(paths["collect"].query)["api_secret"] == [ENV["GA_SECRET"]]
    assert paths["events"].json["access_token"] == ENV["META_TOKEN"]
    # an env value in a plain option still encodes into a JSON body (msgspec takes no Secret)
    assert paths["events"].json["test_event_code"] == ENV["META_CODE"]
    assert "access_token" not in paths["events"].query
    assert paths["seg"].headers["x-hook"] == ENV["HOOK_KEY"]
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(lines) >= 3
    assert any("/mp/collect" in line for line in lines)
    assert any("api_secret=%2A%2A%2A" in line or "api_secret=***" in line for line in lines)
    _assert_clean(caplog.text)


def test_reload_dict_expands_env_only_in_config_fields(tmp_path: Path) -> None:
    """``reload(dict)`` expands ``${env:...}`` in configuration, never inside feature values,
    experiments or saved groups (data: a feature may hold that text on purpose)."""
    with Persona(env={"PLAN": "gold"}) as persona:
        persona.reload({
            "features": {"banner": {"defaultValue": "${env:PLAN}"}},
            "saved_groups": {"g": ["${env:PLAN}"]},
            "destinations": {"lake": {"type": "jsonl",
                                      "options": {"path": str(tmp_path / "${env:PLAN}.jsonl")}}},
        })  # fmt: skip
        assert persona.visitor(anonymous_id="a").get("banner", None) == "${env:PLAN}"
        assert persona.container.saved_groups == {"g": ["${env:PLAN}"]}
        assert persona.container.destinations["lake"].options["path"].endswith("gold.jsonl")
