"""GA4 event parameters from Segment properties: e-commerce fields, items, page fields and
custom properties, within GA4's limits (see ``_ga4_rules``)."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from . import _ga4_rules as rules
from ._identity import get_path

__all__ = ["SCALARS", "event_params", "truncate_value"]

SCALARS = (str, int, float)
_ITEM_FIELDS = (
    ("item_id", ("product_id", "sku", "id")),
    ("item_name", ("name",)),
    ("item_brand", ("brand",)),
    ("item_category", ("category",)),
    ("item_variant", ("variant",)),
    ("price", ("price",)),
    ("quantity", ("quantity",)),
    ("coupon", ("coupon",)),
    ("index", ("position",)),
    ("affiliation", ("affiliation",)),
)
_STANDARD_PARAMS = (
    ("transaction_id", ("order_id", "transaction_id")),
    ("currency", ("currency",)),
    ("coupon", ("coupon",)),
    ("shipping", ("shipping",)),
    ("tax", ("tax",)),
    ("affiliation", ("affiliation",)),
    ("search_term", ("query", "search_term")),
    ("item_list_id", ("list_id",)),
    ("item_list_name", ("list_name",)),
    ("promotion_id", ("promotion_id",)),
    ("promotion_name", ("promotion_name",)),
    ("creative_name", ("creative",)),
    ("method", ("method",)),
)


def truncate_value(value: Any, limit: int) -> tuple[Any, bool]:
    """``value`` cut to ``limit`` characters (and whether it was); booleans become text."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit], True
    if isinstance(value, bool):
        return str(value).lower(), False
    return value, False


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _item(product: Mapping[str, Any], notes: list[str]) -> dict[str, Any] | None:
    item: dict[str, Any] = {}
    for target, keys in _ITEM_FIELDS:
        for key in keys:
            value = product.get(key)
            if isinstance(value, SCALARS) and value != "":
                value, cut = truncate_value(value, rules.MAX_VALUE)
                if cut:
                    notes.append("value_truncated")
                item[target] = value
                break
    return item if ("item_id" in item or "item_name" in item) else None


def event_params(
    ev: Mapping[str, Any],
    kind: str,
    source: str,
    notes: list[str],
    *,
    convert_names: bool,
    skip: Set[str],
    engagement_time_msec: int | None,
) -> dict[str, Any]:
    """The GA4 ``params`` of one Segment event, within GA4's limits.

    ``source`` is the Segment event name (empty for pages and screens); ``skip`` lists
    property names never sent as parameters (identifiers). Each limit applied is appended to
    ``notes`` (``too_many_params``, ``value_truncated``...).
    """
    props = ev.get("properties")
    props = props if isinstance(props, dict) else {}
    params: dict[str, Any] = {}
    used: set[str] = set()
    _standard_params(props, source, params, used)
    _items(props, source, params, used, notes)
    if kind == "page":
        _page_params(ev, props, params, used)
    _custom_params(props, params, used, skip, notes, convert_names=convert_names)
    if engagement_time_msec is not None:
        params["engagement_time_msec"] = engagement_time_msec
    return _within_limits(params, notes)


def _standard_params(
    props: Mapping[str, Any], source: str, params: dict[str, Any], used: set[str]
) -> None:
    """``value`` (from value, total, revenue or a single product's price) and GA4's standard
    parameters, each from the first Segment property that has it."""
    value = None
    for key in ("value", "total", "revenue"):
        value = _number(props.get(key))
        if value is not None:
            used.add(key)
            break
    if value is None and source in rules.SINGLE_PRODUCT_EVENTS:
        value = _number(props.get("price"))
    if value is not None:
        params["value"] = value
    for target, keys in _STANDARD_PARAMS:
        for key in keys:
            v = props.get(key)
            if isinstance(v, SCALARS) and v != "":
                params[target] = v
                used.add(key)
                break


def _items(
    props: Mapping[str, Any], source: str, params: dict[str, Any], used: set[str], notes: list[str]
) -> None:
    """GA4 ``items`` from Segment's ``products`` (or the properties of a one-product event)."""
    products = props.get("products")
    if isinstance(products, list):
        used.add("products")
        items = [i for p in products if isinstance(p, dict) and (i := _item(p, notes))]
        if len(items) > rules.MAX_ITEMS:
            items = items[: rules.MAX_ITEMS]
            notes.append("too_many_items")
        if items:
            params["items"] = items
    elif source in rules.SINGLE_PRODUCT_EVENTS:
        item = _item(props, notes)
        if item:
            params["items"] = [item]
        used.update(k for _, keys in _ITEM_FIELDS for k in keys)


def _page_params(
    ev: Mapping[str, Any], props: Mapping[str, Any], params: dict[str, Any], used: set[str]
) -> None:
    """A page view's location, title and referrer (properties first, then ``context.page``)."""
    page = get_path(ev, "context.page")
    page = page if isinstance(page, dict) else {}
    for target, key in (
        ("page_location", "url"), ("page_title", "title"), ("page_referrer", "referrer")
    ):  # fmt: skip
        v = props.get(key) or page.get(key)
        if isinstance(v, str) and v:
            params[target] = v
            used.add(key)


def _custom_params(
    props: Mapping[str, Any],
    params: dict[str, Any],
    used: set[str],
    skip: Set[str],
    notes: list[str],
    *,
    convert_names: bool,
) -> None:
    """Every other scalar property, under a valid (optionally snake_cased) parameter name."""
    for key, v in props.items():
        if key in used or key in skip:
            continue
        if not isinstance(v, (*SCALARS, bool)):
            notes.append("param_not_scalar")
            continue
        pname = rules.snake_case(key) if convert_names else key
        if rules.param_name_problem(pname) or pname in params:
            notes.append("invalid_param_name")
            continue
        params[pname] = v


def _within_limits(params: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """``params`` cut to GA4's parameter count and value lengths."""
    if len(params) > rules.MAX_PARAMS:
        notes.append("too_many_params")
        params = dict(list(params.items())[: rules.MAX_PARAMS])
    for pname, v in params.items():
        if pname == "items":
            continue
        limit = rules.VALUE_LIMITS.get(pname, rules.MAX_VALUE)
        new, cut = truncate_value(v, limit)
        if cut:
            notes.append("value_truncated")
        params[pname] = new
    return params
