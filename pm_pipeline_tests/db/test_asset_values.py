"""Step outputs stored in our database: frames as Parquet, other values pickled, newest wins."""

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.db.asset_values import (
    PARQUET,
    PICKLE,
    UNPARTITIONED,
    encode_value,
    load_asset_value,
    store_asset_value,
)
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.schema import asset_values


def test_a_frame_is_parquet_and_comes_back_equal(
    database_url: str, robot_day: pd.DataFrame
) -> None:
    engine = open_engine(database_url)
    frame = robot_day.head(500).copy()
    frame.loc[3, "axis_4"] = np.nan  # no load stays no load
    assert encode_value(frame).value_format == PARQUET
    store_asset_value(engine, "raw_readings", UNPARTITIONED, frame, "run-1")
    loaded = load_asset_value(engine, "raw_readings", UNPARTITIONED)
    pd.testing.assert_frame_equal(loaded, frame)
    assert str(loaded["timestamp_recorded"].dt.tz) == "UTC"


def test_other_values_are_pickled_and_the_newest_wins_per_partition(
    database_url: str, robot_day: pd.DataFrame
) -> None:
    engine = open_engine(database_url)
    first, second = fit_minmax_scaling(robot_day.head(100)), fit_minmax_scaling(robot_day)
    assert encode_value(first).value_format == PICKLE
    store_asset_value(engine, "minmax_scaler", "robot-a", first, "run-1")
    store_asset_value(engine, "minmax_scaler", "robot-b", first, "run-1")
    store_asset_value(engine, "minmax_scaler", "robot-a", second, "run-2")
    assert load_asset_value(engine, "minmax_scaler", "robot-a") == second
    assert load_asset_value(engine, "minmax_scaler", "robot-b") == first
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(asset_values.c.partition_key, asset_values.c.run_id).order_by(
                asset_values.c.partition_key
            )
        ).all()
    assert [tuple(row) for row in rows] == [("robot-a", "run-2"), ("robot-b", "run-1")]


def test_a_value_never_stored_names_the_asset_and_what_to_do(database_url: str) -> None:
    engine = open_engine(database_url)
    with pytest.raises(
        PipelineError, match=r"asset minmax_scaler \(partition robot-a\).*materialize"
    ):
        load_asset_value(engine, "minmax_scaler", "robot-a")
