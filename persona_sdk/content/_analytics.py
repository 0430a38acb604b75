"""Content analytics: exposures, clicks and conversions by item, placement, strategy, segment,
country and hour, with the holdout uplift, from the events the tag layer already wrote.

The input is Segment-shaped events: the JSONL files of a ``jsonl`` destination (rotated files
included, in order) or any iterable of event dicts. Exposures are ``Promotion Viewed``, clicks
``Promotion Clicked``; a conversion is the named event from a visitor after an exposure in the
placement, counted once per visitor and placement (the first conversion after the first
exposure). Uplift compares the conversion rate of the placement's exposed visitors outside
and inside its holdout, with a normal-approximation interval on the difference.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
from attrs import Factory, frozen

from ._exposures import CLICK_EVENT, EXPOSURE_EVENT

__all__ = ["ContentReport", "content_report", "read_events"]

DIMENSIONS = ("placement", "item", "strategy", "segment", "country", "hour", "holdout")
_Z = {0.90: 1.6449, 0.95: 1.9600, 0.99: 2.5758}


def read_events(paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
    """Events from JSONL files (a directory means its ``*.jsonl`` files, oldest first);
    unreadable lines are skipped (a file being written may end with a partial line)."""
    decoder = msgspec.json.Decoder()
    for path in paths:
        p = Path(path)
        files = sorted(p.glob("*.jsonl"), key=lambda f: f.stat().st_mtime) if p.is_dir() else [p]
        for file in files:
            with open(file, "rb") as fh:
                for line in fh:
                    try:
                        event = decoder.decode(line)
                    except msgspec.DecodeError:
                        continue
                    if isinstance(event, dict):
                        yield event


def _when(event: Mapping[str, Any]) -> float:
    ts = event.get("timestamp") or event.get("receivedAt")
    if isinstance(ts, (int, float)):
        return float(ts)
    if isinstance(ts, str):
        try:
            return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def _who(event: Mapping[str, Any]) -> str | None:
    who = event.get("userId") or event.get("anonymousId")
    return who if isinstance(who, str) else None


def _country(event: Mapping[str, Any]) -> str | None:
    ctx = event.get("context")
    if isinstance(ctx, Mapping):
        loc = ctx.get("location")
        if isinstance(loc, Mapping) and isinstance(loc.get("country"), str):
            return str(loc["country"])
    props = event.get("properties")
    if isinstance(props, Mapping) and isinstance(props.get("country"), str):
        return str(props["country"])
    return None


@frozen
class ContentReport:
    """What ``content_report`` returns: ``rows`` (one per group of ``by``) and ``uplift``
    (one per placement with a holdout). Each row holds the ``by`` dimensions and
    ``exposures``, ``clicks``, ``ctr``, ``conversions``, ``conversion_rate``.

    ``uplift_by_segment`` and ``uplift_by_country`` break each placement's uplift down by
    the visitor's bandit segment and country (as their first exposure in the placement
    carried them), each with its own interval; a group without both treated and held
    visitors has none."""

    by: tuple[str, ...]
    rows: list[dict[str, Any]]
    uplift: list[dict[str, Any]]
    uplift_by_segment: list[dict[str, Any]] = Factory(list)
    uplift_by_country: list[dict[str, Any]] = Factory(list)

    def to_text(self) -> str:
        """A plain-text table (what a CLI prints)."""
        cols = [*self.by, "exposures", "clicks", "ctr", "conversions", "conversion_rate"]
        lines = ["  ".join(f"{c:>14}" for c in cols)]
        for row in self.rows:
            cells = []
            for c in cols:
                v = row.get(c)
                cells.append(f"{v:>14.4f}" if isinstance(v, float) else f"{v!s:>14}")
            lines.append("  ".join(cells))
        for u in [*self.uplift, *self.uplift_by_segment, *self.uplift_by_country]:
            lines.append(
                f"uplift {uplift_label(u)}: {u['treated_rate']:.4f} vs holdout "
                f"{u['holdout_rate']:.4f} (diff {u['diff']:+.4f}, "
                f"{u['level']:.0%} interval {u['diff_low']:+.4f} to {u['diff_high']:+.4f})"
            )
        return "\n".join(lines)


def uplift_label(row: Mapping[str, Any]) -> str:
    """``hero``, ``hero segment=vip`` or ``hero country=FR``: an uplift row's group."""
    extra = [f"{d}={row[d]}" for d in ("segment", "country") if d in row]
    return " ".join([str(row["placement"]), *extra])


def content_report(
    events: Iterable[Mapping[str, Any]] | str | os.PathLike[str] | Sequence[str],
    *,
    by: Sequence[str] = ("placement", "item"),
    conversion_event: str = "Order Completed",
    level: float = 0.95,
) -> ContentReport:
    """Aggregate content exposures, clicks and conversions.

    Args:
        events: event dicts, or JSONL file/directory paths (what a ``jsonl`` destination
            writes).
        by: dimensions among ``placement``, ``item``, ``strategy``, ``segment``, ``country``
            (``context.location.country``), ``hour`` (UTC, ``YYYY-MM-DDTHH``) and ``holdout``.
        conversion_event: the event that counts as a conversion.
        level: the interval's confidence level (0.90, 0.95 or 0.99).

    Returns:
        a ``ContentReport``.

    .. versionadded:: 0.2.0
    """
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; expected some of {DIMENSIONS}")
    if level not in _Z:
        raise ValueError(f"level: expected one of {sorted(_Z)}")
    groups, exposed, conversions = _tally(_event_stream(events), by, conversion_event)
    credited = _credit(groups, exposed, conversions)
    rows = _rows(groups, by)
    return ContentReport(
        tuple(by),
        rows,
        _uplift(exposed, credited, level, None),
        _uplift(exposed, credited, level, "segment"),
        _uplift(exposed, credited, level, "country"),
    )


#: group key -> row (the dimensions and the counts)
_Groups = dict[tuple[Any, ...], dict[str, Any]]
#: visitor -> placement -> (first exposure time, group key, holdout, segment, country)
_Exposed = dict[str, dict[str, tuple[float, tuple[Any, ...], bool, Any, Any]]]


def _event_stream(
    events: Iterable[Mapping[str, Any]] | str | os.PathLike[str] | Sequence[str],
) -> Iterable[Mapping[str, Any]]:
    """The events themselves, or read from the JSONL paths given."""
    if isinstance(events, (str, os.PathLike)):
        return read_events([events])
    if isinstance(events, Sequence) and events and isinstance(events[0], str):
        return read_events([str(e) for e in events])
    return events  # type: ignore[return-value]


def _tally(
    stream: Iterable[Mapping[str, Any]], by: Sequence[str], conversion_event: str
) -> tuple[_Groups, _Exposed, list[tuple[str, float]]]:
    """Exposures and clicks counted per group, each visitor's first exposure per
    placement, and the conversions (visitor, time)."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    # visitor -> placement -> (first exposure time, group key, holdout, segment, country)
    exposed: dict[str, dict[str, tuple[float, tuple[Any, ...], bool, Any, Any]]] = {}
    conversions: list[tuple[str, float]] = []
    for event in stream:
        if event.get("type") not in (None, "track"):
            continue
        name = event.get("event")
        if name == conversion_event:
            who = _who(event)
            if who is not None:
                conversions.append((who, _when(event)))
            continue
        if name not in (EXPOSURE_EVENT, CLICK_EVENT):
            continue
        props = event.get("properties")
        if not isinstance(props, Mapping) or not isinstance(props.get("placement"), str):
            continue
        when = _when(event)
        placement = str(props["placement"])
        holdout = bool(props.get("holdout"))
        dims: dict[str, Any] = {
            "placement": props.get("placement"),
            "item": props.get("promotion_id"),
            "strategy": props.get("strategy"),
            "segment": props.get("segment"),
            "country": _country(event),
            "hour": datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H"),
            "holdout": bool(props.get("holdout")),
        }
        key = tuple(dims[d] for d in by)
        row = groups.get(key)
        if row is None:
            row = groups[key] = {
                **{d: dims[d] for d in by}, "exposures": 0, "clicks": 0, "conversions": 0
            }
        if name == EXPOSURE_EVENT:
            row["exposures"] += 1
            who = _who(event)
            if who is not None:
                seen = exposed.setdefault(who, {})
                prior = seen.get(placement)
                if prior is None or when < prior[0]:
                    seen[placement] = (when, key, holdout, dims["segment"], dims["country"])
        else:
            row["clicks"] += 1
    return groups, exposed, conversions


def _credit(
    groups: _Groups, exposed: _Exposed, conversions: list[tuple[str, float]]
) -> set[tuple[str, str]]:
    """Count conversions into ``groups``; returns the (visitor, placement) pairs credited."""
    # a conversion counts once per visitor and placement, after the first exposure
    credited: set[tuple[str, str]] = set()
    for who, when in sorted(conversions, key=lambda c: c[1]):
        for placement, (first_seen, key, *_) in exposed.get(who, {}).items():
            if when >= first_seen and (who, placement) not in credited:
                credited.add((who, placement))
                groups[key]["conversions"] += 1
    return credited


def _rows(groups: _Groups, by: Sequence[str]) -> list[dict[str, Any]]:
    """The groups with their rates, sorted by the dimensions."""
    rows = []
    for row in groups.values():
        row["ctr"] = row["clicks"] / row["exposures"] if row["exposures"] else 0.0
        row["conversion_rate"] = (
            row["conversions"] / row["exposures"] if row["exposures"] else 0.0
        )
        rows.append(row)
    rows.sort(key=lambda r: tuple(str(r[d]) for d in by))
    return rows


def _uplift(
    exposed: Mapping[str, Mapping[str, tuple[float, Any, bool, Any, Any]]],
    credited: set[tuple[str, str]],
    level: float,
    split: str | None,
) -> list[dict[str, Any]]:
    # (placement, segment or country) -> [treated, treated conv, held, held conv]
    counts: dict[tuple[str, Any], list[int]] = {}
    for who, placements in exposed.items():
        for placement, (_, _, holdout, segment, country) in placements.items():
            group = segment if split == "segment" else country if split == "country" else None
            c = counts.setdefault((placement, group), [0, 0, 0, 0])
            hit = (who, placement) in credited
            if holdout:
                c[2] += 1
                c[3] += hit
            else:
                c[0] += 1
                c[1] += hit
    out = []
    z = _Z[level]
    for (placement, group), (nt, ct, nh, ch) in sorted(
        counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))
    ):
        if not nt or not nh:
            continue
        pt, ph = ct / nt, ch / nh
        se = math.sqrt(pt * (1 - pt) / nt + ph * (1 - ph) / nh)
        diff = pt - ph
        out.append(
            {
                "placement": placement,
                **({split: group} if split else {}),
                "treated_visitors": nt,
                "holdout_visitors": nh,
                "treated_rate": pt,
                "holdout_rate": ph,
                "diff": diff,
                "diff_low": diff - z * se,
                "diff_high": diff + z * se,
                "uplift": diff / ph if ph else None,
                "level": level,
            }
        )
    return out
