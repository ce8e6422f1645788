from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.defs.schedules import build_nightly_retraining_schedule
from pm_pipeline.settings import load_settings


def test_defaults_two_in_the_morning_utc_running() -> None:
    schedule = build_nightly_retraining_schedule(load_settings({}))
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "training_job"


def test_tick_trains_on_the_configured_window(monkeypatch: pytest.MonkeyPatch) -> None:
    schedule = build_nightly_retraining_schedule(load_settings({"PM_TIMEZONE": "Europe/Berlin"}))
    assert schedule.execution_timezone == "Europe/Berlin"
    monkeypatch.setenv("PM_TRAINING_DAYS", "14")
    moment = datetime(2026, 11, 25, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=moment)
        data = schedule.evaluate_tick(context)
    [request] = data.run_requests or []
    assert request.run_config == {"ops": {"raw_readings": {"config": {"last_days": 14.0}}}}
    assert request.tags["pm/trigger"] == "nightly_retraining_schedule"


def test_whole_table_when_no_window_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PM_TRAINING_DAYS", raising=False)
    schedule = build_nightly_retraining_schedule(load_settings({}))
    with dg.instance_for_test() as instance:
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    [request] = data.run_requests or []
    assert request.run_config == {}


@pytest.mark.parametrize(("variable", "value"), [("PM_TIMEZONE", "Mars/Olympus")])
def test_bad_settings_are_user_errors(variable: str, value: str) -> None:
    with pytest.raises(PipelineError, match="not a time zone"):
        build_nightly_retraining_schedule(load_settings({variable: value}))


def test_bad_training_days_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PM_TRAINING_DAYS", "two weeks")
    schedule = build_nightly_retraining_schedule(load_settings({}))
    with dg.instance_for_test() as instance, pytest.raises(Exception) as raised:
        schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    # The tick fails in the UI with the reason as its cause.
    assert isinstance(raised.value.__cause__, PipelineError)
    assert "not a number of days" in str(raised.value.__cause__)
