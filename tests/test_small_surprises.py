"""Issue 11's small surprises: enums render as their value, ids go out as strings, an
``attributes["id"]`` that contradicts the visitor's ids is refused."""

from __future__ import annotations

import enum
from typing import Any

import pytest

import persona_sdk
from persona_sdk import EventValidationError, Persona
from persona_sdk.delivery import SpoolMode
from persona_sdk.events import EventType
from persona_sdk.profiles import FetchErrorKind, ProfileSourceKind
from persona_sdk.testing import CaptureDestination

ENUMS: list[type[enum.Enum]] = sorted(
    {
        obj
        for obj in (
            *(getattr(persona_sdk, n) for n in persona_sdk.__all__),
            ProfileSourceKind, FetchErrorKind, SpoolMode, EventType,
        )
        if isinstance(obj, type) and issubclass(obj, enum.Enum)
    },
    key=lambda e: e.__name__,
)  # fmt: skip


@pytest.mark.parametrize("kind", ENUMS, ids=lambda e: e.__name__)
def test_enums_render_as_their_value(kind: type[enum.Enum]) -> None:
    """``str()`` and f-strings of every public enum give the value (``"local"``), not
    ``ProfileSourceKind.LOCAL``, on every supported Python."""
    for member in kind:
        assert str(member) == member.value
        assert f"{member}" == member.value
        assert f"{member:>12}" == f"{member.value:>12}"


def test_visitor_profile_source_renders_as_its_value() -> None:
    """The README's ``visitor.profile.source`` prints ``local`` without a profile source."""
    with Persona() as persona:
        assert str(persona.visitor(anonymous_id="a-1").profile.source) == "local"


@pytest.fixture
def persona_and_capture() -> Any:
    capture = CaptureDestination(name="capture")
    persona = Persona(
        {"tags": [{"name": "all", "destination": "capture"}]},
        destinations={"capture": capture},
    )
    yield persona, capture
    persona.close()


def test_numeric_ids_go_out_as_strings(persona_and_capture: Any) -> None:
    """``user_id=123`` (and numeric anonymous, group and previous ids) are sent as strings,
    as Segment's libraries do."""
    persona, capture = persona_and_capture
    persona.track("Order Completed", user_id=123, anonymous_id=7)  # type: ignore[arg-type]
    persona.identify(123, traits={})  # type: ignore[arg-type]
    persona.group(42, user_id=123)  # type: ignore[arg-type]
    persona.alias(123, previous_id=99)  # type: ignore[arg-type]
    assert persona.flush(10)
    track, identify, group, alias = capture.events
    assert (track["userId"], track["anonymousId"]) == ("123", "7")
    assert identify["userId"] == "123"
    assert (group["groupId"], group["userId"]) == ("42", "123")
    assert (alias["userId"], alias["previousId"]) == ("123", "99")


@pytest.mark.parametrize("bad", [True, {"id": 1}, ["u"], float("nan")])
def test_ids_that_are_not_strings_or_numbers_are_refused(
    persona_and_capture: Any, bad: Any
) -> None:
    """A bool, a mapping, a list or a NaN as an id is an ``EventValidationError`` naming it."""
    persona, _ = persona_and_capture
    with pytest.raises(EventValidationError, match=r"^userId: "):
        persona.track("E", user_id=bad)
    with pytest.raises(EventValidationError, match=r"^userId: "):
        persona.identify(bad)


def test_an_id_attribute_contradicting_the_ids_is_refused() -> None:
    """``attributes={"id": ...}`` different from ``anonymous_id``/``user_id`` raises rather
    than being silently replaced; one equal to either id, or without ids, is accepted."""
    with Persona() as persona:
        with pytest.raises(EventValidationError, match=r"^attributes\.id: "):
            persona.visitor(anonymous_id="a-1", attributes={"id": "someone-else"})
        assert persona.visitor(anonymous_id="a-1", attributes={"id": "a-1"}).id == "a-1"
        assert persona.visitor(
            anonymous_id="a-1", user_id="u-1", attributes={"id": "a-1"}
        ).id == "u-1"
        assert persona.visitor(attributes={"id": "ppid-1"}).attributes["id"] == "ppid-1"
