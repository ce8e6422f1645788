"""Shared fixtures: the real export, a small generated robot day, and both databases."""

import gc
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import (
    SAMPLE_START,
    SampleFault,
    generate_robot_readings,
    inject_wear,
)
from pm_pipeline.db.engine import normalise_url
from pm_pipeline_tests.commands import PLUMBING_MODE, UNSET
from pm_pipeline_tests.store import upgraded

if TYPE_CHECKING:
    from xdist.remote import Producer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_EXPORT = PROJECT_ROOT.parent / "shared" / "data" / "RMBR4-2_export_test.csv"
TEST_URL_VARIABLE = "PM_TEST_DATABASE_URL"
LOCAL_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"
"""The server this machine kind runs; a bare ``pytest`` uses it when the variable is unset."""


# Under pytest-xdist (`make test` runs `pytest -n 4`), a module's tests go to one worker, so a
# module-scoped fixture (a trained model, one `pm-pipeline run`) is built once; the tests of
# these modules are independent and long, so each goes to whichever worker is free.
SPREAD_MODULES = {
    "pm_pipeline_tests/defs/test_dagster_cli.py",
    "pm_pipeline_tests/e2e/test_cli_postgres.py",
    "pm_pipeline_tests/e2e/test_daemon.py",
    "pm_pipeline_tests/e2e/test_daemon_crash.py",
    "pm_pipeline_tests/e2e/test_daemon_notifications.py",
    "pm_pipeline_tests/e2e/test_no_credential_leaks.py",
    "pm_pipeline_tests/e2e/test_source_training.py",
    "pm_pipeline_tests/e2e/test_users_table_kept.py",
}
# The modules whose tests (or module fixtures) take longest, longest first: workers start
# them first, so the run does not end waiting on a long module that started last (a module
# missing here queues after all of these). Seconds: the longest test of a spread module, or
# the whole module, measured with `-n 4` on 2 cores that other work also loaded (about 3x a
# quiet machine's; only their order matters). The daemon tests mostly wait on ticks, so they
# alternate with modules that keep a core busy.
LONGEST_FIRST = (
    "pm_pipeline_tests/e2e/test_loop_daemon.py",  # 510: a daemon, two retrainings
    "pm_pipeline_tests/e2e/test_cli.py",  # 528: one `pm-pipeline run`, then the commands
    "pm_pipeline_tests/e2e/test_daemon_notifications.py",  # 277
    "pm_pipeline_tests/services/test_live_feed.py",  # 391
    "pm_pipeline_tests/e2e/test_daemon.py",  # 242
    "pm_pipeline_tests/cli/test_events_command.py",  # 377
    "pm_pipeline_tests/core/test_cusum_detection.py",  # 347
    "pm_pipeline_tests/e2e/test_celery.py",  # 201: three robots
    "pm_pipeline_tests/e2e/test_daemon_crash.py",  # 178
    "pm_pipeline_tests/cli/test_loop_commands.py",  # 283
    "pm_pipeline_tests/e2e/test_twin_robots.py",  # 252
    "pm_pipeline_tests/defs/test_axis_counts.py",  # 231
    "pm_pipeline_tests/cli/test_run_output.py",  # 221
    "pm_pipeline_tests/defs/test_materialize.py",  # 215
    "pm_pipeline_tests/e2e/test_slow_single_channel.py",  # 208
    "pm_pipeline_tests/e2e/test_no_credential_leaks.py",  # 207
    "pm_pipeline_tests/e2e/test_faults.py",  # 207
    "pm_pipeline_tests/e2e/test_browser.py",  # 207
    "pm_pipeline_tests/e2e/test_source_training.py",  # 197
    "pm_pipeline_tests/core/test_chunked_detection.py",  # 184
    # One test each, these two: queued by their length, they would be the run's last and
    # run alone while the other workers had finished.
    "pm_pipeline_tests/e2e/test_scoring_lanes.py",  # 60
    "pm_pipeline_tests/defs/test_retraining.py",  # 166
    "pm_pipeline_tests/db/test_store_access.py",  # 161
    "pm_pipeline_tests/e2e/test_fleet.py",  # 147
    "pm_pipeline_tests/db/test_migrations.py",  # 131
    "pm_pipeline_tests/e2e/test_users_table_kept.py",  # 131
    # The second, after the Celery and Postgres daemon tests, which take most connections.
    "pm_pipeline_tests/e2e/test_celery_run_launcher.py",  # 100
    "pm_pipeline_tests/defs/test_concurrent_runs.py",  # 125
    "pm_pipeline_tests/cli/test_help_and_paths.py",  # 124
    "pm_pipeline_tests/defs/test_landing_edges.py",  # 117
    "pm_pipeline_tests/services/test_scoring.py",  # 115
    "pm_pipeline_tests/cli/test_ingest_command.py",  # 114
    "pm_pipeline_tests/core/test_chunked_seed_detection.py",  # 112
    "pm_pipeline_tests/core/test_harness.py",  # 89
    "pm_pipeline_tests/defs/test_definitions.py",  # 84
    "pm_pipeline_tests/e2e/test_browser_fleet.py",  # 83
    "pm_pipeline_tests/defs/test_dagster_cli.py",  # 54
    "pm_pipeline_tests/defs/test_file_events_ui.py",  # 76
    "pm_pipeline_tests/defs/test_postgres_instance.py",  # 69
    "pm_pipeline_tests/e2e/test_cli_postgres.py",  # 40
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: "Producer") -> object | None:
    """Spread tests by module, except :data:`SPREAD_MODULES`, test by test, in the order the
    workers collected them (see :func:`pytest_collection_modifyitems`). (xdist's own
    ``--dist loadgroup`` marks do not reach pytest 9's node ids.)"""
    if config.getvalue("dist") != "load":
        return None  # an explicit --dist mode
    from xdist.scheduler import LoadScopeScheduling

    # xdist would otherwise queue the modules with the most tests first, and so the long
    # end-to-end tests, each a scope of one, last.
    config.option.loadscopereorder = False

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module in SPREAD_MODULES else module

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, queue :data:`LONGEST_FIRST` in its order before every other module (every
    worker sorts the same way; a module's tests stay together and in file order)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {module: index for index, module in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collecting imported (the test modules, the libraries they use) for the
    cycle collector, as loading the code location does in every process of ours
    (``pm_pipeline/definitions.py``): it lives as long as the worker."""
    gc.freeze()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip in a user's clone; in CI a missing prerequisite is a failure, never a skip."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _environment_restored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test starts without the shell's instance and database variables and with its own
    state folder (``PM_STATE_DIR``: the default SQLite database and Dagster home), never the
    repo's ``.pm_state``; whatever a test or the code under test sets in ``os.environ``
    (``prepare_local_home`` sets DAGSTER_HOME) is undone after it, so no test sees another's
    instance or database."""
    saved = dict(os.environ)
    for variable in UNSET:
        os.environ.pop(variable, None)
    os.environ["PM_STATE_DIR"] = str(tmp_path_factory.mktemp("pm_state"))
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def plumbing_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs fit :data:`~pm_pipeline_tests.commands.PLUMBING_MODE`, for tests whose
    assertions hold for any detector (retries, races, storage, quarantine)."""
    for variable, value in PLUMBING_MODE.items():
        monkeypatch.setenv(variable, value)


@pytest.fixture(scope="session")
def real_export() -> Path:
    if not REAL_EXPORT.is_file():
        skip_or_fail(f"real export not found at {REAL_EXPORT}")
    return REAL_EXPORT


@pytest.fixture(scope="session")
def robot_day() -> pd.DataFrame:
    """Eight hours of simulated readings, the same every run."""
    return generate_robot_readings(8.0, SAMPLE_START, seed=3)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file with our tables at the newest revision."""
    return upgraded(f"sqlite:///{tmp_path / 'readings.db'}")


@pytest.fixture
def postgres_schema_url() -> Iterator[Callable[[], str]]:
    """Make URLs on the test server, each with a fresh, empty schema as its search_path.

    The schemas are dropped after the test. For our tables there, pass the URL through
    :func:`pm_pipeline_tests.store.upgraded`.
    """
    base = os.environ.get(TEST_URL_VARIABLE) or LOCAL_TEST_URL
    admin = sa.create_engine(normalise_url(base))
    schemas: list[str] = []

    def make() -> str:
        schema = f"pm_test_{uuid.uuid4().hex[:10]}"
        try:
            with admin.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        except OperationalError as error:
            skip_or_fail(f"test Postgres unreachable: {error.orig}")
        schemas.append(schema)
        separator = "&" if "?" in str(base) else "?"
        return normalise_url(f"{base}{separator}options=-csearch_path%3D{schema}")

    yield make
    with admin.begin() as connection:
        for schema in schemas:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_schema_url: Callable[[], str]) -> str:
    """A URL on the test server whose search_path is a fresh schema, dropped afterwards,
    with our tables there at the newest revision."""
    return upgraded(postgres_schema_url())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database test runs on the embedded default and on the real Postgres server
    (our tables at the newest revision in both)."""
    return request.getfixturevalue(f"{request.param}_url")


def worn_slice(readings: pd.DataFrame, after_hours: float) -> pd.DataFrame:
    """The readings after ``after_hours``, with axis 2 drawing 80% more current for 20 min
    half an hour in, so scoring them has a real fault to find."""
    split = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=after_hours)
    fault_start = split + pd.Timedelta(minutes=30)
    fault = SampleFault("axis_2", 1.8, fault_start, fault_start + pd.Timedelta(minutes=20))
    return inject_wear(readings[readings[TIME_COLUMN] >= split], fault)
