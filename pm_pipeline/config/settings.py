"""Every ``PM_*`` setting in one validated object, read when a command, tick or run starts.

Values come from the environment, then from a git-ignored ``.env`` in the working folder
(an environment variable wins); blank means the default. :func:`load_settings` reads them
once and raises :class:`SettingsError` with one line per malformed variable, so an entry
point (a CLI command, a sensor tick, a schedule tick, a run's resource or asset) can stop
with a message the user can act on, and hand plain values down to the code below.

Dagster's own variables (``DAGSTER_HOME``, ``DAGSTER_PG_URL``) stay with the code that hands
them to Dagster; ``PM_TEST_DATABASE_URL`` belongs to the tests.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pm_pipeline.config.alert_settings import AlertSettings
from pm_pipeline.config.setting_field import setting as _setting
from pm_pipeline.config.source_settings import SourceSettings
from pm_pipeline.core.errors import SettingsError, mask_url, quoted
from pm_pipeline.core.model.sizing import DEFAULT_MIN_TRAINING_ROWS
from pm_pipeline.core.parsing.format import (
    AXIS_COUNT_VARIABLE,
    COLUMN_MAP_EXAMPLE,
    COLUMN_MAP_VARIABLE,
    ExportFormat,
    ExportSettingError,
    axis_count_message,
)
from pm_pipeline.core.schema import AXIS_COUNT

__all__ = ["ENV_FILE", "Settings", "SettingsError", "load_settings"]

ENV_FILE = Path(".env")
DEFAULT_ROBOTS_FILE = "robots.yaml"
STORE_SCHEMA_VARIABLE = "PM_STORE_SCHEMA"
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
EXPORT_VARIABLES = frozenset({AXIS_COUNT_VARIABLE, COLUMN_MAP_VARIABLE})
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("pm_settings_environ", default=None)


class _PipelineSettings(AlertSettings):
    """The readings database, folders, the export format, schedule and sensor settings (the
    notification settings come from :class:`~pm_pipeline.config.alert_settings.AlertSettings`)."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", env_ignore_empty=True, frozen=True
    )

    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("PM_DATABASE_URL", "DATABASE_URL"),
        repr=False,  # it may carry a password
        description="Readings database (SQLAlchemy URL, e.g. a Neon "
        "postgresql://user:password@host/db?sslmode=require); DATABASE_URL is read when it is "
        "unset. Unset: a SQLite file in PM_STATE_DIR.",
    )
    _database_url_variable: str = PrivateAttr("PM_DATABASE_URL")

    @property
    def database_url_variable(self) -> str:
        """The variable ``database_url`` came from, for messages: ``PM_DATABASE_URL``, or
        ``DATABASE_URL`` when only that one is set."""
        return self._database_url_variable

    store_schema: str | None = _setting(
        None,
        STORE_SCHEMA_VARIABLE,
        "Postgres schema our own tables live in (created by `pm-pipeline db upgrade` when "
        "missing), apart from the user's tables. Unset: the connection's default schema.",
    )
    state_dir: Path = _setting(
        Path(".pm_state"),
        "PM_STATE_DIR",
        "Folder for the embedded SQLite database and the local Dagster home.",
        validate_default=True,
    )
    drop_dir: Path = _setting(
        Path("data/incoming"),
        "PM_DROP_DIR",
        "Folder where controller exports land for scoring.",
        validate_default=True,
    )
    axis_count: int = _setting(
        AXIS_COUNT,
        AXIS_COUNT_VARIABLE,
        "Axes the robot has, 1-8; files carry axes 1..N, the others are stored blank.",
    )
    column_map: Annotated[dict[str, str], NoDecode] = _setting(
        {},
        COLUMN_MAP_VARIABLE,
        "The controller's column names, as JSON from time, axis_1 .. axis_8 to the file's "
        f"names, e.g. {COLUMN_MAP_EXAMPLE}. Unset: Time/time/timestamp_recorded and "
        '"Axis #N"/axis_N.',
    )
    training_days: float | None = _setting(
        None,
        "PM_TRAINING_DAYS",
        "Nightly retraining uses the newest this many days of readings. Unset: all of them.",
        "not a number of days; use e.g. 14",
        gt=0,
    )
    training_exclude_margin_seconds: float = _setting(
        300.0,
        "PM_TRAINING_EXCLUDE_MARGIN_SECONDS",
        "Retraining leaves out the readings inside the robot's events found in landed files, "
        "widened by this many seconds on both sides (a fault starts a little before its "
        "event and may outlast it); 0 leaves out the events' own readings only.",
        "not a number; write seconds like 300",
        ge=0,
    )
    min_training_rows: int = _setting(
        DEFAULT_MIN_TRAINING_ROWS,
        "PM_MIN_TRAINING_ROWS",
        "Fewest readings a model version may be promoted with; the train command's option "
        "--min-rows sets it for one run. Counted in readings, not hours: 300 are five minutes "
        "of a robot read every second, and a day of a machine read every five minutes.",
        "not a whole number of readings; write e.g. 300",
        ge=1,
    )
    retention_days: float | None = _setting(
        None,
        "PM_RETENTION_DAYS",
        "Stored readings older than this many days are removed by `pm-pipeline db retain` and "
        "the nightly readings_retention_schedule (on Postgres a whole month goes once all of "
        "it is that old). Unset: readings are kept for ever.",
        "not a number of days; use e.g. 365",
        gt=0,
    )
    rollup_retention_days: float | None = _setting(
        None,
        "PM_ROLLUP_RETENTION_DAYS",
        "The 1-minute rollups that long views read are removed past this many days (keep it "
        "above PM_RETENTION_DAYS). Unset: rollups are kept for ever.",
        "not a number of days; use e.g. 1825",
        gt=0,
    )
    partitions_ahead_months: int = _setting(
        3,
        "PM_PARTITIONS_AHEAD_MONTHS",
        "On Postgres, the monthly partitions of the readings and rollups are made this many "
        "months ahead by the retention run (a load makes any other month it needs).",
        "not a whole number; write a count of months like 3",
        ge=0,
    )
    retention_cron: str = _setting(
        "30 3 * * *",
        "PM_RETENTION_CRON",
        "When the nightly readings retention and partition upkeep runs: a five-field cron "
        "expression, in PM_TIMEZONE.",
    )
    model_max_age_days: float = _setting(
        30.0,
        "PM_MODEL_MAX_AGE_DAYS",
        "Scoring readings more than this many days after the model's training window warns "
        "in the run and the file's metadata (as does scoring readings older than the window).",
        "not a number of days; use e.g. 30",
        gt=0,
    )
    stale_after_minutes: float = _setting(
        60.0,
        "PM_STALE_AFTER_MINUTES",
        "A robot whose newest reading is older than this many minutes shows NO DATA in "
        "fleet_health and `pm-pipeline fleet`.",
        "not a number of minutes; use e.g. 60",
        gt=0,
    )
    retrain_cron: str = _setting(
        "0 2 * * *",
        "PM_RETRAIN_CRON",
        "When nightly retraining runs: a five-field cron expression, in PM_TIMEZONE.",
    )
    timezone: str = _setting(
        "UTC", "PM_TIMEZONE", "Time zone of PM_RETRAIN_CRON, an IANA name such as Europe/Berlin."
    )
    settle_seconds: float = _setting(
        2.0,
        "PM_SETTLE_SECONDS",
        "A landed file is scored once it has not changed for this many seconds.",
        "not a number; write seconds like 2.5",
        ge=0,
    )
    max_files_per_tick: int = _setting(
        200,
        "PM_MAX_FILES_PER_TICK",
        "At most this many landed files are taken per sensor tick; the rest wait.",
        "not a whole number; write a count like 200",
        ge=1,
    )
    files_per_run: int = _setting(
        100,
        "PM_FILES_PER_RUN",
        "At most this many files taken in the same tick, of any robots of one lane, score "
        "in one run (each robot's in landing order); 1 gives every file a run of its own.",
        "not a whole number; write a count like 25",
        ge=1,
    )
    scoring_lanes: int = _setting(
        2,
        "PM_SCORING_LANES",
        "Runs of landed files go this many at a time, one per lane: a robot always scores "
        "in the same lane, so its files keep landing order while other lanes' robots score "
        "beside it. About the cores free for scoring.",
        "not a whole number; write a count like 2",
        ge=1,
    )
    scoring_max_runtime_seconds: int = _setting(
        600,
        "PM_SCORING_MAX_RUNTIME_SECONDS",
        "A scoring run still STARTED past this many seconds (lost with the daemon) is failed "
        "and retried; keep it well above your longest scoring run.",
        "not a whole number of seconds; write e.g. 600",
        ge=1,
    )
    retry_grace_seconds: float = _setting(
        30.0,
        "PM_RETRY_GRACE_SECONDS",
        "A crashed scoring run whose Dagster retry has not started after this many seconds is "
        "rerun once by the sensor.",
        "not a number; write seconds like 30",
        ge=0,
    )
    robots_file: Path = _setting(
        Path(DEFAULT_ROBOTS_FILE),
        "PM_ROBOTS_FILE",
        "The robots file: each robot the deployment serves and how its exports read. Unset "
        "and no robots.yaml: one robot, robot-1, with PM_AXIS_COUNT and PM_COLUMN_MAP.",
        validate_default=True,
    )
    detector_mode: Literal["auto", "mspc", "cusum", "robust", "seed"] = _setting(
        "auto",
        "PM_DETECTOR_MODE",
        "The detector mode new model versions are fitted with: auto (picks mspc or cusum per "
        "robot from its training data), mspc, cusum, robust or seed (see the docs' Detection "
        "page); a mode set in axis_models' run config wins.",
        "not a detector mode; write auto, mspc, cusum, robust or seed",
    )
    executor: Literal["multiprocess", "celery"] = _setting(
        "multiprocess",
        "PM_EXECUTOR",
        "Where the steps of a run execute: multiprocess (on the host that runs it) or celery "
        "(on dagster-celery workers, any host that reaches the database; see the docs' "
        "Operations page).",
        "not an executor; write multiprocess or celery",
    )
    run_launcher: Literal["process", "celery"] = _setting(
        "process",
        "PM_RUN_LAUNCHER",
        "Where the daemon starts a run: process (a new process on its host, per run) or celery "
        "(a task on dagster-celery run workers, started with celery_runs.yaml; needs "
        "PM_CELERY_BACKEND_URL on a database; see the docs' Fleet page, Run launcher).",
        "not a run launcher; write process or celery",
    )
    celery_broker_url: str = _setting(
        "pyamqp://guest@127.0.0.1:5672//",
        "PM_CELERY_BROKER_URL",
        "The Celery broker (RabbitMQ) when PM_EXECUTOR or PM_RUN_LAUNCHER is celery; workers "
        "take the same URL.",
        repr=False,  # it may carry a password
    )
    celery_backend_url: str = _setting(
        "rpc://",
        "PM_CELERY_BACKEND_URL",
        "Where Celery workers report step results when PM_EXECUTOR=celery; with "
        "PM_RUN_LAUNCHER=celery a database (db+postgresql+psycopg2://...) where the daemon's "
        "run monitoring reads each run's task state.",
        repr=False,
        validate_default=True,  # rpc://, the default, is refused with PM_RUN_LAUNCHER=celery
    )
    celery_queue: str = _setting(
        "dagster",
        "PM_CELERY_QUEUE",
        "The Celery queue this deployment's steps go to; start its workers with -q and this "
        "name, so deployments can share one broker.",
    )
    dagster_ui_url: str = _setting(
        "http://127.0.0.1:3000",
        "PM_DAGSTER_UI_URL",
        "Where people open the Dagster UI; links in metadata (a scored file's model version) "
        "start here.",
    )

    @property
    def export_format(self) -> ExportFormat:
        """The robot's axis count and the controller's column names, for the parser."""
        return ExportFormat(self.axis_count, self.column_map)

    @property
    def model_max_age(self) -> timedelta:
        """:attr:`model_max_age_days` as a span of time."""
        return timedelta(days=self.model_max_age_days)

    @property
    def robots_file_set(self) -> bool:
        """Whether PM_ROBOTS_FILE names a file other than the default (then it must exist)."""
        return self.robots_file != Path(DEFAULT_ROBOTS_FILE).resolve()

    @field_validator("state_dir", "drop_dir", "robots_file")
    @classmethod
    def _resolved(cls, value: Path) -> Path:
        # Relative to the folder the command runs in, fixed now as it was before settings.
        return value.resolve()

    @field_validator("store_schema")
    @classmethod
    def _postgres_schema(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not _SCHEMA_NAME.match(value):
            raise ValueError(
                "not a schema name; use lowercase letters, digits and underscores, "
                "starting with a letter, e.g. pm_store."
            )
        url = info.data.get("database_url") or ""
        if not url.startswith(("postgres:", "postgresql:", "postgresql+")):
            raise ValueError(
                f"{STORE_SCHEMA_VARIABLE}={value!r}: a schema applies to Postgres only, and "
                "the database is SQLite; unset it, or set PM_DATABASE_URL to a postgresql:// URL."
            )
        return value

    @field_validator("axis_count", mode="before")
    @classmethod
    def _whole_axis_count(cls, value: Any) -> Any:
        try:
            count = int(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError(axis_count_message(value)) from None
        try:
            ExportFormat(axis_count=count)
        except ExportSettingError as error:
            raise ValueError(str(error)) from None
        return count

    @field_validator("column_map", mode="before")
    @classmethod
    def _checked_column_map(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{COLUMN_MAP_VARIABLE}: not valid JSON ({error.msg} at character "
                    f"{error.pos}); write a JSON object such as {COLUMN_MAP_EXAMPLE}."
                ) from None
        try:
            ExportFormat(info.data.get("axis_count", AXIS_COUNT), value)
        except ExportSettingError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("celery_backend_url")
    @classmethod
    def _backend_run_monitoring_reads(cls, value: str, info: ValidationInfo) -> str:
        # Refused with the settings, so the daemon, `pm-pipeline dev` and the code location
        # say so when they start, not when the launcher meets its first run.
        if info.data.get("run_launcher") == "celery" and value.startswith("rpc"):
            raise ValueError(
                "PM_RUN_LAUNCHER=celery needs PM_CELERY_BACKEND_URL on a database that the "
                "daemon and the workers share (e.g. "
                "db+postgresql+psycopg2://user:password@host:5432/db): with "
                f"{_shown(value)} run monitoring cannot read a run's task state and would "
                "fail every run."
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not a time zone; use an IANA name such as Europe/Berlin or UTC."
            ) from None
        return value

    @field_validator("retrain_cron", "retention_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        # Dagster checks the fields' ranges when it builds the schedule.
        if not value.startswith("@") and len(value.split()) != 5:
            raise ValueError(
                "not a cron expression; write five fields (minute hour day month weekday) "
                "such as '0 2 * * *'."
            )
        return value

    # Defined last because pydantic runs "before" validators last-defined first.
    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault()
        return value.strip() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        env = env_settings if environ is None else _MappingSource(settings_cls, environ)
        return init_settings, env, dotenv_settings


# The source's fields come after the others (pydantic collects fields base-most first).
class Settings(SourceSettings, _PipelineSettings):
    """The pipeline's settings; docs/reference/settings.md lists them."""


class _MappingSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k: v for k, v in self._environ.items() if not (self.env_ignore_empty and v == "")}


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = None
) -> Settings:
    """Read and validate every setting once.

    Parameters
    ----------
    environ
        The environment to read; ``os.environ`` by default.
    env_file
        A dotenv file read below the environment; by default ``.env`` in the working folder
        when ``environ`` is the process environment, and none when a mapping is given.

    Raises
    ------
    SettingsError
        One line per malformed variable, naming it, its value and what to write instead;
        an :class:`~pm_pipeline.core.parsing.format.ExportSettingError` when only the
        export-format settings are at fault.
    """
    if env_file is None and environ is None:
        env_file = ENV_FILE
    token = _ENVIRON.set(environ)
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as error:
        problems = [_problem(item) for item in error.errors()]
        names = {name for name, _ in problems}
        kind = ExportSettingError if names <= EXPORT_VARIABLES else SettingsError
        raise kind("\n".join(line for _, line in problems)) from None
    finally:
        _ENVIRON.reset(token)
    if settings.database_url and not _named("PM_DATABASE_URL", environ, env_file):
        settings._database_url_variable = "DATABASE_URL"
    return settings


def _named(variable: str, environ: Mapping[str, str] | None, env_file: str | Path | None) -> bool:
    """Whether ``variable`` is set (not blank) in the environment or the dotenv file read."""
    from dotenv import dotenv_values

    values = dict(os.environ if environ is None else environ)
    if env_file is not None and Path(env_file).is_file():
        values = {**dotenv_values(env_file), **values}
    return bool(str(values.get(variable) or "").strip())


def _problem(item: Any) -> tuple[str, str]:
    """The variable and its one-line message for one pydantic error."""
    name = str(item["loc"][0]) if item["loc"] else "settings"
    field = Settings.model_fields.get(name)  # a default checked at load is named by its field
    if field is not None and isinstance(field.validation_alias, str):
        name = field.validation_alias
    value = _shown(item.get("input"))
    if item["type"] == "value_error":
        text = str(item["ctx"]["error"])
        # A check of a default (or across variables) names its variables in the text.
        return name, text if text.startswith((name, "PM_")) else f"{name}={value}: {text}"
    if item["type"].startswith(("greater_than", "less_than")):
        return name, f"{name}={value}: {item['msg'].replace('Input should be', 'must be')}."
    hint = _hints().get(name) or item["msg"].lower()
    return name, f"{name}={value}: {hint}."


def _shown(value: Any) -> str:
    """A setting's value for a message: credentials masked, long values capped."""
    if isinstance(value, str):
        return quoted(mask_url(value))
    return quoted(repr(value)) if not isinstance(value, int | float) else repr(value)


def _hints() -> dict[str, str]:
    hints = {}
    for field in Settings.model_fields.values():
        if isinstance(field.validation_alias, str) and isinstance(field.json_schema_extra, dict):
            hints[field.validation_alias] = str(field.json_schema_extra.get("hint", ""))
    return hints
