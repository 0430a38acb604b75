"""``persona report``: an A/B test's exposures against a conversion event, per variation.

Read from JSON lines (the jsonl destination's files, or any Segment-shaped export): each
visitor (``userId``, else ``anonymousId``) counts in the first variation they were exposed to;
they converted when a conversion event of theirs comes at or after that exposure. Visitors
exposed to more than one variation are left out and counted. Per variation: visitors,
conversions, rate with a 95% Wilson interval; against the control, the relative uplift with a
95% interval (delta method on the log of the rate ratio) and a two-proportion z-test; over all
variations, a sample-ratio-mismatch chi-square test against the expected weights.
"""

import glob
import json
import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from statistics import NormalDist
from typing import Annotated, Any

import typer
from rich.table import Table

from ._app import JsonFlag, app, emit_json, fail, out

Z95 = NormalDist().inv_cdf(0.975)


def _events(patterns: Iterable[str]) -> Iterator[dict[str, Any]]:
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) or [pattern]
        for path in paths:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(doc, dict):
                        yield doc


def _when(doc: dict[str, Any]) -> float:
    stamp = doc.get("timestamp") or doc.get("receivedAt") or ""
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def experiment_report(
    events: Iterable[dict[str, Any]],
    experiment: str,
    conversion: str,
    *,
    exposure_event: str = "Experiment Viewed",
    control: str | None = None,
    weights: list[float] | None = None,
) -> dict[str, Any]:
    """The report as a dict (what ``--json`` prints)."""
    first: dict[str, tuple[float, str]] = {}
    mixed: set[str] = set()
    conversions: dict[str, list[float]] = {}
    for doc in events:
        who = doc.get("userId") or doc.get("anonymousId")
        if not who:
            continue
        name = doc.get("event")
        props = doc.get("properties") or {}
        if name == exposure_event and props.get("experiment_id") == experiment:
            variation = str(props.get("variation_id"))
            when = _when(doc)
            seen = first.get(who)
            if seen is None or when < seen[0]:
                if seen is not None and seen[1] != variation:
                    mixed.add(who)
                first[who] = (when, variation)
            elif seen[1] != variation:
                mixed.add(who)
        elif name == conversion:
            conversions.setdefault(who, []).append(_when(doc))
    counts: dict[str, list[int]] = {}
    for who, (when, variation) in first.items():
        if who in mixed:
            continue
        row = counts.setdefault(variation, [0, 0])
        row[0] += 1
        if any(t >= when for t in conversions.get(who, ())):
            row[1] += 1
    names = sorted(counts, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))
    base = control if control is not None else (names[0] if names else None)
    rows = {}
    for name in names:
        n, c = counts[name]
        rows[name] = {"visitors": n, "conversions": c, "rate": c / n if n else 0.0,
                      "rate_interval": _wilson(c, n)}
        if base is not None and name != base and base in counts:
            rows[name].update(_compare(counts[base], counts[name]))
    return {
        "experiment": experiment, "conversion": conversion, "control": base,
        "variations": rows, "excluded_multiple_variations": len(mixed),
        "srm": _srm([counts[n][0] for n in names], weights),
    }


def _wilson(c: int, n: int) -> list[float]:
    if n == 0:
        return [0.0, 0.0]
    p = c / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _compare(control: list[int], treatment: list[int]) -> dict[str, Any]:
    (nc, cc), (nt, ct) = control, treatment
    pc, pt = (cc / nc if nc else 0.0), (ct / nt if nt else 0.0)
    out: dict[str, Any] = {"uplift": None, "uplift_interval": None, "p_value": None}
    if pc > 0 and pt > 0:
        ratio = pt / pc
        se = math.sqrt((1 - pt) / (nt * pt) + (1 - pc) / (nc * pc))
        out["uplift"] = ratio - 1
        out["uplift_interval"] = [math.exp(math.log(ratio) - Z95 * se) - 1,
                                  math.exp(math.log(ratio) + Z95 * se) - 1]
    pooled = (cc + ct) / (nc + nt) if nc + nt else 0.0
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt)) if nc and nt else 0.0
    if se0 > 0:
        z = (pt - pc) / se0
        out["p_value"] = 2 * (1 - NormalDist().cdf(abs(z)))
    return out


def _srm(observed: list[int], weights: list[float] | None) -> dict[str, Any]:
    total = sum(observed)
    if len(observed) < 2 or total == 0:
        return {"chi_square": None, "p_value": None, "mismatch": False}
    shares = weights if weights is not None else [1.0] * len(observed)
    if len(shares) != len(observed):
        raise ValueError(f"--weights: {len(shares)} weights for {len(observed)} variations")
    scale = total / sum(shares)
    chi = sum((o - w * scale) ** 2 / (w * scale) for o, w in zip(observed, shares, strict=True))
    from scipy.stats import chi2

    p = float(chi2.sf(chi, len(observed) - 1))
    # the threshold A/B tools use for a sample ratio mismatch alarm
    return {"chi_square": chi, "p_value": p, "mismatch": p < 0.001}


def write_chart(report: dict[str, Any], path: Path) -> None:
    """A bar chart of each variation's conversion rate with its interval: PNG, SVG or HTML
    (the SVG inline in a self-contained page)."""
    names = list(report["variations"])
    rows = [report["variations"][n] for n in names]
    rates = [row["rate"] * 100 for row in rows]
    errors = ([r - row["rate_interval"][0] * 100 for r, row in zip(rates, rows, strict=True)],
              [row["rate_interval"][1] * 100 - r for r, row in zip(rates, rows, strict=True)])
    labels = [f"{n}\n(n={row['visitors']})" for n, row in zip(names, rows, strict=True)]
    _save_bars(labels, rates, errors, f"{report['conversion']} rate (%)",
               f"{report['experiment']}: conversion by variation (95% interval)", path)


def _save_bars(
    labels: list[str],
    values: list[float],
    errors: tuple[list[float], list[float]] | None,
    ylabel: str,
    title: str,
    path: Path,
) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 3.5), dpi=100)
    ax.bar(labels, values, yerr=list(errors) if errors else None, capsize=6, color="#4c78a8")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    suffix = path.suffix.lower()
    if suffix == ".html":
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        path.write_text(f"<!doctype html><meta charset='utf-8'><title>{title}</title>"
                        f"<h1>{title}</h1>{buf.getvalue()}", encoding="utf-8")
    else:
        fig.savefig(path, format=suffix.lstrip(".") or "png")
    plt.close(fig)


@app.command()
def report(
    events: Annotated[list[str], typer.Argument(help="JSONL files or glob patterns.")],
    experiment: Annotated[str | None, typer.Option(
        help="The experiment key (experiment_id).")] = None,
    conversion: Annotated[str, typer.Option(help="The conversion event name.")] = (
        "Order Completed"),
    placements: Annotated[bool, typer.Option(
        "--placements", help="Report content placements instead of an experiment.")] = False,
    attribution: Annotated[bool, typer.Option(
        "--attribution", help="Report attribution: the conversion's credit per channel by "
                              "the first, last, linear and position models.")] = False,
    value: Annotated[str, typer.Option(help="With --attribution: the conversion's property "
                                            "holding its value (1 when absent).")] = "revenue",
    by: Annotated[str, typer.Option(help="With --placements: dimensions, comma-separated "
                                         "(placement,item,strategy,segment,country,hour,"
                                         "holdout).")] = "placement,item",
    control: Annotated[str | None, typer.Option(help="The control variation (default: "
                                                     "the first).")] = None,
    weights: Annotated[str | None, typer.Option(help="Expected traffic weights, "
                                                     "comma-separated (default: equal).")] = None,
    exposure_event: Annotated[str, typer.Option()] = "Experiment Viewed",
    chart: Annotated[Path | None, typer.Option(help="Write a chart: .png, .svg or .html.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Report an A/B test (or content placements) from JSON lines, with a chart.

    For an experiment: visitors and conversions per variation, rates with 95% intervals, the
    uplift against the control with its interval and p-value, a sample-ratio-mismatch check.
    With --placements: exposures, clicks, CTR and conversions per placement and item (or
    --by other dimensions), and each placement's uplift against its holdout. With
    --attribution: each channel's credit for the conversions by four models."""
    if placements:
        _placements_report(events, conversion, by, chart, as_json)
        return
    if attribution:
        _attribution_report(events, conversion, value, as_json)
        return
    if experiment is None:
        raise typer.BadParameter("give --experiment KEY, --placements or --attribution",
                                 param_hint="--experiment")
    try:
        parsed = [float(w) for w in weights.split(",")] if weights else None
        doc = experiment_report(_events(events), experiment, conversion,
                                exposure_event=exposure_event, control=control, weights=parsed)
        if chart is not None:
            write_chart(doc, chart)
    except (OSError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json) from None
    if as_json:
        emit_json(doc)
        return
    _print_experiment(doc, chart)


def _print_experiment(doc: dict[str, Any], chart: Path | None) -> None:
    table = Table(title=f"{doc['experiment']} → {doc['conversion']}")
    for column in ("variation", "visitors", "conversions", "rate (95%)", "uplift (95%)",
                   "p"):
        table.add_column(column)
    for name, row in doc["variations"].items():
        lo, hi = row["rate_interval"]
        rate = f"{row['rate']:.2%} ({lo:.2%}–{hi:.2%})"
        uplift = p = ""
        if row.get("uplift") is not None:
            ulo, uhi = row["uplift_interval"]
            uplift = f"{row['uplift']:+.1%} ({ulo:+.1%}–{uhi:+.1%})"
        if row.get("p_value") is not None:
            p = f"{row['p_value']:.3g}"
        label = f"{name} (control)" if name == doc["control"] else name
        table.add_row(label, str(row["visitors"]), str(row["conversions"]), rate, uplift, p)
    out.print(table)
    srm = doc["srm"]
    if srm["p_value"] is not None:
        verdict = "[red]MISMATCH[/red]" if srm["mismatch"] else "ok"
        out.print(f"sample ratio: chi² = {srm['chi_square']:.2f}, p = {srm['p_value']:.3g} "
                  f"({verdict})")
    if doc["excluded_multiple_variations"]:
        out.print(f"{doc['excluded_multiple_variations']} visitors saw several variations "
                  "and are left out", markup=False)
    if chart is not None:
        out.print(f"chart: {chart}", markup=False)


def _placements_report(
    patterns: list[str], conversion: str, by: str, chart: Path | None, as_json: bool
) -> None:
    from ..content import content_report

    paths = [p for pattern in patterns for p in (sorted(glob.glob(pattern)) or [pattern])]
    try:
        found = content_report(paths, by=[d.strip() for d in by.split(",") if d.strip()],
                               conversion_event=conversion)
        if chart is not None:
            _placements_chart(found.by, found.rows, chart)
    except (OSError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json) from None
    if as_json:
        emit_json({"by": list(found.by), "rows": found.rows, "uplift": found.uplift,
                   "uplift_by_segment": found.uplift_by_segment,
                   "uplift_by_country": found.uplift_by_country})
        return
    table = Table(title=f"content → {conversion}")
    for column in (*found.by, "exposures", "clicks", "CTR", "conversions", "conv. rate"):
        table.add_column(column)
    for row in found.rows:
        table.add_row(*(str(row.get(d)) for d in found.by), str(row["exposures"]),
                      str(row["clicks"]), f"{row['ctr']:.2%}", str(row["conversions"]),
                      f"{row['conversion_rate']:.2%}")
    out.print(table)
    uplift = [*found.uplift, *found.uplift_by_segment, *found.uplift_by_country]
    if uplift:
        level = uplift[0]["level"]
        lift = Table(title=f"uplift against the holdout ({level:.0%} interval)")
        for column in ("placement", "group", "treated", "holdout", "difference (interval)"):
            lift.add_column(column)
        for u in uplift:
            group = " ".join(f"{d}={u[d]}" for d in ("segment", "country") if d in u)
            lift.add_row(
                str(u["placement"]), group or "all",
                f"{u['treated_rate']:.2%} of {u['treated_visitors']}",
                f"{u['holdout_rate']:.2%} of {u['holdout_visitors']}",
                f"{u['diff']:+.2%} ({u['diff_low']:+.2%} to {u['diff_high']:+.2%})",
            )
        out.print(lift)
    if chart is not None:
        out.print(f"chart: {chart}", markup=False)


def _placements_chart(by: tuple[str, ...], rows: list[dict[str, Any]], path: Path) -> None:
    labels = [" / ".join(str(row.get(d)) for d in by) for row in rows]
    _save_bars(labels, [row["ctr"] * 100 for row in rows], None, "CTR (%)",
               "content: click-through rate", path)


def _attribution_report(patterns: list[str], conversion: str, value: str, as_json: bool) -> None:
    from ..content import read_events
    from ..profiles import MODELS, attribution_from_events

    paths = [p for pattern in patterns for p in (sorted(glob.glob(pattern)) or [pattern])]
    try:
        doc = attribution_from_events(read_events(paths), conversion=conversion, value=value)
    except (OSError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json) from None
    if as_json:
        emit_json(doc)
        return
    table = Table(title=f"attribution → {conversion}")
    table.add_column("channel")
    for model in MODELS:
        table.add_column(model, justify="right")
    credit = doc["credit"]
    channels = list(dict.fromkeys(ch for m in MODELS for ch in credit[m]))
    channels.sort(key=lambda ch: -credit["linear"].get(ch, 0.0))
    for ch in channels:
        table.add_row(ch, *(f"{credit[m].get(ch, 0.0):,.2f}" for m in MODELS))
    out.print(table)
    out.print(f"{doc['conversions']} conversions worth {doc['value']:,.2f} from "
              f"{doc['people_converted']} of {doc['people']} people", markup=False)
