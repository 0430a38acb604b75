"""GA4 Measurement Protocol limits and names, checked locally.

GA4 answers 2xx to any payload and silently drops what breaks its rules, so the ``ga4``
destination checks them before sending. The limits (Measurement Protocol "Limitations"):
at most 25 events per request, 25 parameters per event, 25 user properties; event and
parameter names at most 40 characters, letters/digits/underscores, starting with a letter;
parameter values at most 100 characters (``page_location`` 1,000, ``page_title`` 300,
``page_referrer`` 420); user property names at most 24 characters and values at most 36;
``user_id`` at most 256 characters; a request body under 130 kB; events back-dated at most
72 hours. Reserved event names, parameter and user-property prefixes are refused.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ECOMMERCE_EVENTS",
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "MAX_EVENT_AGE",
    "MAX_ITEMS",
    "MAX_NAME",
    "MAX_PARAMS",
    "MAX_USER_ID",
    "MAX_USER_PROPERTIES",
    "MAX_USER_PROPERTY_NAME",
    "MAX_USER_PROPERTY_VALUE",
    "MAX_VALUE",
    "SINGLE_PRODUCT_EVENTS",
    "VALUE_LIMITS",
    "event_name_problem",
    "param_name_problem",
    "snake_case",
    "user_property_name_problem",
]

MAX_EVENTS: Final = 25
MAX_PARAMS: Final = 25
MAX_NAME: Final = 40
MAX_VALUE: Final = 100
MAX_ITEMS: Final = 200
MAX_USER_PROPERTIES: Final = 25
MAX_USER_PROPERTY_NAME: Final = 24
MAX_USER_PROPERTY_VALUE: Final = 36
MAX_USER_ID: Final = 256
MAX_BODY_BYTES: Final = 130_000
MAX_EVENT_AGE: Final = 72 * 3600.0
#: Parameters allowed longer values than ``MAX_VALUE``.
VALUE_LIMITS: Final = {"page_location": 1000, "page_title": 300, "page_referrer": 420}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NOT_WORD = re.compile(r"[^0-9A-Za-z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

RESERVED_EVENT_NAMES: Final = frozenset({
    "ad_activeview", "ad_click", "ad_exposure", "ad_impression", "ad_query", "ad_reward",
    "adunit_exposure", "app_background", "app_clear_data", "app_exception", "app_install",
    "app_remove", "app_store_refund", "app_store_subscription_cancel",
    "app_store_subscription_convert", "app_store_subscription_renew", "app_update",
    "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update",
    "dynamic_link_first_open", "error", "firebase_campaign", "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss", "firebase_in_app_message_impression", "first_open",
    "first_visit", "in_app_purchase", "notification_dismiss", "notification_foreground",
    "notification_open", "notification_receive", "os_update", "session_start",
    "session_start_with_rollout", "user_engagement",
})  # fmt: skip
RESERVED_PARAM_NAMES: Final = frozenset({"firebase_conversion"})
RESERVED_PREFIXES: Final = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_USER_PROPERTIES: Final = frozenset({
    "first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id",
    "first_open_after_install",
})  # fmt: skip

#: Segment e-commerce spec (v2) event names and their GA4 recommended events.
ECOMMERCE_EVENTS: Final = {
    "Products Searched": "search",
    "Product List Viewed": "view_item_list",
    "Product List Filtered": "view_item_list",
    "Product Clicked": "select_item",
    "Product Viewed": "view_item",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Product Added to Wishlist": "add_to_wishlist",
    "Product Shared": "share",
    "Cart Viewed": "view_cart",
    "Checkout Started": "begin_checkout",
    "Payment Info Entered": "add_payment_info",
    "Shipping Info Entered": "add_shipping_info",
    "Order Completed": "purchase",
    "Order Refunded": "refund",
    "Promotion Viewed": "view_promotion",
    "Promotion Clicked": "select_promotion",
    "Signed Up": "sign_up",
    "Signed In": "login",
    "Lead Generated": "generate_lead",
}
#: Segment events whose properties describe one product (they become one GA4 item).
SINGLE_PRODUCT_EVENTS: Final = frozenset({
    "Product Clicked", "Product Viewed", "Product Added", "Product Removed",
    "Product Added to Wishlist", "Product Shared",
})  # fmt: skip


def snake_case(name: str) -> str:
    """``"Button Clicked"`` -> ``"button_clicked"``, ``"addToCart"`` -> ``"add_to_cart"``."""
    return _NOT_WORD.sub("_", _CAMEL.sub("_", name)).strip("_").lower()


def _name_problem(name: str, limit: int) -> str | None:
    if not name:
        return "empty name"
    if len(name) > limit:
        return f"{name!r} is longer than {limit} characters"
    if not _NAME.fullmatch(name):
        return f"{name!r} must start with a letter and hold only letters, digits and _"
    return None


def event_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid GA4 event name, or ``None``."""
    problem = _name_problem(name, MAX_NAME)
    if problem:
        return problem
    if name in RESERVED_EVENT_NAMES or name.startswith(RESERVED_PREFIXES):
        return f"{name!r} is reserved"
    return None


def param_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid GA4 parameter name, or ``None``."""
    if name.startswith(RESERVED_PREFIXES) or name in RESERVED_PARAM_NAMES:
        return f"{name!r} is reserved"
    return _name_problem(name, MAX_NAME)


def user_property_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid GA4 user property name, or ``None``."""
    if name in RESERVED_USER_PROPERTIES or name.startswith(RESERVED_PREFIXES):
        return f"{name!r} is reserved"
    return _name_problem(name, MAX_USER_PROPERTY_NAME)
