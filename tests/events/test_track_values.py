"""``Persona.track``'s inline check of property values against the general walk it stands
in for (``check_finite``): the same events accepted, the same error for the rest."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_sdk import EventValidationError, Persona
from persona_sdk.events import check_finite

_LEAVES = st.one_of(
    st.floats(),  # NaN and both infinities included
    st.integers(), st.booleans(), st.none(), st.text(max_size=3),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308]),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), inner, max_size=3),
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def persona() -> Iterator[Persona]:
    with Persona() as p:
        yield p


def _general(props: dict[str, Any]) -> str | None:
    try:
        check_finite(dict(props), "properties")
    except EventValidationError as exc:
        return str(exc)
    return None


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(max_size=3), _VALUES, max_size=5))
def test_track_refuses_exactly_what_the_general_walk_refuses(
    persona: Persona, props: dict[str, Any]
) -> None:
    """Whatever the values (flat, nested, floats anywhere), ``track`` raises the error
    ``check_finite`` raises, and returns an id when it raises none."""
    expected = _general(props)
    try:
        got = None
        assert persona.track("E", anonymous_id="a-1", properties=props)
    except EventValidationError as exc:
        got = str(exc)
    assert got == expected
