"""Fitting the mspc mode: standardise, predict each channel from the others, set limits.

Multivariate statistical process monitoring in the MSET/PLS family, kept to what holds on
1–8 channels of any kind and on training windows of a few hundred readings:

1. Every column (the monitored channels and any context columns) is standardised by its
   training median and standard deviation, the latter never below the column's resolution
   (its smallest step between distinct readings). Signs are kept: a signed current that
   turns negative is not folded onto its positive readings.
2. Each channel is predicted by a ridge regression (scikit-learn) on the other channels
   and the context columns (method ``relations``), fitted on the earliest ``fit_share``
   (70%) of the training readings; its residual spread and limits (step 3) are measured
   on all of them, so they include readings the prediction has not seen. A fault that
   breaks the usual relation between channels, or moves one channel alone, leaves a
   residual in that channel; a change in operating point that moves all channels as before
   does not. One channel with no context has nothing to be predicted from (method
   ``level``): its residual is its own standardised value.
3. Residuals ``u`` are standardised by their training spread. Two statistics per channel
   are smoothed by an EWMA: ``u`` itself (level: rises, falls, broken relations) and
   ``|Δu|``, the step from the previous reading's ``u``, less its training mean (spread:
   added noise; a shift or a drift of the level barely moves it). Each statistic's limit is the
   largest |EWMA| in the training window plus ``limit_factor`` × the EWMA's training range
   (never less than 3 σ of an EWMA of white noise, for windows too short to show their own
   range). The range is what the scoring baseline, which follows drift with a time
   constant of one training window, lags behind a drift at the window's own pace.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pm_pipeline.core.model.params import MspcSettings
from pm_pipeline.core.model.trained import (
    AxisModel,
    AxisThresholds,
    MinMaxScaling,
    MspcModel,
)
from pm_pipeline.core.schema import CONTEXT_COLUMNS

RELATIONS = "relations"
LEVEL = "level"


def context_columns(readings: pd.DataFrame) -> list[str]:
    """The context columns of ``readings`` that carry at least one reading."""
    return [
        column
        for column in CONTEXT_COLUMNS
        if column in readings.columns and bool(readings[column].notna().any())
    ]


def resolution(values: np.ndarray) -> float:
    """The smallest step between distinct readings (0 for a constant column)."""
    distinct = np.unique(values[~np.isnan(values)])
    steps = np.diff(distinct)
    return float(steps.min()) if len(steps) else 0.0


def ewma_smoothing(span: int) -> float:
    """λ of an EWMA of ``span`` samples."""
    return 2.0 / (span + 1.0)


def ewma(
    u: np.ndarray, lam: float, start: np.ndarray, huber_k: np.ndarray | None = None
) -> np.ndarray:
    """The EWMA of the rows of ``u`` from ``start``: ``e_t = e_{t-1} + φ(u_t - e_{t-1})``.

    Plain (``huber_k`` None), ``φ(x) = λx``. Adaptive (Capizzi and Masarotto, 2003,
    Technometrics 45: 199–207), ``φ`` is Huber's score with each column's ``huber_k``: a
    step within ``k`` moves the average by ``λx`` as before, a larger one by
    ``x - (1-λ)k·sign(x)``, so an error beyond anything training held passes almost in
    full (a large shift is seen at once, like a Shewhart chart) while noise is smoothed
    as much as ever."""
    from scipy.signal import lfilter  # deferred: see the package docstring

    if huber_k is None:
        out, _ = lfilter([lam], [1.0, lam - 1.0], u, axis=0, zi=[start * (1 - lam)])
        return out
    out = np.empty_like(u)
    state = np.asarray(start, dtype="float64")
    plain = ~np.isfinite(huber_k)
    if plain.any():
        out[:, plain], _ = lfilter(
            [lam], [1.0, lam - 1.0], u[:, plain], axis=0, zi=[state[plain] * (1 - lam)]
        )
    for column in np.flatnonzero(~plain):
        out[:, column] = _adaptive_column(u[:, column], lam, state[column], huber_k[column])
    return out


MAX_PLAIN_STRETCH = 4096
"""Most readings :func:`_adaptive_column` smooths in one plain pass before it looks for a
step beyond ``k``."""


def _adaptive_column(x: np.ndarray, lam: float, state: float, k: float) -> np.ndarray:
    """One column of the adaptive EWMA: plain (one ``lfilter`` pass) up to the first step
    larger than ``k``, Huber's score on that step, and on from there. The plain stretches
    are exactly the recursion's, so the result does not depend on where they are cut; a
    stretch grows while no step is large, so a run of large steps costs a few readings'
    pass each, not the whole column's."""
    from scipy.signal import lfilter  # deferred: see the package docstring

    out = np.empty_like(x)
    row, stretch = 0, 16
    while row < len(x):
        ahead = x[row : row + stretch]
        smooth, _ = lfilter([lam], [1.0, lam - 1.0], ahead, zi=[state * (1 - lam)])
        before = np.r_[state, smooth[:-1]]
        large = np.flatnonzero(np.abs(ahead - before) > k)
        if not len(large):
            out[row : row + len(ahead)] = smooth
            row, state = row + len(ahead), float(smooth[-1])
            stretch = min(2 * stretch, MAX_PLAIN_STRETCH)
            continue
        first = int(large[0])
        out[row : row + first] = smooth[:first]
        error = ahead[first] - before[first]
        # Huber's score, φ(x) = x − (1−λ)·clip(x, −k, k): x ∓ (1−λ)k beyond k.
        state = float(before[first] + error - (1.0 - lam) * np.clip(error, -k, k))
        out[row + first] = state
        row, stretch = row + first + 1, 16
    return out


def smoothed(
    u: np.ndarray,
    lam: float,
    segment: np.ndarray,
    start: np.ndarray | None = None,
    huber_k: np.ndarray | None = None,
):
    """EWMA (plain, or adaptive with ``huber_k``: see :func:`ewma`) down the rows of ``u``,
    from 0 (or ``start``) and again from 0 wherever ``segment`` changes (a data gap)."""
    out = np.empty_like(u)
    state = np.zeros(u.shape[1]) if start is None else start
    bounds = [*np.flatnonzero(np.r_[True, np.diff(segment) != 0]), len(u)]
    for index, (low, high) in enumerate(itertools.pairwise(bounds)):
        if index:
            state = np.zeros(u.shape[1])
        out[low:high] = ewma(u[low:high], lam, state, huber_k)
        state = out[high - 1]
    return out


def residual_steps(
    u: np.ndarray, segment: np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """``|u_t - u_{t-1}|`` per row and channel; NaN on a segment's first row (after a data
    gap, or the first row when there is no ``previous`` row) and where a reading is missing."""
    before = np.vstack([np.full(u.shape[1], np.nan) if previous is None else previous, u[:-1]])
    if len(segment):
        before[np.r_[False, np.diff(segment) != 0]] = np.nan
    return np.abs(u - before)


def statistic_limits(smoothed_training: np.ndarray, floor: float, factor: float) -> np.ndarray:
    """Per column, the largest |EWMA| of the training window plus ``factor`` × its range,
    each at least ``floor``."""
    highest = np.max(np.abs(smoothed_training), axis=0)
    extent = np.ptp(smoothed_training, axis=0)
    return np.maximum(highest, floor) + factor * np.maximum(extent, floor)


def _fitted_rows(count: int, share: float | None) -> int:
    """How many of ``count`` time-ordered training rows the predictions are fitted on: the
    earliest ``share`` of them (all when ``share`` is None), never fewer than 2."""
    return count if share is None else min(count, max(2, int(count * share)))


def fit_mspc(
    readings: pd.DataFrame,
    scaling: MinMaxScaling,
    dt_s: float,
    settings: MspcSettings,
    segment: np.ndarray,
) -> tuple[dict[str, AxisModel], MspcModel]:
    """Per-axis records and the joint model from time-ordered training readings."""
    channels = list(scaling.minimums)
    context = context_columns(readings)
    columns = channels + context
    values = readings[columns].to_numpy(dtype="float64")
    center = np.nanmedian(values, axis=0)
    center = np.where(np.isnan(center), 0.0, center)
    spread = np.nanstd(values, axis=0)
    floor = np.array([resolution(values[:, j]) for j in range(len(columns))])
    scale = np.maximum(np.nan_to_num(spread), floor)
    scale = np.where(scale > 0, scale, 1.0)
    z = np.nan_to_num((values - center) / scale)
    method = RELATIONS if len(columns) > 1 else LEVEL
    lam = ewma_smoothing(settings.ewma_span)
    white = 3.0 * np.sqrt(lam / (2.0 - lam))
    weights, intercepts, residual_scales, r2 = {}, {}, {}, {}
    residuals = np.empty((len(z), len(channels)))
    fitted = _fitted_rows(len(z), settings.fit_share)
    for j, channel in enumerate(channels):
        others = [k for k in range(len(columns)) if k != j]
        if others:
            from sklearn.linear_model import Ridge  # deferred: see the package docstring

            ridge = Ridge(alpha=settings.ridge_alpha).fit(z[:fitted, others], z[:fitted, j])
            weights[channel] = [float(w) for w in ridge.coef_]
            intercepts[channel] = float(ridge.intercept_)
            residual = z[:, j] - ridge.predict(z[:, others])
        else:
            weights[channel], intercepts[channel] = [], 0.0
            residual = z[:, j]
        step = floor[j] / scale[j] if floor[j] > 0 else 1e-6
        residual_scales[channel] = float(max(np.std(residual), step))
        r2[channel] = float(1.0 - np.var(residual) / max(np.var(z[:, j]), 1e-12))
        residuals[:, j] = residual / residual_scales[channel]
    count = len(channels)
    steps = residual_steps(residuals, segment)
    spread_center = np.nanmean(steps, axis=0) if len(steps) > 1 else np.zeros(len(channels))
    spread_center = np.nan_to_num(spread_center)
    statistics = np.hstack([residuals, np.nan_to_num(steps - spread_center)])
    # The adaptive average passes in full only what is larger than any training value.
    # The adaptive average is a chart for shifts of the level: the spread statistics keep
    # the plain one (an infinite k), where one large step is the noise they measure.
    huber_k = (
        np.r_[np.max(np.abs(residuals), axis=0), np.full(count, np.inf)]
        if settings.adaptive_ewma
        else None
    )
    limits = statistic_limits(
        smoothed(statistics, lam, segment, huber_k=huber_k), white, settings.limit_factor
    )
    model = MspcModel(
        method=method,
        channels=channels,
        context=context,
        center={name: float(c) for name, c in zip(columns, center, strict=True)},
        scale={name: float(s) for name, s in zip(columns, scale, strict=True)},
        weights=weights,
        intercept=intercepts,
        residual_scale=residual_scales,
        limit={
            channel: float(limit) for channel, limit in zip(channels, limits[:count], strict=True)
        },
        spread_center={c: float(v) for c, v in zip(channels, spread_center, strict=True)},
        spread_limit={c: float(v) for c, v in zip(channels, limits[count:], strict=True)},
        span=settings.ewma_span,
        adapt_samples=float(settings.adapt_windows * len(readings)),
        input_range={
            name: [float(low), float(high)]
            for name, low, high in zip(columns, z.min(axis=0), z.max(axis=0), strict=True)
        },
        hold="statistic",
        settle_samples=None
        if settings.settle_spans is None
        else float(settings.settle_spans * settings.ewma_span),
        huber_k=None
        if huber_k is None
        else {c: float(k) for c, k in zip(channels, huber_k[:count], strict=True)},
        adopt_from_hold_start=None
        if settings.settle_spans is None
        else bool(settings.adopt_from_hold_start),
    )
    return _axis_records(model, scaling, readings, r2, dt_s, settings), model


def _axis_records(
    model: MspcModel,
    scaling: MinMaxScaling,
    readings: pd.DataFrame,
    r2: dict[str, float],
    dt_s: float,
    settings: MspcSettings,
) -> dict[str, AxisModel]:
    """Per axis, what the other modes' records carry: its centre and its residual spread in
    scaled units (what the synthetic verification set draws), and its levels."""
    records = {}
    for channel in model.channels:
        span = scaling.span(channel)
        sigma = model.residual_scale[channel] * model.scale[channel] / span
        records[channel] = AxisModel(
            axis=channel,
            slope=0.0,
            intercept=(model.center[channel] - scaling.minimums[channel]) / span,
            r2=r2[channel],
            residual_mu=0.0,
            residual_sigma=sigma,
            row_count=int(readings[channel].notna().sum()),
            thresholds=AxisThresholds(
                z_alert=settings.z_alert,
                z_error=settings.z_error,
                min_c=-model.limit[channel] * sigma,
                max_c=model.limit[channel] * sigma,
                sustain_samples=settings.min_sustain_samples,
                sustain_s=settings.min_sustain_samples * dt_s,
            ),
        )
    return records
