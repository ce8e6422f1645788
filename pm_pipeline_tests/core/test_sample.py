from pathlib import Path

import pandas as pd

from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.simulation.sample import planted_fault, write_sample_exports


def test_sample_export_looks_like_the_real_robot(tmp_path: Path) -> None:
    history, landed, fault = write_sample_exports(tmp_path, history_hours=6, landed_hours=1)
    assert history.read_text().startswith('"Trait","Axis #1"')
    readings = read_export(history)
    axes = readings[list(AXES)]
    idle = (axes == 0).all(axis=1)
    assert 0.5 < idle.mean() < 0.75
    active = axes[~idle]
    assert active["axis_2"].median() > 20 * active["axis_8"].median()
    assert 30 < active["axis_2"].quantile(0.99) < 60
    steps = readings[TIME_COLUMN].diff().dt.total_seconds().dropna()
    assert 1.8 < steps.median() < 2.0
    assert (steps > 10).sum() >= 1
    held_back = read_export(landed)
    assert held_back[TIME_COLUMN].min() > readings[TIME_COLUMN].max()
    assert fault == planted_fault(6, 1)
    assert held_back[TIME_COLUMN].between(fault.start, fault.end).any()


def test_sample_is_reproducible(tmp_path: Path) -> None:
    first, _, _ = write_sample_exports(tmp_path / "a", history_hours=1, landed_hours=0.5)
    again, _, _ = write_sample_exports(tmp_path / "b", history_hours=1, landed_hours=0.5)
    assert first.read_bytes() == again.read_bytes()
    assert isinstance(read_export(first)[TIME_COLUMN].iloc[0], pd.Timestamp)
