"""Small inline SVG charts, rendered on the server (no JS chart library).

The SVG uses presentation attributes and CSS classes only (no ``style=``), so
the dashboard's Content-Security-Policy can forbid inline styles. Every chart
has a ``<title>``/``<desc>`` and ``role="img"`` for screen readers, and the
pages also show the same numbers as a table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from protocol.clock import DAY_MONTH, DAY_MS, format_ms

__all__ = ["Bar", "expiry_chart", "reads_chart"]

PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626")


def reads_chart(
    series: dict[str, Counter[int]], today: int, *, days: int = 14, label: dict[str, str]
) -> Markup:
    """Stacked bars: reads per business per day over the last ``days`` days."""
    first = today - days + 1
    width, height, left, bottom, top = 640, 220, 36, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    totals = [sum(c.get(first + i, 0) for c in series.values()) for i in range(days)]
    peak = max([*totals, 1])
    bar_w = plot_w / days
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="reads-title reads-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="reads-title">Reads per business per day</title>',
        f'<desc id="reads-desc">{sum(totals)} reads in the last {days} days</desc>',
    ]
    ticks = sorted({0, peak // 2, peak})
    for tick in ticks:
        frac = tick / peak
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick}</text>"
        )
    names = sorted(series)
    for i in range(days):
        day = first + i
        y = top + plot_h
        for n, who in enumerate(names):
            count = series[who].get(day, 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            colour = PALETTE[n % len(PALETTE)]
            parts.append(
                f'<rect x="{left + i * bar_w + 2:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label.get(who, who))}: '
                f"{count} on {format_ms(day * DAY_MS, DAY_MONTH)}</title></rect>"
            )
        if i % 2 == 0 or days <= 7:
            parts.append(
                f'<text class="axis" x="{left + (i + 0.5) * bar_w:.1f}" y="{height - 8}" '
                f'text-anchor="middle">{format_ms(day * DAY_MS, DAY_MONTH)}</text>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
        f'fill="{PALETTE[n % len(PALETTE)]}"/></svg> {escape(label.get(who, who))}</li>'
        for n, who in enumerate(names)
    )
    return Markup("".join(parts) + (f'<ul class="legend">{legend}</ul>' if legend else ""))  # noqa: S704


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    expires_at: int


def expiry_chart(bars: list[Bar], now_ms: int, *, horizon_days: int = 30) -> Markup:
    """Horizontal bars: days left for each active grant, up to ``horizon_days``."""
    if not bars:
        return Markup('<p class="muted">No active grants.</p>')
    row, left, width = 26, 205, 520
    plot_w = width - left - 60
    height = row * len(bars) + 30
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="exp-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="exp-title">Active grants by days left (scale: {horizon_days} days)</title>',
    ]
    for i, bar in enumerate(sorted(bars, key=lambda b: b.expires_at)):
        days_left = max(0.0, (bar.expires_at - now_ms) / DAY_MS)
        w = plot_w * min(days_left, horizon_days) / horizon_days
        y = 8 + i * row
        cls = "soon" if days_left < 7 else "later"
        more = "+" if days_left > horizon_days else ""
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{y + 14}" text-anchor="end">'
            f"{escape(bar.label[:26])}</text>"
            f'<rect class="{cls}" x="{left}" y="{y}" width="{max(w, 2):.1f}" height="{row - 8}"/>'
            f'<text class="axis" x="{left + max(w, 2) + 4:.1f}" y="{y + 14}">'
            f"{days_left:.1f} d{more}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704
