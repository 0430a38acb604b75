"""PII policy values a destination receives (``pii=`` of its factory): the container's ``[pii]``."""

from __future__ import annotations

from attrs import Factory, frozen

from .._strenum import StrEnum

__all__ = ["PiiAction", "PiiConfig", "PiiKind", "PiiRules"]


class PiiKind(StrEnum):
    """What a personal field holds; it selects the normalization applied before hashing."""

    EMAIL = "email"
    PHONE = "phone"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    NAME = "name"  #: a full name: normalized like a first or last name
    STREET = "street"
    CITY = "city"
    STATE = "state"
    ZIP = "zip"
    COUNTRY = "country"
    DOB = "dob"  #: date of birth
    GENDER = "gender"
    EXTERNAL_ID = "external_id"  #: a user id; hashed as given (trimmed)
    OTHER = "other"  #: any other value: trimmed and lower-cased, then hashed


class PiiAction(StrEnum):
    """What happens to configured PII fields before an event leaves the process."""

    HASH = "hash"  #: normalize per the destination's rules, then SHA-256 (hex)
    REMOVE = "remove"  #: delete the field
    KEEP = "keep"  #: send as is (an explicit, per-destination opt-out)


class PiiRules(StrEnum):
    """Whose normalization rules apply before hashing (they differ: phone format, Gmail dots)."""

    META = "meta"
    GOOGLE = "google"


@frozen(kw_only=True)
class PiiConfig:
    """Which event fields are personal data, hashed or removed before they leave the process.

    Field paths are dotted Segment paths: ``traits.email``, ``context.traits.phone``,
    ``properties.products.*.email`` (``*`` matches every key or list element at that level).

    Usage::

        [pii]
        truncate_ip = true            # IPv4 keeps /24, IPv6 keeps /48
        phone_country_code = "33"     # for numbers written without their country code
        remove = ["context.userAgent"]

        [pii.fields]
        "traits.email" = "email"
        "context.traits.phone" = "phone"

    Destinations may override ``action``, ``truncate_ip`` and ``remove`` in their options
    (``pii = "remove"``), and add fields with ``pii_fields``.
    """

    fields: dict[str, PiiKind] = Factory(dict)
    action: PiiAction = PiiAction.HASH
    truncate_ip: bool = False
    remove: list[str] = Factory(list)
    phone_country_code: str | None = None
