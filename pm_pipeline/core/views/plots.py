"""Small PNG plots for the Dagster UI, kept to tens of kilobytes.

Figures are made with matplotlib's object API, not pyplot: no global figure registry to
close (safe in a run's threads), no backend to choose, and a third less to import in every
process that loads the code location."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pm_pipeline.core.schema import TIME_COLUMN

MAX_POINTS = 1500


def plot_regression_png(scored: pd.DataFrame, title: str, alert_limit: float) -> bytes:
    """Regression line over scaled readings (top) and residuals with the alert band (bottom).

    Parameters
    ----------
    scored
        Output of :func:`pm_pipeline.core.detection.residual_frame`.
    title
        Figure title.
    alert_limit
        Residual at which the ALERT level starts (``mu + z_alert·sigma``), drawn as a line.

    Returns
    -------
    bytes
        PNG image.
    """
    shown = _thin(scored)
    figure = Figure(figsize=(7.0, 4.0), dpi=72)
    top, bottom = figure.subplots(2, 1, sharex=True)
    times = shown[TIME_COLUMN]
    top.scatter(times, shown["scaled"], s=1, alpha=0.4, color="tab:blue", label="scaled current")
    top.plot(times, shown["predicted"], color="tab:red", linewidth=1.2, label="regression")
    top.set_ylabel("scaled")
    top.legend(loc="upper right", fontsize=7)
    top.set_title(title, fontsize=9)
    bottom.scatter(times, shown["residual"], s=1, alpha=0.4, color="tab:gray")
    bottom.axhline(alert_limit, color="tab:orange", linewidth=1, label="alert limit")
    bottom.axhline(0, color="black", linewidth=0.5)
    bottom.set_ylabel("residual")
    bottom.legend(loc="upper right", fontsize=7)
    figure.autofmt_xdate()
    return _to_png(figure)


def png_markdown(png: bytes, alt: str) -> str:
    """Embed a PNG as a base64 data URI inside markdown, as the Dagster UI shows it."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) <= MAX_POINTS:
        return frame
    keep = np.linspace(0, len(frame) - 1, MAX_POINTS).astype(int)
    return frame.iloc[keep]


def _to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_bars_png(values: pd.Series, title: str, ylabel: str) -> bytes:
    """A bar chart of one series (index on the x axis)."""
    figure = Figure(figsize=(7.0, 3.0), dpi=72)
    axes = figure.subplots()
    labels = [_label(v) for v in values.index]
    axes.bar(range(len(values)), values.to_numpy(), color="tab:blue")
    axes.set_xticks(range(len(values)), labels, rotation=60 if len(values) > 10 else 0, fontsize=7)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=9)
    return _to_png(figure)


def plot_stacked_counts_png(counts: pd.DataFrame, title: str) -> bytes:
    """Stacked bars of counts per time bucket (rows) and category (columns)."""
    figure = Figure(figsize=(7.0, 3.2), dpi=72)
    axes = figure.subplots()
    bottom = np.zeros(len(counts))
    for column in counts.columns:
        axes.bar(range(len(counts)), counts[column].to_numpy(), bottom=bottom, label=column)
        bottom = bottom + counts[column].to_numpy()
    step = max(len(counts) // 12, 1)
    axes.set_xticks(
        range(0, len(counts), step),
        [_label(v) for v in counts.index[::step]],
        rotation=60,
        fontsize=7,
    )
    axes.set_ylabel("events")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=6, ncol=4, loc="upper right")
    return _to_png(figure)


def _label(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%m-%d %H:%M")
    return str(value)
