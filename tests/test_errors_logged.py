"""Every counted error is logged once per kind, rate-limited, with what happened (issue 11,
item 4), and ``stats()`` keeps the last error per destination."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import persona_sdk as ps
from persona_sdk._logonce import LogOnce
from persona_sdk.config import BreakerConfig
from persona_sdk.profiles import FileSource
from persona_sdk.profiles import _log as profile_log
from persona_sdk.profiles._settings import profile_breaker
from persona_sdk.rules import OperatorRegistry
from persona_sdk.testing import CaptureDestination

FEATURES = {"hero": {"defaultValue": "none", "rules": [{
    "key": "hero-test", "variations": ["control", "treatment"], "weights": [0.5, 0.5],
    "coverage": 1.0, "hashAttribute": "id"}]}}


@pytest.fixture(autouse=True)
def _fresh_profile_log() -> None:
    # the profile tier logs once per kind per process: start each test with none logged
    profile_log.errors._kinds.clear()


def _records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_logonce_logs_the_first_then_a_periodic_count(caplog) -> None:
    """The first error of a kind is logged with its traceback; the next ones only counted,
    until ``every`` seconds have passed: then one summary line with the count."""
    now = [0.0]
    errors = LogOnce(logging.getLogger("persona_sdk.test"), every=60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="persona_sdk.test")
    for i in range(5):
        try:
            raise ValueError(f"boom {i}")
        except ValueError as exc:
            errors("k", f"it failed: {exc}", exc)
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None
    now[0] = 61.0
    errors("k", "it failed: boom 5")
    assert len(caplog.records) == 2
    assert "5 more of this kind" in caplog.records[1].getMessage()
    errors("other", "another kind")
    assert len(caplog.records) == 3
    errors("k", "again")
    errors.report()
    assert "1 more of this kind" in caplog.records[-1].getMessage()


class _Broken(CaptureDestination):
    passthrough = False  # its transform runs

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        raise KeyError("price")


def test_render_errors_are_logged_with_traceback_and_kept_in_stats(caplog) -> None:
    """A destination whose transform raises: ``render_error`` counted, the first logged with
    the traceback, the others not logged again, and ``last_error`` says what happened."""
    caplog.set_level(logging.ERROR, logger="persona_sdk")
    with ps.Persona({"tags": [{"name": "all", "destination": "b"}]},
                    destinations={"b": _Broken()}) as persona:
        for _ in range(3):
            persona.track("E", anonymous_id="a")
        persona.flush(5.0)
        stats = persona.stats()["destinations"]["b"]
    assert stats["rejected"] == {"render_error": 3}
    assert "KeyError" in stats["last_error"]
    assert "price" in stats["last_error"]
    # the first logged with its traceback; the other two only counted, reported at close
    first, summary = _records(caplog, "rejected an event")
    assert first.exc_info is not None
    assert "'b'" in first.getMessage()
    assert summary.exc_info is None
    assert "2 more of this kind" in summary.getMessage()


def test_hook_and_exposure_track_errors_are_logged(caplog) -> None:
    """A failing hook and an exposure that cannot be tracked are logged with their
    tracebacks and show in ``stats()["decisions"]["last_error"]``."""
    caplog.set_level(logging.ERROR, logger="persona_sdk")

    def on_exposure(visitor: Any, result: Any) -> None:
        raise RuntimeError("hook bug")

    persona = ps.Persona({"features": FEATURES}, on_exposure=on_exposure)
    persona.visitor(anonymous_id="a-1").feature("hero")
    assert "hook bug" in persona.stats()["decisions"]["last_error"]
    (hook,) = _records(caplog, "on_exposure hook raised")
    assert hook.exc_info is not None
    persona.close()
    persona = ps.Persona({"features": FEATURES})
    visitor = persona.visitor(anonymous_id="a-2")
    persona.close()
    visitor.feature("hero")
    (track,) = _records(caplog, "exposure event could not be tracked")
    assert "ClosedError" in track.getMessage()
    assert "ClosedError" in persona.stats()["decisions"]["last_error"]


class _Raising(FileSource):
    def get(self, profile_id: str, *, id_type: str = "user_id", timeout: float = 1.0) -> Any:
        raise ZeroDivisionError("source bug")

    async def aget(self, profile_id: str, *, id_type: str = "user_id",
                   timeout: float = 1.0) -> Any:
        raise ZeroDivisionError("source bug")


def test_resolver_internal_errors_are_logged(caplog) -> None:
    """A profile source that raises: the visitor gets a fallback profile, and the error is
    logged once with its traceback."""
    caplog.set_level(logging.ERROR, logger="persona_sdk")
    with ps.Persona(profile_source=_Raising.from_records({})) as persona:
        for _ in range(3):
            persona.visitor(user_id="u-1")
    logged = _records(caplog, "profile source raised")
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "source bug" in logged[0].getMessage()


class _Boom:
    name = "$boom"

    def compile(self, operand: Any, path: str) -> Any:
        def predicate(value: Any) -> bool:
            raise ValueError("operator bug")

        return predicate


def test_segment_condition_errors_are_counted_and_logged(caplog) -> None:
    """A segment condition that raises counts the visitor out, is counted in
    ``stats()["profiles"]["segment_errors"]`` and logged once for that segment."""
    caplog.set_level(logging.ERROR, logger="persona_sdk")
    registry = OperatorRegistry()
    registry.register(_Boom())
    with ps.Persona({"segments": {"odd": {"condition": {"x": {"$boom": 1}}}}},
                    operators=registry) as persona:
        for i in range(2):  # new attributes each time: membership is re-evaluated
            assert persona.visitor(anonymous_id="a", attributes={"x": i}).segments == frozenset()
        assert persona.stats()["profiles"]["segment_errors"] == 2
    (logged,) = _records(caplog, "segment 'odd'")
    assert "operator bug" in logged.getMessage()


def test_failed_sync_spool_insert_raises_and_is_logged(caplog, tmp_path: Path) -> None:
    """sync spool mode: a row that cannot be written makes ``track()`` raise ``SpoolError``
    (no id), logged with its cause; ``last_error`` says so."""
    caplog.set_level(logging.ERROR, logger="persona_sdk")
    path = tmp_path / "spool.sqlite3"
    with ps.Persona({"delivery": {"spool": "sync", "spool_path": str(path)},
                     "tags": [{"name": "all", "destination": "c"}]},
                    destinations={"c": CaptureDestination()}) as persona:
        persona.track("E", anonymous_id="a")
        other = sqlite3.connect(path)
        other.execute("DROP TABLE outbox")
        other.close()
        with pytest.raises(ps.SpoolError):
            persona.track("E", anonymous_id="a")
        assert "spool insert failed" in persona.stats()["destinations"]["c"]["last_error"]
    (logged,) = _records(caplog, "spool insert failed")
    assert logged.exc_info is not None


def test_profile_breaker_opening_is_logged(caplog) -> None:
    """The profile source's circuit breaker opening is logged (a warning, once per kind)."""
    caplog.set_level(logging.WARNING, logger="persona_sdk")
    breaker = profile_breaker(BreakerConfig(min_calls=2, window=4), clock=lambda: 0.0)
    for _ in range(4):
        breaker.record(ok=False, elapsed=0.01)
    (logged,) = _records(caplog, "circuit breaker opened")
    assert logged.levelno == logging.WARNING
    assert "failed" in logged.getMessage()
