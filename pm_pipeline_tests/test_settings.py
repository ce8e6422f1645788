"""Settings: every PM_* variable read once, validated, one line per bad variable; the .env file;
.env.example in step with the Settings class."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pm_pipeline.config.reference import (
    other_variables,
    render_env_example,
    setting_variables,
)
from pm_pipeline.config.settings import Settings, load_settings
from pm_pipeline.core.errors import PipelineError, SettingsError
from pm_pipeline.core.parsing.format import ExportFormat, ExportSettingError
from pm_pipeline.defs.jobs import DEFAULT_MAX_RUNTIME_SECONDS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT_ROOT / "pm_pipeline"
CLI = Path(sys.executable).parent / "pm-pipeline"

# variable: (text, field, value it becomes)
VALID = {
    "PM_DATABASE_URL": ("sqlite:///x.db", "database_url", "sqlite:///x.db"),
    "DATABASE_URL": ("sqlite:///y.db", "database_url", "sqlite:///y.db"),
    "PM_STATE_DIR": ("/tmp/pm-state", "state_dir", Path("/tmp/pm-state")),
    "PM_DROP_DIR": ("/tmp/pm-drop/", "drop_dir", Path("/tmp/pm-drop")),
    "PM_AXIS_COUNT": (" 6 ", "axis_count", 6),
    "PM_COLUMN_MAP": ('{"time": "Zeit"}', "column_map", {"time": "Zeit"}),
    "PM_TRAINING_DAYS": ("0.5", "training_days", 0.5),
    "PM_RETRAIN_CRON": ("30 1 * * 1-5", "retrain_cron", "30 1 * * 1-5"),
    "PM_TIMEZONE": ("Europe/Berlin", "timezone", "Europe/Berlin"),
    "PM_SETTLE_SECONDS": ("2.5", "settle_seconds", 2.5),
    "PM_MAX_FILES_PER_TICK": ("50", "max_files_per_tick", 50),
    "PM_SCORING_MAX_RUNTIME_SECONDS": ("45", "scoring_max_runtime_seconds", 45),
    "PM_RETRY_GRACE_SECONDS": ("0", "retry_grace_seconds", 0.0),
    "PM_SOURCE_LAYOUT": ("none", "source_layout", "none"),
    "PM_SOURCE_URL": ("postgresql://ro@h/db", "source_url", "postgresql://ro@h/db"),
    "PM_SOURCE_TABLE": ("public.pm_dashboard", "source_table", "public.pm_dashboard"),
    "PM_SOURCE_TIME_COLUMN": ("recorded_at", "source_time_column", "recorded_at"),
    "PM_SOURCE_ROBOT_COLUMN": ("robot_id", "source_robot_column", "robot_id"),
    "PM_SOURCE_AXIS_COLUMNS": ('{"axis_2": "m2"}', "source_axis_columns", {"axis_2": "m2"}),
    "PM_SOURCE_AXES_TABLE": ("axes", "source_axes_table", "axes"),
    "PM_SOURCE_AXIS_COLUMN": ("axis", "source_axis_column", "axis"),
    "PM_SOURCE_CURRENT_COLUMN": ("amps", "source_current_column", "amps"),
    "PM_SOURCE_AXES_ID_COLUMN": ("id", "source_axes_id_column", "id"),
    "PM_SOURCE_AXES_NAME_COLUMN": ("name", "source_axes_name_column", "name"),
}


@pytest.mark.parametrize("variable", list(VALID))
def test_each_variable_is_read_and_typed(variable: str) -> None:
    text, field, expected = VALID[variable]
    settings = load_settings({variable: text})
    assert getattr(settings, field) == expected
    # The other fields keep their defaults, and blank means the default too.
    assert load_settings({variable: "  "}) == load_settings({})


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.state_dir == Path(".pm_state").resolve()
    assert settings.drop_dir == Path("data/incoming").resolve()
    assert settings.export_format == ExportFormat()
    assert (settings.training_days, settings.retrain_cron, settings.timezone) == (
        None,
        "0 2 * * *",
        "UTC",
    )
    assert (settings.settle_seconds, settings.max_files_per_tick) == (2.0, 200)
    assert (settings.scoring_max_runtime_seconds, settings.retry_grace_seconds) == (600, 30.0)
    # Runs launched from the UI carry the job's own tag: the same default.
    assert str(settings.scoring_max_runtime_seconds) == DEFAULT_MAX_RUNTIME_SECONDS


def test_pm_database_url_wins_over_the_fallback_and_is_never_shown() -> None:
    both = {"PM_DATABASE_URL": "postgresql://a:s3cret@h/db", "DATABASE_URL": "sqlite:///y.db"}
    settings = load_settings(both)
    assert settings.database_url == both["PM_DATABASE_URL"]
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)


# variable: (text, the one line the error says)
INVALID = {
    "PM_SETTLE_SECONDS": ("2,5", "PM_SETTLE_SECONDS='2,5': not a number; write seconds like 2.5."),
    "PM_RETRY_GRACE_SECONDS": ("-1", "PM_RETRY_GRACE_SECONDS='-1': must be greater than or equal"),
    "PM_MAX_FILES_PER_TICK": ("many", "PM_MAX_FILES_PER_TICK='many': not a whole number; write"),
    "PM_SCORING_MAX_RUNTIME_SECONDS": (
        "10m",
        "PM_SCORING_MAX_RUNTIME_SECONDS='10m': not a whole number of seconds; write e.g. 600.",
    ),
    "PM_TRAINING_DAYS": ("two weeks", "PM_TRAINING_DAYS='two weeks': not a number of days"),
    "PM_TIMEZONE": ("Mars/Olympus", "PM_TIMEZONE='Mars/Olympus': not a time zone; use an IANA"),
    "PM_RETRAIN_CRON": ("2am", "PM_RETRAIN_CRON='2am': not a cron expression; write five"),
    "PM_AXIS_COUNT": ("six", "PM_AXIS_COUNT: 'six' is not a whole number from 1 to 8"),
    "PM_COLUMN_MAP": ("{time: Zeit}", "PM_COLUMN_MAP: not valid JSON"),
    "PM_SOURCE_LAYOUT": ("flat", "PM_SOURCE_LAYOUT='flat': not a layout; write none, wide or"),
    "PM_SOURCE_TABLE": ("a.b.c", "PM_SOURCE_TABLE='a.b.c': not a plain identifier; use letters"),
    "PM_SOURCE_TIME_COLUMN": ("time stamp", "PM_SOURCE_TIME_COLUMN='time stamp': not a plain"),
    "PM_SOURCE_AXIS_COLUMNS": (
        '{"axis_9": "m9"}',
        "PM_SOURCE_AXIS_COLUMNS: 'axis_9' is not one of axis_1 .. axis_8 (PM_AXIS_COUNT)",
    ),
}


@pytest.mark.parametrize("variable", list(INVALID))
def test_a_bad_value_is_one_line_naming_the_variable(variable: str) -> None:
    text, expected = INVALID[variable]
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: text})
    [line] = str(raised.value).splitlines()
    assert line.startswith(expected)
    assert isinstance(raised.value, PipelineError)
    assert isinstance(raised.value, ExportSettingError) == (
        variable in ("PM_AXIS_COUNT", "PM_COLUMN_MAP")
    )


def test_every_bad_variable_is_reported_at_once() -> None:
    environ = {name: text for name, (text, _) in INVALID.items()}
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    lines = str(raised.value).splitlines()
    assert sorted(line.split(":")[0].split("=")[0] for line in lines) == sorted(INVALID)
    assert not isinstance(raised.value, ExportSettingError)


def test_the_column_map_is_checked_against_the_axis_count() -> None:
    with pytest.raises(ExportSettingError, match="maps an axis beyond PM_AXIS_COUNT=6"):
        load_settings({"PM_AXIS_COUNT": "6", "PM_COLUMN_MAP": '{"axis_7": "I7"}'})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"PM_SOURCE_LAYOUT": "wide"},
            "PM_SOURCE_TABLE is unset, but PM_SOURCE_LAYOUT=wide reads it; set it to the "
            "table's name, schema-qualified if needed (e.g. public.pm_dashboard).",
        ),
        (
            {"PM_SOURCE_LAYOUT": "long", "PM_SOURCE_TABLE": "facts"},
            "PM_SOURCE_AXES_TABLE is unset, but PM_SOURCE_LAYOUT=long reads it; set it to the "
            "table's name, schema-qualified if needed (e.g. public.axes).",
        ),
        (
            {"PM_AXIS_COUNT": "6", "PM_SOURCE_AXIS_COLUMNS": '{"axis_7": "m7"}'},
            "PM_SOURCE_AXIS_COLUMNS: 'axis_7' is not one of axis_1 .. axis_6 (PM_AXIS_COUNT); "
            "name the axes as keys and your columns as values.",
        ),
        (
            {"PM_SOURCE_AXIS_COLUMNS": '{"axis_1": "motor 1"}'},
            "PM_SOURCE_AXIS_COLUMNS: 'motor 1' for axis_1 is not a plain identifier; use "
            "letters, digits and underscores, starting with a letter or underscore.",
        ),
    ],
)
def test_a_source_layout_names_what_it_still_needs(environ: dict, expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    assert str(raised.value) == expected


def test_the_source_url_is_never_shown() -> None:
    settings = load_settings({"PM_SOURCE_URL": "postgresql://ro:s3cret@h/db"})
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)


def test_dotenv_is_read_below_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "PM_SETTLE_SECONDS=7.5\nPM_DROP_DIR=dropped\nDAGSTER_PG_URL=\nUNRELATED=1\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("PM_SETTLE_SECONDS", "PM_DROP_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()  # the process environment and ./.env
    assert (settings.settle_seconds, settings.drop_dir) == (7.5, tmp_path / "dropped")
    monkeypatch.setenv("PM_SETTLE_SECONDS", "1")
    assert load_settings().settle_seconds == 1.0  # the environment wins
    # A mapping given in code reads no .env unless one is named.
    assert load_settings({}).settle_seconds == 2.0
    assert load_settings({}, env_file=tmp_path / ".env").settle_seconds == 7.5


def test_a_bad_value_in_dotenv_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("PM_MAX_FILES_PER_TICK=2.5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PM_MAX_FILES_PER_TICK", raising=False)
    with pytest.raises(SettingsError, match=r"^PM_MAX_FILES_PER_TICK='2.5': not a whole"):
        load_settings()


def test_env_example_is_written_from_the_settings() -> None:
    assert (PROJECT_ROOT / ".env.example").read_text() == render_env_example(), (
        "run: .venv/bin/python -m pm_pipeline.config.reference"
    )


def test_env_example_lists_every_variable_with_its_description_and_default() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text()
    listed = re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE)
    read_by_settings = {v.name for v in setting_variables()}
    assert len(listed) == len(set(listed))
    assert set(listed) == read_by_settings | {"PM_TEST_DATABASE_URL", "DAGSTER_PG_URL"}
    assert {v.name for v in other_variables()} == {"PM_TEST_DATABASE_URL", "DAGSTER_PG_URL"}
    comments = " ".join(
        line.removeprefix("# ") for line in text.splitlines() if line.startswith("#")
    )
    for field in Settings.model_fields.values():
        assert field.description and field.description in comments
    # Its values are the defaults, so copying it to .env changes nothing.
    assert load_settings({}, env_file=PROJECT_ROOT / ".env.example") == load_settings({})


def _reads_environment(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
    ]


def test_only_settings_and_dagsters_own_variables_read_the_environment() -> None:
    # execution.py and instance.py hand DAGSTER_HOME and DAGSTER_PG_URL, Dagster's own
    # variables, to Dagster; nothing else reads the environment.
    allowed = {
        PACKAGE / "config" / "settings.py",
        PACKAGE / "defs" / "execution.py",
        PACKAGE / "defs" / "instance.py",
    }
    offences = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in allowed
        for line in _reads_environment(path)
    ]
    assert not offences, "environment read outside settings: " + ", ".join(offences)


def test_the_cli_stops_on_a_bad_setting_with_one_line(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text("time,axis_1\n")
    env = {**os.environ, "PM_SETTLE_SECONDS": "2,5", "PM_STATE_DIR": str(tmp_path / "state")}
    completed = subprocess.run(
        [str(CLI), "ingest", str(export)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [
        "error: PM_SETTLE_SECONDS='2,5': not a number; write seconds like 2.5."
    ]
    assert "Traceback" not in completed.stdout + completed.stderr
    assert not (tmp_path / "state").exists()  # stopped before touching the database
