"""Plots the Dagster UI shows in place: small SVG charts written as markdown images.

The UI (dagster-webserver 1.13, ``ui-core/src/metadata/MetadataEntry.tsx``) renders a markdown
metadata value on the asset page only while its text is shorter than 1,000 characters; a
longer one, which every PNG plot is, sits behind a "[Show Markdown]" link. Its markdown
sanitiser lets ``data:`` image sources through. A chart drawn as one SVG path per series, in
whole pixels, written as a percent-encoded data URI fits under that limit: each builder
merges neighbouring buckets until it does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

INLINE_LIMIT = 1000
"""The UI shows markdown inline only when it has fewer characters than this."""
WIDTH, HEIGHT = 360, 140
"""Pixels: the value column of the asset page's metadata table is about 370 wide on a
1400-pixel window, and a wider image scrolls out of sight."""
LEFT, RIGHT, TOP, BOTTOM = 36, 352, 24, 114
LINE_BUCKETS = 100
"""Time slices of a line chart before merging: about 3 pixels each."""
BUCKET_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 144, 192, 288, 384)


@dataclass(frozen=True)
class Columns:
    """One series drawn as a column per bucket, from ``low`` to ``high`` (NaN: none)."""

    color: str
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Level:
    """A dashed horizontal line across the chart, labelled at its right end."""

    value: float
    label: str
    color: str


def stacked_counts_markdown(
    counts: pd.DataFrame, title: str, colors: dict[str, str], unit: str = "h"
) -> str:
    """Counts per time bucket (rows, in order) stacked by category (columns) as inline markdown.

    Parameters
    ----------
    counts
        Non-negative counts; the index holds each bucket's start time.
    title
        Chart title; `` per N h`` is appended for the bucket width drawn.
    colors
        SVG colour name of each column of ``counts``, drawn bottom to top in that order.
    unit
        What one row of ``counts`` spans (``h``: an hour).

    Returns
    -------
    str
        Markdown of one image, shorter than :data:`INLINE_LIMIT`.
    """
    values = counts.reindex(columns=list(colors), fill_value=0).to_numpy(dtype=float)

    def build(step: int) -> str:
        merged = _merge_rows(values, step, np.sum)
        tops = np.cumsum(merged, axis=1)
        peak = float(tops[:, -1].max()) if len(tops) else 0.0
        series = [
            Columns(color, _blank_zero(tops[:, i] - merged[:, i], merged[:, i]), tops[:, i])
            for i, color in enumerate(colors.values())
        ]
        legend = "".join(f"<tspan fill='{c}'> {escape(n)}</tspan>" for n, c in colors.items())
        heading = f"{escape(title)} per {step} {unit} (UTC){legend}"
        return chart_svg(series, heading, (0.0, max(peak, 1.0)), _ends(counts.index))

    return fit_inline(build, title)


def bars_markdown(values: pd.Series, title: str, color: str = "steelblue") -> str:
    """One series of non-negative values per time bucket (in order) as inline markdown."""
    array = values.to_numpy(dtype=float).reshape(-1, 1)

    def build(step: int) -> str:
        merged = _merge_rows(array, step, np.sum)[:, 0]
        peak = float(np.nanmax(merged)) if len(merged) else 0.0
        series = [Columns(color, _blank_zero(np.zeros_like(merged), merged), merged)]
        heading = f"{escape(title)} per {step} h (UTC)"
        return chart_svg(series, heading, (0.0, max(peak, 1.0)), _ends(values.index))

    return fit_inline(build, title)


def peak_line_markdown(
    times: pd.Series, values: np.ndarray, title: str, levels: Sequence[Level]
) -> str:
    """The highest value of a statistic in each equal slice of time, with its levels dashed.

    Parameters
    ----------
    times
        UTC time of each value, in order (at least one).
    values
        The statistic (NaN: not scored).
    title
        Chart title.
    levels
        Lines to draw across the chart, such as the ALERT and ERROR levels.
    """
    drawn = np.r_[[level.value for level in levels], values[np.isfinite(values)], 0.0, 1.0]
    low, high = float(drawn.min()), 1.1 * float(drawn.max())  # 0 and 1 always in view
    elapsed = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    share = elapsed / max(float(elapsed[-1]), 1.0)

    def build(step: int) -> str:
        buckets = max(LINE_BUCKETS // step, 8)
        frame = pd.DataFrame(
            {"bucket": np.minimum((share * buckets).astype(int), buckets - 1), "value": values}
        ).dropna()
        peaks = frame.groupby("bucket")["value"].max().reindex(range(buckets)).to_numpy()
        return chart_svg([], escape(title), (low, high), _ends(times), levels, peaks)

    return fit_inline(build, title)


def fit_inline(build: Callable[[int], str], alt: str) -> str:
    """The markdown of ``build(step)`` for the finest step in :data:`BUCKET_STEPS` that fits."""
    for step in BUCKET_STEPS:
        markdown = svg_markdown(build(step), alt)
        if len(markdown) < INLINE_LIMIT:
            return markdown
    return svg_markdown(chart_svg([], escape(alt) + ": too many points", (0, 1), ("", "")), alt)


def chart_svg(
    series: Sequence[Columns],
    heading: str,
    y_range: tuple[float, float],
    x_ends: tuple[str, str],
    levels: Sequence[Level] = (),
    line: np.ndarray | None = None,
) -> str:
    """The SVG document: a heading (already XML-escaped), columns or a line, dashed levels,
    and the ends of both axes. Coordinates are whole pixels, to keep the text short."""
    bottom, top = y_range
    scale = (BOTTOM - TOP) / ((top - bottom) or 1.0)

    def y(value: float) -> int:
        return round(BOTTOM - (min(max(value, bottom), top) - bottom) * scale)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        "font-family='sans-serif' font-size='11' style='background:white'>",
        f"<text x='{LEFT}' y='14'>{heading}</text>",
        f"<path d='M{LEFT} {TOP}V{BOTTOM}H{RIGHT}' stroke='gray' fill='none'/>",
    ]
    for one in series:
        width = (RIGHT - LEFT) / max(len(one.high), 1)
        path = "".join(
            f"M{round(LEFT + (i + 0.5) * width)} {y(lo)}V{min(y(hi), y(lo) - 1)}"
            for i, (lo, hi) in enumerate(zip(one.low, one.high, strict=True))
            if np.isfinite(lo) and np.isfinite(hi)
        )
        if path:
            stroke = f"{max(width - 1, 1):.2g}"
            parts.append(f"<path d='{path}' stroke='{one.color}' stroke-width='{stroke}'/>")
    if line is not None and np.isfinite(line).any():
        path = _line_path([y(v) if np.isfinite(v) else None for v in line], len(line))
        parts.append(f"<path d='{path}' stroke='steelblue' fill='none'/>")
    for i, level in enumerate(levels):  # labels side by side: close levels would overlap
        parts.append(
            # On a pixel row's middle (.5), a one-pixel line is drawn sharp, in its colour.
            f"<path d='M{LEFT} {y(level.value)}.5H{RIGHT}' stroke='{level.color}' "
            f"stroke-dasharray='5'/><text x='{RIGHT - 60 * (len(levels) - i)}' "
            f"y='{y(level.value) - 3}' "
            f"fill='{level.color}'>{escape(level.label)}</text>"
        )
    parts += [
        f"<text x='4' y='{TOP + 8}'>{_number(top)}</text>",
        f"<text x='4' y='{BOTTOM}'>{_number(bottom)}</text>",
        f"<text x='{LEFT}' y='{BOTTOM + 16}'>{escape(x_ends[0])}</text>",
        f"<text x='{RIGHT}' y='{BOTTOM + 16}' text-anchor='end'>{escape(x_ends[1])}</text>",
        "</svg>",
    ]
    return "".join(parts)


def _line_path(ys: list[int | None], count: int) -> str:
    """A polyline through one point per slice, in relative steps; a None breaks it."""
    step = (RIGHT - LEFT) / count
    path: list[str] = []
    last: tuple[int, int] | None = None
    for i, value in enumerate(ys):
        x = round(LEFT + (i + 0.5) * step)
        if value is not None and last is None:
            path.append(f"M{x} {value}")
        elif value is not None and last is not None:
            lead = "l" if path[-1].startswith("M") else " "
            path.append(f"{lead}{x - last[0]}{value - last[1]:+d}".replace("+", " "))
        last = (x, value) if value is not None else None
    return "".join(path)


def svg_markdown(svg: str, alt: str) -> str:
    """``svg`` as a markdown image with a percent-encoded ``data:`` URI (no base64: shorter)."""
    encoded = svg
    for raw, code in (("%", "%25"), ("#", "%23"), ("<", "%3C"), (">", "%3E"), ("\\", "%5C")):
        encoded = encoded.replace(raw, code)
    label = "".join(ch for ch in alt if ch not in "[]\\")
    return f"![{label}](<data:image/svg+xml,{encoded}>)"


def _merge_rows(values: np.ndarray, step: int, how: Callable) -> np.ndarray:
    """Rows combined ``step`` at a time (the last group may be shorter)."""
    if step == 1 or not len(values):
        return values
    starts = np.arange(0, len(values), step)
    return np.stack([how(values[s : s + step], axis=0) for s in starts])


def _blank_zero(low: np.ndarray, height: np.ndarray) -> np.ndarray:
    """``low`` with NaN where nothing is drawn, so empty buckets add nothing to the path."""
    return np.where(height > 0, low, np.nan)


def _ends(index: pd.Index | pd.Series) -> tuple[str, str]:
    values = list(pd.Index(index)[[0, -1]]) if len(index) else ["", ""]
    return _label(values[0]), _label(values[1])


def _label(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%m-%d %H:%M")
    return str(value)


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
