"""The admin's price chart: SVG drawn by the server, one line per source and the consensus, the intervals
in which a source was an outlier shaded. No script, no network at view time: the page's CSP holds."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from coins.formatting import usd_price

WIDTH, HEIGHT = 960, 320
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 16, 52
# A colour per source in the order given, then the consensus in the text colour, drawn last and thickest.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
CONSENSUS_COLOUR = "#222222"


def price_chart_svg(
    *,
    series: Mapping[str, Sequence[tuple[datetime, Decimal]]],
    consensus: str,
    disagreements: Sequence[datetime],
    interval: timedelta,
    starts: datetime,
    ends: datetime,
) -> SafeString:
    """An <svg> of each series' (moment, price) points over [starts, ends); `consensus` names the consensus series;
    each moment of `disagreements` starts an interval of `interval` that is shaded."""
    prices = [price for points in series.values() for _, price in points]
    low, high = (min(prices), max(prices)) if prices else (Decimal(0), Decimal(1))
    if low == high:
        low, high = low * Decimal("0.99"), high * Decimal("1.01") or Decimal(1)
    span = (ends - starts).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + plot_w * (moment - starts).total_seconds() / span

    def y(price: Decimal) -> float:
        return TOP + plot_h * float((high - price) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="price-chart" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="100%" role="img" aria-label="Price by source and consensus">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>',
    ]
    for moment in disagreements:
        left = max(x(moment), LEFT)
        width = min(x(moment + interval), LEFT + plot_w) - left
        parts.append(
            f'<rect class="disagreement" data-starts-at="{moment:%Y-%m-%dT%H:%M:%SZ}" x="{left:.1f}" y="{TOP}"'
            f' width="{max(width, 1.5):.1f}" height="{plot_h}" fill="#d62728" fill-opacity="0.18">'
            f"<title>Sources disagree from {moment:%Y-%m-%d %H:%M} UTC</title></rect>"
        )
    for price, anchor in ((high, TOP + 4), (low, TOP + plot_h)):
        parts.append(
            f'<text x="{LEFT - 6}" y="{anchor:.0f}" text-anchor="end" font-size="12">{usd_price(price)}</text>'
        )
    for moment, anchor in ((starts, "start"), (ends, "end")):
        parts.append(
            f'<text x="{x(moment):.0f}" y="{TOP + plot_h + 16}" text-anchor="{anchor}" font-size="12">'
            f"{moment:%Y-%m-%d %H:%M} UTC</text>"
        )
    legend_x = LEFT
    ordered = [name for name in series if name != consensus] + [name for name in series if name == consensus]
    for index, name in enumerate(ordered):
        colour = CONSENSUS_COLOUR if name == consensus else PALETTE[index % len(PALETTE)]
        width = 3 if name == consensus else 1.5
        points = " ".join(f"{x(moment):.1f},{y(price):.1f}" for moment, price in series[name])
        parts.append(
            f'<polyline class="series" data-series="{escape(name)}" points="{points}" fill="none"'
            f' stroke="{colour}" stroke-width="{width}" stroke-linejoin="round">'
            f"<title>{escape(name)}</title></polyline>"
        )
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 18}" width="14" height="4" fill="{colour}"/>'
            f'<text x="{legend_x + 20}" y="{HEIGHT - 12}" font-size="12">{escape(name)}</text>'
        )
        legend_x += 40 + 8 * len(name)
    if disagreements:
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 24}" width="14" height="14" fill="#d62728" fill-opacity="0.18"/>'
            f'<text x="{legend_x + 20}" y="{HEIGHT - 12}" font-size="12">sources disagree</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value in it is a number, a date or escaped
