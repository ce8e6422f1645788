from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.schema import readings_table
from pm_pipeline.definitions import defs
from pm_pipeline.defs.partitions import ROBOTS
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.defs.schedules import build_nightly_retraining_schedule


def schedule_context(
    instance: dg.DagsterInstance, resources: dict, moment: datetime
) -> dg.ScheduleEvaluationContext:
    return dg.build_schedule_context(
        instance=instance,
        resources=resources,
        scheduled_execution_time=moment,
        repository_def=defs().get_repository_def(),
    )


def fleet_store(url: str, instance: dg.DagsterInstance, with_readings: list[str]) -> dict:
    """Robots a, b and c as partitions, readings stored for ``with_readings``; the schedule's
    resources on that store."""
    instance.add_dynamic_partitions(ROBOTS, ["a", "b", "c"])
    engine = open_engine(url)
    with engine.begin() as connection:
        for robot in with_readings:
            connection.execute(
                readings_table().insert(),
                [{"robot_id": robot, "timestamp_recorded": datetime(2026, 1, 1), "axis_1": 1.0}],
            )
    engine.dispose()
    return {"readings_db": ReadingsDatabaseResource(url=url), "settings": SettingsResource()}


def test_defaults_two_in_the_morning_utc_running() -> None:
    schedule = build_nightly_retraining_schedule(load_settings({}))
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "training_job"


def test_tick_retrains_each_robot_with_readings_on_the_configured_window(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    schedule = build_nightly_retraining_schedule(load_settings({"PM_TIMEZONE": "Europe/Berlin"}))
    assert schedule.execution_timezone == "Europe/Berlin"
    monkeypatch.setenv("PM_TRAINING_DAYS", "14")
    moment = datetime(2026, 11, 25, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with dg.instance_for_test() as instance:
        resources = fleet_store(sqlite_url, instance, with_readings=["a", "c"])
        context = schedule_context(instance, resources, moment)
        data = schedule.evaluate_tick(context)
    requests = data.run_requests or []
    # b has no readings yet: a run for it would only fail.
    assert [r.partition_key for r in requests] == ["a", "c"]
    assert [r.run_key for r in requests] == ["a@2026-11-25T02:00+0100", "c@2026-11-25T02:00+0100"]
    for request in requests:
        assert request.run_config == {"ops": {"raw_readings": {"config": {"last_days": 14.0}}}}
        assert request.tags["pm/trigger"] == "nightly_retraining_schedule"
        assert request.tags["pm/robot"] == request.partition_key


def test_whole_table_when_no_window_is_set(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.delenv("PM_TRAINING_DAYS", raising=False)
    schedule = build_nightly_retraining_schedule(load_settings({}))
    with dg.instance_for_test() as instance:
        resources = fleet_store(sqlite_url, instance, with_readings=["b"])
        context = schedule_context(instance, resources, datetime(2026, 1, 2))
        data = schedule.evaluate_tick(context)
    [request] = data.run_requests or []
    assert (request.partition_key, request.run_config) == ("b", {})


def test_no_robot_with_readings_skips_the_tick(sqlite_url: str) -> None:
    schedule = build_nightly_retraining_schedule(load_settings({}))
    with dg.instance_for_test() as instance:
        resources = fleet_store(sqlite_url, instance, with_readings=[])
        context = schedule_context(instance, resources, datetime(2026, 1, 2))
        data = schedule.evaluate_tick(context)
    assert not data.run_requests
    assert "no robot has readings" in str(data.skip_message)


@pytest.mark.parametrize(("variable", "value"), [("PM_TIMEZONE", "Mars/Olympus")])
def test_bad_settings_are_user_errors(variable: str, value: str) -> None:
    with pytest.raises(PipelineError, match="not a time zone"):
        build_nightly_retraining_schedule(load_settings({variable: value}))


def test_bad_training_days_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    schedule = build_nightly_retraining_schedule(load_settings({}))
    with dg.instance_for_test() as instance:
        resources = fleet_store(sqlite_url, instance, with_readings=["a"])
        context = schedule_context(instance, resources, datetime(2026, 1, 2))
        monkeypatch.setenv("PM_TRAINING_DAYS", "two weeks")  # changed after the code loaded
        with pytest.raises(Exception) as raised:
            schedule.evaluate_tick(context)
    # The tick fails in the UI with the reason as its cause.
    assert isinstance(raised.value.__cause__, PipelineError)
    assert "not a number of days" in str(raised.value.__cause__)
