"""Global Privacy Control values are read as the spec says, doubtful ones as a signal (#12)."""

from __future__ import annotations

from typing import Any

import pytest

from persona_sdk import Container
from persona_sdk.events import Message
from persona_sdk.tags import Router
from persona_sdk.testing import CaptureDestination
from persona_sdk.web._consent import gpc_enabled

CONTAINER = Container.from_dict({
    "consent": {"purposes": {"ads": {"sale_sharing": True}, "analytics": {}}},
    "destinations": {"ads": {"type": "capture", "consent": ["ads"]},
                     "stats": {"type": "capture", "consent": ["analytics"]}},
    "tags": [{"name": "ads", "destination": "ads"}, {"name": "stats", "destination": "stats"}],
})  # fmt: skip


def _routes(gpc: Any) -> set[str]:
    router = Router.build(CONTAINER, {"ads": CaptureDestination(), "stats": CaptureDestination()})
    context: dict[str, Any] = {"consent": {"categoryPreferences": {"ads": True, "analytics": True}}}
    if gpc is not None:
        context["gpc"] = gpc
    msg = Message(type="track", message_id="m", anonymous_id="a", event="E", context=context)
    return {name for name, _ in router.route(msg)}


@pytest.mark.parametrize(
    "value", [True, 1, 1.0, "1", "true", "True", " TRUE ", "yes", "1, 1", 2, [1], {"on": 1}]
)
def test_context_gpc_signals_block_sale_sharing_purposes(value: Any) -> None:
    """``context.gpc`` as other collectors send it (``"True"``, ``1.0``, ``"1, 1"``) or any
    other doubtful value is a GPC signal: the sale-sharing destination gets nothing, the
    other one still gets the event."""
    assert _routes(value) == {"stats"}


@pytest.mark.parametrize("value", [None, False, 0, 0.0, "0", "false", "False", "", "no"])
def test_context_gpc_explicit_no_is_not_a_signal(value: Any) -> None:
    """Absence and an explicit "no" (``false``, ``0``, ``"false"``, empty) are not a signal."""
    assert _routes(value) == {"ads", "stats"}


@pytest.mark.parametrize(
    ("header", "on"),
    [(None, False), ("1", True), ("1, 1", True), (" 1 ", True), ("1,1", True),
     ("?1", True), ("true", True), ("0", False), ("", False), ("0, 0", False)],
)  # fmt: skip
def test_sec_gpc_header_parsing(header: str | None, on: bool) -> None:
    """``Sec-GPC: 1`` is the signal; repeated headers merged by a proxy (``1, 1``) and other
    doubtful values count too; only no header, an empty one or an explicit ``0`` do not."""
    assert gpc_enabled(header) is on
