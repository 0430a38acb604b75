"""The container's ``[[actions]]``: next-best actions (run by ``persona_sdk.actions``)."""

from __future__ import annotations

from typing import Any

from attrs import Factory, frozen

__all__ = ["ActionConfig"]


@frozen(kw_only=True)
class ActionConfig:
    """One next-best action (``[[actions]]``).

    Usage::

        [[actions]]
        name = "cart-abandoned"
        on = "Product Added"           # the trigger event ("Segment Entered" for segments)
        after = "30m"                  # wait this long...
        unless = "Order Completed"     # ...and fire only if the visitor did not track this
        emit = "Cart Abandoned"        # tracked through the tag layer (tags route it)
        purpose = "marketing"          # consent purpose required on the trigger event

        [[actions]]
        name = "vip-welcome"
        on = "Segment Entered"
        when = { "properties.segment_id" = "vip" }
        traits = { vip_since_welcome = true }
    """

    name: str
    on: str
    #: a condition over the trigger event (its Segment JSON: ``properties.x``, ``context.y``)
    when: dict[str, Any] | None = None
    after: Any = None
    unless: str | None = None
    emit: str | None = None
    #: properties of the emitted event (the trigger's properties are under ``trigger``)
    properties: dict[str, Any] = Factory(dict)
    traits: dict[str, Any] | None = None
    purpose: str | None = None
