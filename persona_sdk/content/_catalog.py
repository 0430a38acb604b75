"""The content catalog: items with metadata, an audience condition and a payload.

Items come from the container (``[[content]]``) and from content sources (feeds). Every item,
wherever it comes from, is checked by ``parse_item``: a bad item is refused with errors that
name it and its field, and the other items load. A ``Catalog`` is immutable; a feed update
builds a new one and swaps it whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from attrs import field, frozen

from .._errors import ConfigError
from ..rules import ALWAYS, Condition, compile_condition

__all__ = ["Catalog", "ContentItem", "build_catalog", "parse_item", "parse_items"]

_FIELDS = frozenset(
    {
        "id", "name", "type", "tags", "categories", "locale", "start", "end", "priority",
        "weight", "condition", "payload", "campaign", "metadata",
    }
)
_MAX_ID = 200


@frozen(slots=True, eq=False)
class ContentItem:
    """One item of the catalog (a creative, a product teaser, an offer).

    ``attributes`` is what placement selectors and scoring rules read about the item: its
    metadata fields (``type``, ``tags``, ``categories``, ``locale``, ``campaign``,
    ``priority``, ``weight``) and its ``metadata`` table, merged.
    """

    id: str
    name: str
    type: str | None
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    locale: str | None
    #: epoch seconds; the item is live in ``[start, end)``
    start: float
    end: float
    priority: int
    weight: float
    #: the compiled audience condition over the visitor's attributes
    condition: Condition
    #: whether ``condition`` always passes (no condition): skipped on the hot path
    always: bool
    payload: Any
    campaign: str | None
    metadata: Mapping[str, Any]
    #: where the item came from: ``container`` or the content source's name
    source: str
    attributes: Mapping[str, Any] = field(init=False)
    #: no dates and no locale: always live (skips those checks on the hot path)
    plain: bool = field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self,
            "plain",
            self.locale is None and self.start == -math.inf and self.end == math.inf,
        )
        attrs: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "tags": list(self.tags),
            "categories": list(self.categories),
            "locale": self.locale,
            "campaign": self.campaign,
            "priority": self.priority,
            "weight": self.weight,
        }
        attrs.update(self.metadata)
        object.__setattr__(self, "attributes", attrs)

    def __repr__(self) -> str:
        return f"ContentItem(id={self.id!r}, source={self.source!r})"


def _strings(value: Any, where: str, errors: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # CSV cells and hand-written configs: "a|b" or "a"
        return tuple(s.strip() for s in value.split("|") if s.strip())
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    errors.append(f"{where}: expected a list of strings")
    return ()


def _time(value: Any, where: str, errors: list[str], default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        errors.append(f"{where}: expected an ISO-8601 date-time or epoch seconds")
        return default
    if isinstance(value, (int, float)):
        if math.isfinite(value):
            return float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.timestamp()
    errors.append(f"{where}: expected an ISO-8601 date-time or epoch seconds, got {value!r}")
    return default


def _number(value: Any, where: str, errors: list[str], default: float, *, integer: bool) -> Any:
    if value is None or value == "":
        return default
    if isinstance(value, str):  # CSV cells
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            errors.append(f"{where}: expected a number, got {value!r}")
            return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(f"{where}: expected a number")
        return default
    if integer and (not float(value).is_integer()):
        errors.append(f"{where}: expected an integer")
        return default
    if not math.isfinite(value) or (not integer and value < 0):
        errors.append(f"{where}: expected a finite number" + ("" if integer else " >= 0"))
        return default
    return int(value) if integer else float(value)


def parse_item(
    raw: Any,
    path: str,
    *,
    source: str = "container",
    operators: Any = None,
    saved_groups: Mapping[str, Any] | None = None,
) -> ContentItem:
    """Check and compile one raw item; ``ConfigError`` lists every problem, each starting
    with ``path`` and the item's id (``content[2] (id "hero-3").weight: expected a number``).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected an item object")
    item_id = _item_id(raw, path)
    where = f'{path} (id "{item_id}")'
    errors: list[str] = [f"{where}.{k}: unknown field" for k in raw if k not in _FIELDS]
    name = raw.get("name", item_id)
    if not isinstance(name, str):
        errors.append(f"{where}.name: expected a string")
        name = item_id
    type_ = raw.get("type")
    if type_ is not None and not isinstance(type_, str):
        errors.append(f"{where}.type: expected a string")
    locale = raw.get("locale") or None
    if locale is not None and not isinstance(locale, str):
        errors.append(f"{where}.locale: expected a string")
    campaign = raw.get("campaign") or None
    if campaign is not None and not isinstance(campaign, str):
        errors.append(f"{where}.campaign: expected a string")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        errors.append(f"{where}.metadata: expected an object")
        metadata = {}
    start, end = _window(raw, where, errors)
    priority = _number(raw.get("priority"), f"{where}.priority", errors, 0, integer=True)
    weight = _number(raw.get("weight"), f"{where}.weight", errors, 1.0, integer=False)
    condition = _condition(raw.get("condition"), where, errors, operators, saved_groups)
    tags = _strings(raw.get("tags"), f"{where}.tags", errors)
    categories = _strings(raw.get("categories"), f"{where}.categories", errors)
    if errors:
        raise ConfigError(errors)
    return ContentItem(
        id=item_id,
        name=name,
        type=type_,
        tags=tags,
        categories=categories,
        locale=locale,
        start=start,
        end=end,
        priority=priority,
        weight=weight,
        condition=condition,
        always=condition is ALWAYS,
        payload=raw.get("payload"),
        campaign=campaign,
        metadata=dict(metadata),
        source=source,
    )


def _item_id(raw: Mapping[str, Any], path: str) -> str:
    item_id = raw.get("id")
    if isinstance(item_id, (int, float)) and not isinstance(item_id, bool):
        item_id = str(item_id)  # CSV-free JSON feeds with numeric SKUs
    if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > _MAX_ID:
        raise ConfigError(f"{path}.id: expected a non-empty string of at most {_MAX_ID} chars")
    return item_id


def _window(raw: Mapping[str, Any], where: str, errors: list[str]) -> tuple[float, float]:
    """The item's ``start`` and ``end`` (open ends: infinite)."""
    start = _time(raw.get("start"), f"{where}.start", errors, -math.inf)
    end = _time(raw.get("end"), f"{where}.end", errors, math.inf)
    if start >= end:
        errors.append(f"{where}.end: must be later than start")
    return start, end

def _condition(
    condition_spec: Any,
    where: str,
    errors: list[str],
    operators: Any,
    saved_groups: Mapping[str, Any] | None,
) -> Condition:
    """The item's compiled condition (``ALWAYS`` without one); problems go to ``errors``."""
    condition: Condition = ALWAYS
    if condition_spec is not None and condition_spec != "":
        if isinstance(condition_spec, str):  # a CSV cell holds the condition as JSON
            import msgspec

            try:
                condition_spec = msgspec.json.decode(condition_spec)
            except msgspec.DecodeError:
                errors.append(f"{where}.condition: not valid JSON")
                condition_spec = None
        if condition_spec is not None:
            if not isinstance(condition_spec, Mapping):
                errors.append(f"{where}.condition: expected a condition object")
            else:
                try:
                    condition = compile_condition(
                        condition_spec,
                        path=f"{where}.condition",
                        operators=operators,
                        saved_groups=saved_groups,
                    )
                except ConfigError as exc:
                    errors.extend(exc.errors)
    return condition


def parse_items(
    raws: Iterable[Any],
    path: str,
    *,
    source: str = "container",
    operators: Any = None,
    saved_groups: Mapping[str, Any] | None = None,
) -> tuple[list[ContentItem], list[str]]:
    """Parse every item: the good ones, and the errors of the refused ones (a bad item never
    spoils the rest; a repeated id is refused)."""
    items: list[ContentItem] = []
    errors: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(raws):
        try:
            item = parse_item(
                raw, f"{path}[{i}]", source=source, operators=operators,
                saved_groups=saved_groups,
            )
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        if item.id in seen:
            errors.append(f'{path}[{i}] (id "{item.id}").id: duplicate item id')
            continue
        seen.add(item.id)
        items.append(item)
    return items, errors


@frozen(slots=True, eq=False)
class Catalog:
    """Every item known, by id, in order (the container's first, then each source's).

    ``version`` grows with each swap; placements cache their candidates per version.
    """

    items: Mapping[str, ContentItem]
    version: int = 0

    def get(self, item_id: str) -> ContentItem | None:
        """The item with this id, if any."""
        return self.items.get(item_id)

    def __len__(self) -> int:
        return len(self.items)


def build_catalog(
    parts: Iterable[Sequence[ContentItem]], version: int
) -> tuple[Catalog, list[str]]:
    """One catalog from several item lists in order; an id already taken by an earlier list
    is refused (reported) so a feed cannot silently replace a container item."""
    items: dict[str, ContentItem] = {}
    errors: list[str] = []
    for part in parts:
        for item in part:
            if item.id in items:
                errors.append(
                    f'{item.source}: item "{item.id}" is already defined by '
                    f"{items[item.id].source}; refused"
                )
                continue
            items[item.id] = item
    return Catalog(items=items, version=version), errors
