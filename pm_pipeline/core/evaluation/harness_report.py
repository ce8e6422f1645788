"""The harness's table: one column per detector mode, one row per figure, and the targets."""

from __future__ import annotations

import pandas as pd

from pm_pipeline.core.simulation.wear import KINDS

TARGETS = {
    "recall, all faults": ">= 0.92",
    **{f"recall, {kind}": ">= 0.8" for kind in KINDS},
    "false events per hour, clean": "<= 0.2",
    "median minutes to detect": "<= 3",
    "median minutes, |event end - fault end|": "<= 3",
    "live feed recall - whole-file recall": "within 0.03",
}


def summarise(faults: pd.DataFrame, clean: pd.DataFrame) -> pd.DataFrame:
    """Figures per mode (columns, in the order the modes were run) plus a ``target`` column.

    Parameters
    ----------
    faults
        One row per fault and mode, from :func:`pm_pipeline.core.evaluation.harness.run_harness`.
    clean
        False events on the clean scored parts, per split and mode.
    """
    columns = {}
    for mode in dict.fromkeys(faults["mode"]):
        rows = faults[faults["mode"] == mode]
        clean_rows = clean[clean["mode"] == mode]
        per_split = clean_rows["events"] / clean_rows["hours"]
        caught = rows[rows["caught"]]
        figures = {"recall, all faults": rows["caught"].mean()}
        for kind in KINDS:
            figures[f"recall, {kind}"] = rows.loc[rows["kind"] == kind, "caught"].mean()
        figures.update(
            {
                "false events per hour, clean": clean_rows["events"].sum()
                / clean_rows["hours"].sum(),
                "  lowest / highest split": f"{per_split.min():.2f} / {per_split.max():.2f}",
                "median minutes to detect": caught["detect_s"].median() / 60,
                "median minutes, |event end - fault end|": caught["end_error_s"].median() / 60,
                "live feed recall (250-reading files, state carried)": rows["caught_live"].mean(),
                "live feed recall - whole-file recall": rows["caught_live"].mean()
                - rows["caught"].mean(),
                "recall, each 250-reading file alone": rows["caught_alone"].mean(),
                "other events per hour around faults": rows["other_events"].sum()
                / rows["hours"].sum(),
                "faults": len(rows),
            }
        )
        columns[mode] = figures
    table = pd.DataFrame(columns)
    table["target"] = [TARGETS.get(name, "") for name in table.index]
    return table


def formatted(table: pd.DataFrame) -> str:
    """The table as text, numbers to two decimals."""
    shown = table.copy()
    for column in shown.columns:
        shown[column] = [
            f"{value:.2f}" if isinstance(value, float) else str(value) for value in shown[column]
        ]
    return shown.to_string()
