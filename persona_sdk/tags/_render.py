"""How a tag renders a message for its destination: the Segment form built once per message
and shared between tags (``PerMessage``), then the tag's mapping, the PII policy and the
destination's ``transform`` (``tag_render``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..events import Message
from ..privacy import PrivacyPolicy
from ._mapping import Mapper, moved_policy

if TYPE_CHECKING:
    from ..config import Container, TagConfig
    from ..plugins import Destination

__all__ = ["PerMessage", "Render", "tag_render"]

#: Shapes one message for a destination: its payload dict, its payload already encoded as
#: JSON ``bytes``, or ``None`` to skip it.
Render = Callable[[Message], "dict[str, Any] | bytes | None"]

_SEGMENT_CACHE_SIZE: Final = 256


class PerMessage:
    """``make(msg)`` once per message, shared by all the tags that render it.

    Keyed by identity (the message is kept alongside, so a recycled ``id`` cannot hit); it
    is cleared whole when full, which costs nothing per call. Races between threads only
    cost a recomputation: every read and write is a single dict operation.
    """

    __slots__ = ("_entries", "_make", "make", "users")

    def __init__(self, make: Callable[[Message], Any]) -> None:
        self._entries: dict[int, tuple[Message, Any]] = {}
        self._make = self.make = make
        self.users = 0  #: renders built on it (with one, the cache is pure overhead)

    def __call__(self, msg: Message) -> Any:
        entries = self._entries
        hit = entries.get(id(msg))
        if hit is not None and hit[0] is msg:
            return hit[1]
        value = self._make(msg)
        if len(entries) >= _SEGMENT_CACHE_SIZE:
            entries.clear()
        entries[id(msg)] = (msg, value)
        return value


def tag_render(  # noqa: PLR0917 - internal, called in one place
    tag: TagConfig,
    dest: Destination,
    container: Container,
    policies: dict[str, PrivacyPolicy | None],
    mapper: Mapper | None,
    segment: Callable[[Message], dict[str, Any]],
    wire: Callable[[Message], bytes],
) -> Render:
    """The render of one tag: its mapping between the destination's PII policy (None when
    it applies its own; one per destination, kept in ``policies``) and its ``transform``."""
    if tag.destination not in policies:
        handles = getattr(dest, "handles_pii", False) is True
        policies[tag.destination] = None if handles else PrivacyPolicy.from_config(container.pii)
    policy = policies[tag.destination]
    # a rename must not carry PII past the policy, which names the original paths
    own = getattr(dest, "policy", None)
    moved = moved_policy(
        tag.mapping,
        own if isinstance(own, PrivacyPolicy)
        else policy or PrivacyPolicy.from_config(container.pii),
    )  # fmt: skip
    return _make_render(segment, wire, mapper, policy, dest, moved=moved)


def _make_render(
    segment: Callable[[Message], dict[str, Any]],
    wire: Callable[[Message], bytes],
    mapper: Mapper | None,
    policy: PrivacyPolicy | None,
    destination: Destination,
    *,
    moved: PrivacyPolicy | None = None,
) -> Render:
    apply = policy.apply if policy is not None and not policy.is_noop else None
    before = moved.apply if moved is not None else None
    if mapper is None and apply is None and getattr(destination, "passthrough", False) is True:
        # Nothing changes the Segment event on its way: its JSON, encoded once, is shared by
        # every destination in the same case (no dict, no transform, no encode per tag).
        wire.users += 1  # type: ignore[attr-defined]
        return wire
    transform = destination.transform

    def render(msg: Message) -> dict[str, Any] | None:
        event = segment(msg)
        if before is not None:  # personal data a rename moves is treated where it was
            event = before(event)
        if mapper is not None:
            event = mapper(event)
        if apply is not None:
            event = apply(event)
        return transform(event)

    return render
