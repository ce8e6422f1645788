"""Two robots of two dialects in one deployment, from the real exports: a Kawasaki (8 axes,
quoted, `,`) and a UR3 (7 signed channels, `;` and decimal commas). Each is ingested, trained,
and then has a worn file dropped into its own folder; the sensor routes each file to its
robot, and nothing of one robot (event, model, activation, view) appears under the other."""

from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline.cli.app import main
from pm_pipeline.db.events import read_events
from pm_pipeline.db.registry import active_model_version, list_models, load_model
from pm_pipeline.definitions import defs
from pm_pipeline.defs.assets import file_events
from pm_pipeline.defs.assets.training import THRESHOLD_KEYS
from pm_pipeline.defs.execution import local_instance, run_views
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.partitions import split_robot_day_key
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.conftest import skip_or_fail
from pm_pipeline_tests.defs.test_fleet_sensor import FLEET
from pm_pipeline_tests.defs.test_sensor import tick as sensor_tick
from pm_pipeline_tests.partitioned import (
    file_materialization,
    latest_file_metadata,
    run_sensor_request,
)
from pm_pipeline_tests.test_robots import UR3_EXPORT

pytestmark = pytest.mark.slow
KAWASAKI, UR3 = "kawasaki-1", "ur3-1"


def slice_of(source: Path, first: int, last: int, out: Path, worn: tuple[int, int] | None):
    """Lines ``first..last`` of ``source`` under its own header, in its own dialect; within
    ``worn`` (line offsets in the slice) axis 2 draws 80% more current."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    sep = ";" if source == UR3_EXPORT else ","
    column = lines[0].split(sep).index("Current_J1" if sep == ";" else '"Axis #2"')
    body = lines[first : last + 1]
    if worn is not None:
        for offset in range(*worn):
            fields = body[offset].split(sep)
            if fields[column]:
                value = float(fields[column].replace(",", ".")) * 1.8
                fields[column] = f"{value:.6f}".replace(".", "," if sep == ";" else ".")
            body[offset] = sep.join(fields)
    out.write_text(lines[0] + "".join(body), encoding="utf-8")
    return out


def cli(*args: str | Path) -> None:
    assert main([str(arg) for arg in args]) == 0, args


def test_two_robots_of_two_dialects_keep_everything_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_export: Path, postgres_url: str
) -> None:
    if not UR3_EXPORT.is_file():
        skip_or_fail(f"UR3 export not found at {UR3_EXPORT}")
    robots_file = tmp_path / "robots.yaml"
    robots_file.write_text(FLEET)
    drop = tmp_path / "incoming"
    for variable, value in {
        "PM_ROBOTS_FILE": str(robots_file),
        "PM_DATABASE_URL": postgres_url,
        "PM_DROP_DIR": str(drop),
        "PM_SETTLE_SECONDS": "0",
    }.items():
        monkeypatch.setenv(variable, value)
    cli("ingest", "--robot", KAWASAKI, slice_of(real_export, 2001, 10000, tmp_path / "k.csv", None))
    cli("ingest", "--robot", UR3, slice_of(UR3_EXPORT, 1, 3600, tmp_path / "u.csv", None))
    cli("train", "--robot", KAWASAKI)
    cli("train", "--robot", UR3)
    engine = ReadingsDatabaseResource().engine()
    # The default mode picks per robot: cusum for the idling Kawasaki, mspc for the UR3 arm
    # that never idles; both versions pass the synthetic check and are promoted.
    active = {robot: active_model_version(engine, robot) for robot in (KAWASAKI, UR3)}
    modes = {
        robot: load_model(engine, str(version)).params.mode for robot, version in active.items()
    }
    assert modes == {KAWASAKI: "cusum", UR3: "mspc"}

    for robot in (KAWASAKI, UR3):
        (drop / robot).mkdir(parents=True)
    slice_of(real_export, 10001, 11000, drop / KAWASAKI / "shift.csv", worn=(300, 700))
    slice_of(UR3_EXPORT, 3601, 4600, drop / UR3 / "shift.csv", worn=(300, 700))
    instance = local_instance()
    tick = sensor_tick(instance)
    assert isinstance(tick, dg.SensorResult)
    requests = [r for r in tick.run_requests or [] if isinstance(r, dg.RunRequest)]
    # The two robots score in different lanes (PM_SCORING_LANES is 2): a run each.
    assert sorted(r.tags["pm/robots"] for r in requests) == [KAWASAKI, UR3]
    assert len({r.tags["pm/scoring_lane"] for r in requests}) == 2
    resources = pipeline_resources(ReadingsDatabaseResource())
    for request in requests:
        assert run_sensor_request(instance, tick, request, resources).success
    for robot in (KAWASAKI, UR3):
        assert run_views(defs(), instance, robot).success

    versions = {robot: active_model_version(engine, robot) for robot in (KAWASAKI, UR3)}
    assert versions[KAWASAKI] != versions[UR3]
    for robot, other in ((KAWASAKI, UR3), (UR3, KAWASAKI)):
        models = {entry.model_version for entry in list_models(engine, robot)}
        assert versions[robot] in models and versions[other] not in models
        events = read_events(engine, "shift.csv", robot)
        assert set(events["robot_id"]) == {robot}
        assert set(events["model_version"]) == {versions[robot]}
        assert "axis_2" in set(events["axis"]), robot  # each robot's wear is caught
        assert set(events["axis"]) <= {f"axis_{n}" for n in range(1, 9 if robot == KAWASAKI else 8)}
        scored = latest_file_metadata(instance, "shift.csv", robot)
        assert scored["robot"] == robot and scored["model_version"] == versions[robot]
        assert scored["events"] == len(events)
        assert Path(scored["file"]).parent == drop / robot / "archive"
        # The sensor's run records the robot's thresholds of that version as the file's inputs.
        inputs = _input_versions(file_materialization(instance, "shift.csv", robot))
        assert inputs == {key.to_user_string(): versions[robot] for key in THRESHOLD_KEYS.values()}
        opened = _latest_view(instance, "open_events", robot)
        assert opened["robot"] == robot
        assert opened["dagster/row_count"] <= len(events)
    # The file name is the same in both folders: one robot-day each, and no file partitions.
    partitions = instance.get_materialized_partitions(file_events.key)
    assert {split_robot_day_key(key)[0] for key in partitions} == {KAWASAKI, UR3}
    assert len(partitions) == 2
    assert sorted(instance.get_dynamic_partitions("robots")) == [KAWASAKI, UR3]


def _input_versions(record: dg.EventLogRecord) -> dict[str, str]:
    assert record.asset_materialization is not None
    prefix = "dagster/input_data_version/"
    tags = record.asset_materialization.tags or {}
    return {k.removeprefix(prefix): v for k, v in tags.items() if k.startswith(prefix)}


def _latest_view(instance: dg.DagsterInstance, key: str, robot: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[robot]), limit=1
    ).records
    assert records and records[0].asset_materialization is not None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}
