"""Charts as SVG made on the server: horizontal bars, one row per label, each row one or more
series side by side, the value written beside each bar. No script, no style sheet: fills are
attributes, so the site's Content-Security-Policy holds and the page stays small."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

ROW = 18  # height of one bar
GAP = 8  # between rows
LABEL_WIDTH = 150
BAR_WIDTH = 300
VALUE_WIDTH = 90
TOP = 44  # the title and the legend above the bars


@dataclass(frozen=True)
class Series:
    name: str
    fill: str  # an SVG colour, e.g. "#3366aa"


def bar_chart(
    title: str,
    series: Sequence[Series],
    rows: Sequence[tuple[str, Sequence[float | None]]],
    shown: Callable[[float], str] = lambda v: f"{v:g}",
    top: float | None = None,
) -> Markup:
    """A chart of `rows` (label, one value per series; None: no value, written "none").
    Bars are scaled to `top` (default: the largest value)."""
    values = [v for _, vs in rows for v in vs if v is not None]
    scale_top = top if top is not None else max(values, default=0) or 1
    per_row = ROW * len(series) + GAP
    height = TOP + 20 + per_row * len(rows)
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="15" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    x = LABEL_WIDTH
    for s in series:
        out.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{escape(s.fill)}"/>')
        out.append(f'<text x="{x + 14}" y="33" font-size="11">{escape(s.name)}</text>')
        x += 14 + 7 * len(s.name) + 16
    y = TOP
    for label, row_values in rows:
        out.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + ROW * len(series) / 2 + 4:g}" '
            f'font-size="12" text-anchor="end">{escape(label)}</text>'
        )
        for s, value in zip(series, row_values, strict=True):
            length = 0.0 if value is None else max(0.0, min(1.0, value / scale_top)) * BAR_WIDTH
            out.append(
                f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{ROW - 3}" '
                f'fill="{escape(s.fill)}"><title>{escape(s.name)}</title></rect>'
            )
            text = "none" if value is None else shown(value)
            out.append(
                f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + ROW - 6}" '
                f'font-size="11">{escape(text)}</text>'
            )
            y += ROW
        y += GAP
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every label and value above is escaped)
