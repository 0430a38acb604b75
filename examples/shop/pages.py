"""The shop's HTML: plain ``string.Template`` pages, every dynamic value escaped.

Personalised parts (the bandit's hero, "recommended for you", the capped promo banner, the
experiment's strap line, the VIP box, the free-shipping line) are rendered here,
on the server, from decisions the middleware's visitor made: the browser receives the final
page, so nothing flickers. ``render_bootstrap`` hands the same decisions to the JS tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from string import Template
from typing import Any
from urllib.parse import urlencode

from .catalog import PRODUCTS, Product

__all__ = ["cart_page", "catalog_page", "click_url", "dashboard_page", "hero_section",
           "home_page", "order_page", "product_page", "promo_banner", "recommended_section"]

_LAYOUT = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · Persona Outdoor</title>
<link rel="stylesheet" href="/static/shop.css">
$bootstrap
$scripts
</head>
<body data-page="$page">
<header>
  <a class="brand" href="/">Persona Outdoor</a>
  <nav>
    <a href="/products">Catalog</a>
    <a href="/cart" id="cart-link">Cart ($cart_count)</a>
    <a href="/dashboard">Dashboard</a>
  </nav>
</header>
<main>
$promo
$body
</main>
$banner
<footer>A demo of persona-sdk: decisions are made on the server; events leave through one
first-party collector. <button type="button" id="consent-manage">Privacy choices</button></footer>
</body>
</html>
""")

_SCRIPTS = """<script src="/persona.js" data-write-key="demo-shop" defer></script>
<script src="/static/shop.js" defer></script>"""

_CONSENT_BANNER = """<aside id="consent-banner" class="consent" role="dialog"
 aria-label="Privacy choices"$hidden>
  <p>We measure how the shop is used (<b>analytics</b>) and report purchases to advertising
  partners (<b>advertising</b>). Nothing is sent to them without your say-so.</p>
  <button type="button" id="consent-accept">Accept all</button>
  <button type="button" id="consent-analytics">Analytics only</button>
  <button type="button" id="consent-deny">Reject all</button>
</aside>"""

_HEROES: Mapping[str, tuple[str, str]] = {
    "classic": ("Gear for every trail", "Shoes, shells and packs, tested outdoors."),
    "summer-sale": ("Summer sale: up to 30% off", "Light layers for long days, while stocks last."),
    "new-arrivals": ("New arrivals are in", "Fresh colours for the coming season."),
}


def layout(
    title: str,
    body: str,
    *,
    page: str,
    bootstrap: str,
    cart_count: int,
    show_banner: bool,
    tag: bool = True,
    promo: str = "",
) -> str:
    """Wrap a page body; the consent banner shows until the visitor chooses. ``tag=False``
    leaves the JS tag out (the self-refreshing dashboard would log a page view every 2 s)."""
    banner = Template(_CONSENT_BANNER).substitute(hidden="" if show_banner else " hidden")
    return _LAYOUT.substitute(
        title=escape(title),
        page=escape(page),
        bootstrap=bootstrap,
        scripts=_SCRIPTS if tag else "",
        cart_count=cart_count,
        body=body,
        banner=banner,
        promo=promo,
    )


def _card(p: Product) -> str:
    return (
        f'<li class="card"><a href="/products/{escape(p.slug)}">'
        f'<span class="swatch" style="background:{escape(p.color)}"></span>'
        f"<b>{escape(p.name)}</b><span>{p.price:.2f} €</span></a></li>"
    )


def click_url(decision: Any, item: Any, to: str) -> str:
    """The link a promotion's click goes through (``/promo/click``): it logs ``Promotion
    Clicked`` with the decision's ids, which teaches a click-rewarded bandit, then
    redirects to ``to``."""
    query = urlencode({"placement": decision.placement, "item": item.id,
                       "decision": decision.decision_id, "segment": decision.segment or "*",
                       "index": item.position, "to": to})
    return f"/promo/click?{query}"


def hero_section(decision: Any) -> str:
    """The home hero: the creative the ``home-hero`` bandit chose, its link counted."""
    item = decision.item
    if item is None:
        return ""
    payload = item.payload if isinstance(item.payload, Mapping) else {}
    url = str(payload.get("url", "/products"))
    return (
        f'<section class="hero hero-{escape(item.id)}" data-creative="{escape(item.id)}" '
        f'data-decision="{escape(decision.decision_id)}">'
        f'<h1>{escape(str(payload.get("title", "")))}</h1>'
        f'<a class="cta" id="hero-cta" href="{escape(click_url(decision, item, url))}">'
        f"Shop now</a></section>"
    )


def recommended_section(decision: Any) -> str:
    """"Recommended for you": the products the ``recommended`` placement scored highest
    for the visitor's category affinity."""
    cards = []
    for item in decision.items:
        slug = item.payload.get("slug") if isinstance(item.payload, Mapping) else None
        product = next((p for p in PRODUCTS if p.slug == slug), None)
        if product is not None:
            cards.append(_card(product).replace(
                '<li class="card">', f'<li class="card" data-recommended="{escape(slug)}">', 1))
    if not cards:
        return ""
    return f'<section class="recommended"><h2>Recommended for you</h2><ul class="grid">' \
           f'{"".join(cards)}</ul></section>'


def promo_banner(decision: Any) -> str:
    """The ``promo-banner`` placement (capped at 3 a day per visitor), or nothing."""
    item = decision.item
    if item is None:
        return ""
    text = item.payload.get("text", "") if isinstance(item.payload, Mapping) else ""
    return f'<p class="promo" data-promo="{escape(item.id)}">{escape(str(text))}</p>'


def home_page(*, hero: Any, banner: str, variation: Any, vip: bool, segments: Iterable[str],
              free_shipping: float, recommended: Any) -> str:
    """The home page: the hero the ``home-hero`` bandit chose, the strap line of the
    ``hero-banner`` experiment, "recommended for you", the VIP box for the ``big_spender``
    segment."""
    title, line = _HEROES.get(banner, _HEROES["classic"])
    vip_box = (
        '<section class="vip" data-segment="big_spender"><h2>Thanks for being a regular</h2>'
        "<p>Free express shipping on everything, on us.</p></section>"
        if vip
        else ""
    )
    cards = "".join(_card(p) for p in PRODUCTS[:4])
    return (
        f"{hero_section(hero)}"
        f'<section class="strap strap-{escape(banner)}" data-banner="{escape(banner)}" '
        f'data-variation="{escape(str(variation))}"><h2>{escape(title)}</h2>'
        f"<p>{escape(line)}</p></section>"
        f"{vip_box}"
        f"{recommended_section(recommended)}"
        f'<p class="note">Free shipping from {free_shipping:.0f} €. '
        f'Your segments: <span id="segments">{escape(", ".join(segments)) or "none"}</span></p>'
        f'<ul class="grid">{cards}</ul>'
    )


def catalog_page() -> str:
    """Every product."""
    return f'<h1>Catalog</h1><ul class="grid">{"".join(_card(p) for p in PRODUCTS)}</ul>'


def product_page(p: Product) -> str:
    """One product, with an add-to-cart form; ``Product Viewed`` is sent by the JS tag."""
    return (
        f'<article class="product" data-product="{escape(p.slug)}" '
        f'data-name="{escape(p.name)}" data-price="{p.price:.2f}" '
        f'data-category="{escape(p.category)}">'
        f'<span class="swatch big" style="background:{escape(p.color)}"></span>'
        f"<div><h1>{escape(p.name)}</h1><p>{escape(p.blurb)}</p>"
        f'<p class="price">{p.price:.2f} €</p>'
        f'<form method="post" action="/cart/add"><input type="hidden" name="slug" '
        f'value="{escape(p.slug)}"><label>Quantity <input name="quantity" type="number" '
        f'value="1" min="1" max="9"></label> <button id="add-to-cart">Add to cart</button>'
        f"</form></div></article>"
    )


def cart_page(lines: list[tuple[Product, int]], *, free_shipping: float) -> str:
    """The cart and the checkout form."""
    if not lines:
        return '<h1>Your cart</h1><p id="cart-empty">Empty. <a href="/products">Browse</a></p>'
    rows = "".join(
        f"<tr><td>{escape(p.name)}</td><td>{q}</td><td>{p.price * q:.2f} €</td></tr>"
        for p, q in lines
    )
    total = sum(p.price * q for p, q in lines)
    shipping = "free" if total >= free_shipping else "4.90 €"
    return (
        f'<h1>Your cart</h1><table class="cart"><tr><th>Item</th><th>Qty</th><th>Price</th>'
        f'</tr>{rows}<tr><td>Shipping</td><td></td><td>{shipping}</td></tr>'
        f'<tr class="total"><td>Total</td><td></td><td id="cart-total">{total:.2f} €</td></tr>'
        f'</table><form method="post" action="/checkout" class="checkout">'
        f'<label>Email (for the receipt) <input name="email" type="email" '
        f'placeholder="you@example.com"></label> <button id="checkout">Buy now</button></form>'
    )


def order_page(order_id: str, total: float) -> str:
    """The thank-you page."""
    return (
        f'<section class="order" data-order-id="{escape(order_id)}" '
        f'data-order-total="{total:.2f}"><h1>Thank you!</h1><p>Order <code id="order-id">'
        f'{escape(order_id)}</code> for <b id="order-total">{total:.2f} €</b> is on its way.'
        f'</p><p><a href="/">Back to the shop</a></p></section>'
    )


def _table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def dashboard_page(data: Mapping[str, Any]) -> str:
    """Live counts per destination and per variation (refreshes itself every 2 s)."""
    dest_cols = ["tracked", "delivered", "queued", "spooled", "dropped", "rejected", "filtered"]
    dest_rows = []
    for name, s in sorted(data["destinations"].items()):
        row: list[Any] = [name]
        for col in dest_cols:
            value = s.get(col, 0)
            if isinstance(value, Mapping):
                value = sum(v for v in value.values() if isinstance(v, (int, float)))
            row.append(value)
        dest_rows.append(row)
    var_rows = [
        [exp, var, n, data["sink_exposures"].get(exp, {}).get(var, 0)]
        for exp, per in sorted(data["exposures"].items())
        for var, n in sorted(per.items())
    ]
    sink_rows = [
        [dest, event, n]
        for dest, per in sorted(data["sink"].items())
        for event, n in sorted(per.items())
    ]
    return (
        '<meta http-equiv="refresh" content="2"><h1>Dashboard</h1>'
        "<h2>Destinations (<code>persona.stats()</code>)</h2>"
        + _table(["destination", *dest_cols], dest_rows)
        + "<h2>Variations</h2>"
        + _table(["experiment", "variation", "visitors exposed", "exposures in the sink"],
                 var_rows)
        + "<h2>Audiences</h2>"
        + _lifecycle_line(data.get("lifecycle", {}))
        + _attribution_line(data.get("attribution", {}))
        + "<h2>Local sink</h2>"
        + _table(["destination", "event", "received"], sink_rows)
        + bandit_chart(data.get("bandit") or [], data.get("bandit_source", "drill"))
        + '<p><a href="/dashboard.json">as JSON</a></p>'
    )


def _lifecycle_line(counts: Mapping[str, int]) -> str:
    """Visitors per lifecycle stage (the ``lifecycle-*`` segments)."""
    parts = ", ".join(f"{escape(stage)} {n}" for stage, n in counts.items())
    return f'<p data-lifecycle>Lifecycle stage: {parts or "no visitors yet"}</p>'


def _attribution_line(report: Mapping[str, Any]) -> str:
    """Orders and revenue credited per channel, last touch and position-based."""
    if not report.get("conversions"):
        return "<p data-attribution>Attribution: no orders yet</p>"

    def credit(model: str) -> str:
        per = report.get("credit", {}).get(model, {})
        return ", ".join(f"{escape(ch)} {v:.2f} EUR" for ch, v in list(per.items())[:4])

    return (
        f"<p data-attribution>Attribution of {report['conversions']} orders "
        f"({report['value']:.2f} EUR): last touch: {credit('last')}; "
        f"position-based: {credit('position')}</p>"
    )


_COLORS = ("#2b6cb0", "#2f855a", "#c05621", "#6b46c1", "#b7791f", "#4a5568")


def bandit_chart(history: list[Mapping[str, Any]], source: str = "drill") -> str:
    """The home hero bandit's share of traffic per creative over time, as an inline SVG:
    the live home pages' (``source="live"``), or the last ``--simulate`` drill's."""
    if not history:
        return ""
    width, height, pad = 640, 220, 30
    last = max(int(h["visitors"]) for h in history) or 1
    creatives = sorted({k for h in history for k in h["share"]})
    lines = []
    legend = []
    for i, creative in enumerate(creatives):
        color = _COLORS[i % len(_COLORS)]
        points = " ".join(
            f"{pad + (width - 2 * pad) * int(h['visitors']) / last:.1f},"
            f"{height - pad - (height - 2 * pad) * float(h['share'].get(creative, 0)):.1f}"
            for h in history
        )
        lines.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                     f'points="{points}"/>')
        legend.append(f'<span style="color:{color}">&#9632; {escape(creative)}</span>')
    axes = (f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
            f'stroke="#999"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" '
            f'stroke="#999"/><text x="2" y="{pad + 4}" font-size="10">100%</text>'
            f'<text x="2" y="{height - pad}" font-size="10">0%</text>'
            f'<text x="{width - pad - 60}" y="{height - 8}" font-size="10">{last} visitors</text>')
    return (
        "<h2>Home hero bandit: share of traffic per creative "
        f'({"live home pages" if source == "live" else "simulation drill"})</h2>'
        f'<svg data-bandit="{escape(source)}" width="{width}" height="{height}" role="img" '
        f'aria-label="bandit share per creative">{axes}{"".join(lines)}</svg>'
        f'<p>{" ".join(legend)}</p>'
    )
