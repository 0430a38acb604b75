"""``persona.stats()`` as Prometheus metrics, through the official ``prometheus_client``.

Every number ``stats()`` reports becomes a sample, read at scrape time (nothing is counted
twice, nothing runs on the request path). Destinations become a ``destination`` label, drop
and reject reasons a ``reason`` label, breaker states a ``state`` label; the rest of the tree
(profiles, decisions, flags, tracking plan, collector) is flattened into metric names
(``persona_profiles_breaker_opened``). Monotonic counts are counters (``_total``); levels
(queued, spooled, in flight, entries) are gauges.

Install with ``pip install 'persona-sdk-py[metrics]'``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

    from ..client import Persona
    from ._collector import Collector

    Family = CounterMetricFamily | GaugeMetricFamily

__all__ = ["CONTENT_TYPE", "metrics_text"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: values that are levels, not counts (everything else numeric is a counter)
_GAUGES = frozenset(
    {"queued", "spooled", "in_flight", "l1_entries", "visitors", "segment_memory", "aliases",
     "remembered", "ready", "window_calls", "window_failures", "window_slow", "held_until"}
)
_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _metric_name(*parts: str) -> str:
    return "persona_" + "_".join(_NAME.sub("_", p) for p in parts if p)


def _families(stats: Mapping[str, Any]) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    labelled: dict[tuple[str, tuple[str, ...]], Family] = {}

    def family(name: str, labels: tuple[str, ...], gauge: bool) -> Family:
        key = (name, labels)
        found = labelled.get(key)
        if found is None:
            maker: Callable[..., Family] = GaugeMetricFamily if gauge else CounterMetricFamily
            found = maker(name, name.removeprefix("persona_").replace("_", " "), labels=labels)
            labelled[key] = found
        return found

    def add(path: tuple[str, ...], value: Any, labels: dict[str, str]) -> None:
        leaf = path[-1]
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, float)):
            gauge = leaf in _GAUGES
            family(_metric_name(*path), tuple(labels), gauge).add_metric(
                list(labels.values()), float(value)
            )
        elif isinstance(value, str) and leaf in ("breaker", "state"):
            family(_metric_name(*path), (*labels, "state"), True).add_metric(
                [*labels.values(), value], 1.0
            )
        elif isinstance(value, Mapping):
            if leaf in ("dropped", "rejected", "fallbacks", "filtered", "violations"):
                label = "event" if leaf == "violations" else "reason"
                for reason, count in value.items():
                    if isinstance(count, (int, float)) and not isinstance(count, bool):
                        family(_metric_name(*path), (*labels, label), False).add_metric(
                            [*labels.values(), str(reason)], float(count)
                        )
                return
            for key, inner in value.items():
                add((*path, str(key)), inner, labels)

    for name, row in (stats.get("destinations") or {}).items():
        if isinstance(row, Mapping):
            for key, value in row.items():
                if key.endswith("_total"):  # the sum of a reason-labelled family
                    continue
                add(("destination", str(key)), value, {"destination": str(name)})
    for section, value in stats.items():
        if section != "destinations":
            add((section,), value, {})
    for metric in labelled.values():
        if metric.type == "counter":
            metric.name = metric.name.removesuffix("_total")
        yield metric


def metrics_text(persona: Persona, collector: Collector | None = None) -> bytes:
    """The Prometheus text exposition of ``persona.stats()`` (and ``collector.stats()``,
    when given, under ``persona_collector_*``)."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "Prometheus metrics need prometheus_client: pip install 'persona-sdk-py[metrics]'"
        ) from None
    stats = dict(persona.stats())
    if collector is not None:
        stats["collector"] = collector.stats()

    class _Snapshot:
        def collect(self) -> Iterator[Metric]:
            return _families(stats)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    return generate_latest(registry)
