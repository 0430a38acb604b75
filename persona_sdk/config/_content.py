"""Container tables of personalization: ``[content_sources.*]`` and ``[placements.*]``.

Items themselves (``[[content]]``) are checked by ``_catalog.parse_item``, the same check
feed items get, so their errors name the item.
"""

from __future__ import annotations

import re
from typing import Any

from attrs import Factory, frozen

__all__ = [
    "BanditConfig",
    "CapConfig",
    "ContextConfig",
    "PlacementConfig",
    "ScoringRule",
    "SourceConfig",
    "parse_window",
]

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_window(value: Any) -> float:
    """Seconds from a number or a duration string (``"90s"``, ``"30m"``, ``"12h"``,
    ``"1d"``, ``"1w"``); ``ValueError`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _WINDOW.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f'expected seconds or a duration like "12h" or "1d", got {value!r}')
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError("expected a positive, finite duration")
    return seconds


@frozen(kw_only=True)
class SourceConfig:
    """A content source (``[content_sources.<name>]``).

    Usage::

        [content_sources.cms]
        kind = "http"                 # "http", "file", or a plugin's entry point name
        url = "https://cms.example.com/export/promos.json"
        format = "json"               # or "csv" (default: by the URL's or path's extension)
        interval = 60                 # seconds between polls
    """

    kind: str = "http"
    url: str | None = None
    path: str | None = None
    format: str | None = None
    interval: float = 60.0
    timeout: float = 5.0
    max_bytes: int = 16 * 1024 * 1024
    headers: dict[str, str] = Factory(dict)
    #: options handed to a plugin kind's factory
    options: dict[str, Any] = Factory(dict)


@frozen(kw_only=True)
class CapConfig:
    """A frequency cap: at most ``limit`` exposures per visitor in a sliding ``window``.

    ``per`` says what is counted: ``item`` (each item, wherever it shows), ``placement``
    (anything shown in this placement) or ``campaign`` (items sharing a ``campaign``).

    Usage::

        caps = [{ per = "item", limit = 3, window = "1d" }]
    """

    limit: int
    #: seconds (a number, or ``"90s"``, ``"30m"``, ``"12h"``, ``"1d"``, ``"1w"``)
    window: Any = 86400.0
    per: str = "item"


@frozen(kw_only=True)
class ScoringRule:
    """One rule of a ``score`` placement: adds ``points`` to an item.

    - ``when`` (a condition over the visitor's attributes) and ``item`` (a condition over the
      item's attributes): points when both hold (a missing one holds).
    - ``attribute`` (a visitor attribute path: a trait, a computed trait such as a category
      affinity, or request context) with ``field`` (an item attribute): when the attribute is
      an object (``{"shoes": 0.7}``), ``points`` times the sum of its values for the item's
      field values; otherwise ``points`` per value in common.

    Usage::

        scoring = [
          { attribute = "category_affinity", field = "categories", points = 10 },
          { when = { device = "mobile" }, item = { tags = "mobile" }, points = 2 },
        ]
    """

    points: float = 1.0
    when: dict[str, Any] | None = None
    item: dict[str, Any] | None = None
    attribute: str | None = None
    field: str | None = None


@frozen(kw_only=True)
class BanditConfig:
    """How a ``bandit`` placement learns (Thompson sampling over Beta posteriors).

    ``reward`` is ``"click"`` (``Promotion Clicked``) or the name of a conversion event
    (credited to the items the visitor was shown in the placement). ``segments`` splits the
    statistics by the first listed segment the visitor is in (others share ``*``).
    Statistics are read from the counter store at most every ``refresh`` seconds, and
    ``samples`` posterior draws per item are made at each refresh.
    """

    reward: str = "click"
    segments: list[str] = Factory(list)
    prior: tuple[float, float] = (1.0, 1.0)
    samples: int = 64
    refresh: float = 1.0


@frozen(kw_only=True)
class PlacementConfig:
    """A placement (``[placements.<name>]``): where content shows and how it is chosen.

    Usage::

        [placements.home-hero]
        strategy = "bandit"               # first_match | weighted | score | bandit
        items = ["hero-1", "hero-2"]      # item ids, or `select` over the whole catalog
        n = 1
        holdout = 0.1                     # a sticky share that gets the fallback
        fallback = "hero-default"
        caps = [{ per = "item", limit = 3, window = "1d" }]
    """

    strategy: str = "first_match"
    items: list[str] | None = None
    #: a condition over item attributes choosing candidates from the catalog (feeds too)
    select: dict[str, Any] | None = None
    n: int = 1
    holdout: float = 0.0
    fallback: str | None = None
    caps: list[CapConfig] = Factory(list)
    scoring: list[ScoringRule] = Factory(list)
    bandit: BanditConfig = Factory(BanditConfig)


@frozen(kw_only=True)
class ContextConfig:
    """Real-time context (``[context]``): enrichers that add attributes for content
    conditions and scores, in order.

    Usage::

        [context]
        enrichers = ["time", "device", "geo", "utm", "weather"]
        options = { weather = { url = "https://weather.example/api?city={city}" } }
    """

    enrichers: list[str] = Factory(list)
    #: options per plugin enricher, by name
    options: dict[str, dict[str, Any]] = Factory(dict)
