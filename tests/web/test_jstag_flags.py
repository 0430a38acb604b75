"""Bootstrapping every flag with deferred exposures: ``visitor.evaluate_all()`` renders all
features into the page without logging, and the JS tag sends an exposure only when the page
reads an experiment flag (``persona.feature(key)``), once, in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from collector_helpers import uvicorn_server

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination
from persona_sdk.web import Collector, render_bootstrap

FEATURES = {
    "cta": {"defaultValue": "blue", "rules": [{
        "key": "cta-test", "variations": ["blue", "green"], "weights": [0.5, 0.5],
        "coverage": 1.0, "meta": [{"key": "control"}, {"key": "treatment"}],
    }]},
    "plain": {"defaultValue": 7},
}


class Site:
    """A page that bootstraps every flag of visitor ``v-1``, plus the collector."""

    def __init__(self, persona: ps.Persona) -> None:
        self.persona = persona
        self.collector = Collector(persona)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/":
            visitor = self.persona.visitor(anonymous_id="v-1")
            body = (
                "<!doctype html><html><head>"
                + render_bootstrap(visitor, all_features=True)
                + "<script src='/persona.js' data-auto-page='false' data-flush-ms='20'>"
                "</script></head><body>shop</body></html>"
            ).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.collector.asgi(scope, receive, send)




@pytest.mark.e2e
def test_the_tag_sends_one_exposure_for_a_flag_the_page_reads(browser: Any) -> None:
    """Rendering the bootstrap logs nothing; reading `cta` twice sends one Experiment Viewed
    with the server's properties; reading `plain` (no experiment) sends nothing."""
    capture = CaptureDestination()
    container = {"features": FEATURES, "tags": [{"name": "all", "destination": "capture"}]}
    with ps.Persona(container, destinations={"capture": capture}) as persona:
        expected = persona.visitor(anonymous_id="v-1").evaluate_all().results["cta"]
        with uvicorn_server(Site(persona)) as url:
            context = browser.new_context()
            page = context.new_page()
            page.goto(url.replace("127.0.0.1", "localhost") + "/")
            assert persona.flush(5)
            assert capture.events == []  # the server logged no exposure
            values = page.evaluate(
                "[persona.feature('cta'), persona.feature('cta'), persona.feature('plain'),"
                " persona.isOn('plain'), persona.feature('missing')]"
            )
            assert values == [expected.value, expected.value, 7, True, None]
            page.evaluate("persona.flush()")
            assert capture.wait_for(1, timeout=10)
            page.evaluate("persona.track('Done')")
            assert capture.wait_for(2, timeout=10)
            context.close()
        names = [e["event"] for e in capture.events]
        assert names == ["Experiment Viewed", "Done"]
        props = capture.events[0]["properties"]
        assert props["experiment_id"] == "cta-test"
        assert expected.variation is not None
        assert props["variation_id"] == expected.variation.variation_key
