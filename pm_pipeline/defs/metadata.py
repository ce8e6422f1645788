"""Turning core results into Dagster metadata (plain Python numbers, markdown, embedded PNGs).

Only a seed-mode model's training draws PNGs here; :mod:`pm_pipeline.core.views.plots`
(matplotlib, 0.4 s of CPU) is imported when it does, not by every process that loads the code
location.
"""

from typing import Any

import dagster as dg
import pandas as pd

from pm_pipeline.core.detection.registry import model_detector
from pm_pipeline.core.detection.seed import residual_frame
from pm_pipeline.core.evaluation.promotion import LandedFaultCheck
from pm_pipeline.core.model.exclusion import Exclusion
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import AXES, CONTEXT_COLUMNS, TIME_COLUMN
from pm_pipeline.core.simulation.synthetic import generate_synthetic_test_data
from pm_pipeline.core.views.inline import Level, peak_line_markdown
from pm_pipeline.services.sources import SourceSync

PLOTTED_VERIFICATION_HOURS = 2.0
"""The verification plot's least span: 2 h at a fast cadence, more when the set needs more
readings (see :func:`pm_pipeline.core.simulation.synthetic.verification_readings`)."""


def table_markdown(frame: pd.DataFrame) -> dg.MetadataValue:
    """A small frame as a markdown table: numbers to six significant digits, text as stored.

    tabulate reads any text that looks like a number as one: a model version such as
    ``1234567890e1`` would show as ``1.23457e+10``, so text columns are never parsed.
    """
    text = [i for i, dtype in enumerate(frame.dtypes) if not pd.api.types.is_numeric_dtype(dtype)]
    # tabulate fails on a list of columns for a table of no rows, which has nothing to parse.
    not_parsed = text if len(frame) else True
    return dg.MetadataValue.md(
        frame.to_markdown(index=False, floatfmt=".6g", disable_numparse=not_parsed)
    )


def readings_metadata(frame: pd.DataFrame) -> dict[str, Any]:
    """Row count, column schema and time span of a readings frame."""
    times = frame[TIME_COLUMN]
    context = tuple(column for column in CONTEXT_COLUMNS if column in frame)
    return readings_span_metadata(len(frame), times.min(), times.max(), context)


def readings_span_metadata(
    rows: int,
    first: pd.Timestamp | None,
    last: pd.Timestamp | None,
    context: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Row count, column schema and time span of readings seen in passing (a stream), with
    the ``context`` columns they carry."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(TIME_COLUMN, "timestamp (UTC)")]
        + [dg.TableColumn(axis, "float (A; NULL = no load)") for axis in AXES]
        + [dg.TableColumn(name, "float (context: an input, never alarms)") for name in context]
    )
    return {
        "dagster/row_count": int(rows),
        "dagster/column_schema": schema,
        "window_start": first.isoformat() if rows and first is not None else "",
        "window_end": last.isoformat() if rows and last is not None else "",
    }


def source_metadata(synced: SourceSync | None) -> dict[str, Any]:
    """The copy from the user's own table before training; nothing without a source."""
    if synced is None:
        return {}
    return {
        "source": synced.source,
        "source_rows_read": int(synced.rows_read),
        "source_rows_copied": int(synced.rows_added),
        "source_mark": synced.mark.isoformat() if synced.mark is not None else "",
    }


EXCLUDED_SPANS_SHOWN = 20


def exclusion_metadata(exclusion: Exclusion) -> dict[str, Any]:
    """The readings left out of a training window because they lay inside stored events."""
    newest = exclusion.spans.tail(EXCLUDED_SPANS_SHOWN)
    shown = newest.assign(
        start=newest["start"].map(pd.Timestamp.isoformat),
        end=newest["end"].map(pd.Timestamp.isoformat),
    )
    return {
        "excluded_readings": int(exclusion.readings),
        "excluded_margin_s": float(exclusion.margin_s),
        "excluded_span_count": len(exclusion.spans),
        "excluded_spans": table_markdown(shown)
        if len(shown)
        else dg.MetadataValue.md("none: no stored event of a landed file lies in the window"),
    }


def landed_fault_metadata(landed: LandedFaultCheck) -> dict[str, Any]:
    """The newest-landed-fault promotion check: the file, both models' events there."""
    if landed.source is None:
        return {"summary": landed.summary}
    return {
        "summary": landed.summary,
        "file": landed.source,
        "active_model_events": _events_markdown(landed.active_events),
        "candidate_events": _events_markdown(landed.candidate_events),
    }


def _events_markdown(events: pd.DataFrame) -> dg.MetadataValue:
    if events.empty:
        return dg.MetadataValue.md("none")
    shown = ("axis", "severity", "start", "end", "z_peak", "caught")
    return table_markdown(events[[column for column in shown if column in events]])


def axis_model_metadata(
    model: TrainedModel, axis: str, readings: pd.DataFrame, statistic: pd.DataFrame | None
) -> dict:
    """Coefficients, residual statistics, thresholds, window and plots of one axis model; for
    an axis the model does not cover, the version and why. ``statistic`` is the detector's
    score over the training window (``Detector.statistic``), drawn inline with its levels."""
    if axis not in model.axes:
        return {
            "model_version": model.version,
            "mode": model.params.mode,
            "modelled": False,
            "reason": f"no {axis} readings in the training window (a robot with fewer axes)",
            "modelled_axes": ", ".join(model.axis_names),
            "window_start": model.window_start,
            "window_end": model.window_end,
            "dagster/row_count": 0,
            "excluded_readings": int(model.excluded_row_count),
            **context_metadata(model),
        }
    fitted = model.axes[axis]
    limits = fitted.thresholds
    description = model_detector(model).describe()
    channels = {
        f"{name}_sustain_samples": int(fitted.channels[name].sustain_alert)
        for name in description.channels
        if fitted.channels is not None
    }
    return {
        "model_version": model.version,
        "mode": model.params.mode,
        "modelled": True,
        **(
            {"plot_statistic": _statistic_plot(model, axis, statistic)}
            if statistic is not None
            else {}
        ),
        "scores": description.scores,
        "fields_fitted": ", ".join(description.axis_fields),
        **channels,
        **_line_metadata(model, axis, readings, description.axis_fields),
        "intercept": float(fitted.intercept),
        "residual_mu": float(fitted.residual_mu),
        "residual_sigma": float(fitted.residual_sigma),
        "MinC": float(limits.min_c),
        "MaxC": float(limits.max_c),
        "sustain_samples": int(limits.sustain_samples),
        "sustain_s": float(limits.sustain_s),
        "training_epoch": model.epoch,
        "window_start": model.window_start,
        "window_end": model.window_end,
        "dagster/row_count": int(fitted.row_count),
        "excluded_readings": int(model.excluded_row_count),
        **context_metadata(model),
    }


def context_metadata(model: TrainedModel) -> dict[str, Any]:
    """The model's context channels and the export column each one is (none: nothing)."""
    if not model.context_names:
        return {}
    rows = pd.DataFrame(
        {"channel": list(model.context_names), "export_column": list(model.context_names.values())}
    )
    return {"context_columns": table_markdown(rows)}


def _line_metadata(
    model: TrainedModel, axis: str, readings: pd.DataFrame, fitted_fields: tuple[str, ...]
) -> dict:
    """Slope, R² and the readings against the line, for a mode that fits a line on time;
    nothing for one that does not (a line it never uses would mislead)."""
    if "slope" not in fitted_fields:
        return {}
    from pm_pipeline.core.views.plots import png_markdown

    fitted = model.axes[axis]
    training = residual_frame(model, readings, axis)
    synthetic = generate_synthetic_test_data(model, hours=PLOTTED_VERIFICATION_HOURS, seed=11)
    verification = residual_frame(model, synthetic.readings, axis)
    return {
        "slope_per_s": float(fitted.slope),
        "slope_per_day": float(fitted.slope * 86400),
        "r2": float(fitted.r2),
        "plot_training": dg.MetadataValue.md(
            png_markdown(_plot(training, f"{axis}: training window", model, axis), "training")
        ),
        "plot_verification": dg.MetadataValue.md(
            png_markdown(
                _plot(verification, f"{axis}: synthetic verification", model, axis),
                "verification",
            )
        ),
    }


def _statistic_plot(model: TrainedModel, axis: str, statistic: pd.DataFrame) -> dg.MetadataValue:
    """The detector's score on the training window's newest hours, peak per slice, against
    the ALERT and ERROR levels: small enough for the UI to show on the asset page."""
    alert, error = model_detector(model).statistic_levels(model, axis)
    levels = [
        Level(alert, f"ALERT {alert:g}", "orange"),
        Level(error, f"ERROR {error:g}", "crimson"),
    ]
    if statistic.empty:
        return dg.MetadataValue.md(f"{axis}: no scored readings in the training window")
    hours = (statistic[TIME_COLUMN].max() - statistic[TIME_COLUMN].min()).total_seconds() / 3600
    title = f"{axis} score on the training window, its newest {hours:.0f} h (peak per slice)"
    return dg.MetadataValue.md(
        peak_line_markdown(statistic[TIME_COLUMN], statistic["z"].to_numpy(), title, levels)
    )


def _plot(scored: pd.DataFrame, title: str, model: TrainedModel, axis: str) -> bytes:
    from pm_pipeline.core.views.plots import plot_regression_png

    fitted = model.axes[axis]
    return plot_regression_png(scored, title, fitted.residual_mu + fitted.thresholds.min_c)
