"""A real `dagster-daemon` on a temporary instance, for end-to-end tests and the benchmark."""

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from pm_pipeline.defs.execution import LOCAL_INSTANCE_YAML
from pm_pipeline_tests.commands import BIN, PLUMBING_MODE, clean_env, run_cli, wait_for
from pm_pipeline_tests.in_process import run_main
from pm_pipeline_tests.store import upgraded

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SENSOR_TICK = "Checking for new runs for sensor: landed_file_sensor"
SQLITE_INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def cron_far_from_now() -> str:
    """A daily cron twelve hours from now, for the nightly retraining: it never fires while a
    test's daemon runs. (At the default, 02:00 UTC, a test running then met a second training
    run of its robot, queued ahead of the one it waited for.)"""
    later = datetime.now(UTC) + timedelta(hours=12)
    return f"{later.minute} {later.hour} * * *"


@dataclass
class DaemonSite:
    """Folders, environment and processes of one end-to-end setup."""

    root: Path
    readings_url: str
    dagster_pg_url: str | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    """More ``PM_*`` settings for the commands and daemons started after they are set."""
    retrain_cron: str = field(default_factory=cron_far_from_now)

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def drop(self) -> Path:
        return self.root / "incoming"

    @property
    def env(self) -> dict[str, str]:
        env = clean_env(
            {
                "DAGSTER_HOME": str(self.home),
                "PM_DATABASE_URL": self.readings_url,
                "PM_DROP_DIR": str(self.drop),
                "PM_STATE_DIR": str(self.root / "state"),
                "PM_SETTLE_SECONDS": "0.5",
                "PM_RETRAIN_CRON": self.retrain_cron,
                **PLUMBING_MODE,
            }
        )
        if self.dagster_pg_url:
            env["DAGSTER_PG_URL"] = self.dagster_pg_url
        env.update(self.settings)
        return env

    def prepare(self) -> None:
        """Create the instance folder (SQLite storage, or the repo's dagster.yaml on Postgres)
        and our tables, as `pm-pipeline db upgrade` does in a deployment."""
        upgraded(self.readings_url)
        self.home.mkdir(parents=True, exist_ok=True)
        self.drop.mkdir(parents=True, exist_ok=True)
        if self.dagster_pg_url:
            shutil.copy(PROJECT_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        else:
            (self.home / "dagster.yaml").write_text(SQLITE_INSTANCE_YAML)
            # Dagster's SQLite storage makes its tables on first use, without a lock between
            # processes: a test reading the runs while the daemon starts could stamp the
            # schedule storage's revision twice, and every later open fails ("more than one
            # head"). A deployment's storage exists before its daemon starts.
            with dg.DagsterInstance.from_config(str(self.home)):
                pass

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """``pm-pipeline ARGS`` on this site; it must succeed."""
        return run_cli(*args, cwd=PROJECT_ROOT, env=self.env, timeout=timeout)

    def run_here(self, *args: str) -> subprocess.CompletedProcess:
        """``pm-pipeline ARGS`` on this site in the test's own process (the same entry
        point as :meth:`cli`, without a new process importing the code location): for the
        history and the model a test sets up before its daemon starts, and the commands a
        test calls beside the running daemon to act or look (the daemon's processes are the
        ones under test)."""
        return run_main(*args, env=self.env, cwd=PROJECT_ROOT)

    def start_daemon(self, workspace: str | Path = "workspace.yaml") -> subprocess.Popen:
        """``dagster-daemon run -w WORKSPACE`` (the repo's, unless another is given)."""
        command = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
        return self.start(command, self.root / f"daemon-{len(self.processes)}.log")

    def start(self, command: list[str], log: Path) -> subprocess.Popen:
        """``command`` in the repo on this site's environment, in a process group of its own
        (stopped by :meth:`stop_all` with everything it started), its output in ``log``."""
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def start_celery_worker(
        self, config: str, name: str, env: dict[str, str], *pool: str, ready: bool = True
    ) -> subprocess.Popen:
        """``dagster-celery worker start`` with the repo's ``config`` (celery.yaml for steps,
        celery_runs.yaml for runs) on ``env``'s ``PM_CELERY_QUEUE``, as the docs start it,
        with ``pool`` options for Celery itself; waits until it is ready unless not
        ``ready``."""
        log_path = self.root / f"worker-{name}.log"
        # `dagster-celery worker start` runs `celery` from PATH, as in an activated venv.
        env = {**env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        command = [
            str(BIN / "dagster-celery"),
            *("worker", "start", "-A", "dagster_celery.app", "-y", config),
            *("-q", env["PM_CELERY_QUEUE"], "-n", name),
            *(["--", *pool] if pool else []),
        ]
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(worker)
        if ready:
            wait_for(
                lambda: " ready." in log_path.read_text(),
                120,
                f"the Celery worker {name}",
                log_path.read_text,
            )
        return worker

    def stop_daemon(self, process: subprocess.Popen) -> None:
        """Stop the daemon and everything it started (code server, run workers)."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # The daemon ends first; its code server and run workers, in its process group, can
        # outlive it (the code server waits for its runs) and would pile up test after test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for process in self.processes:
            self.stop_daemon(process)

    def daemon_log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.root.glob("daemon-*.log")))


def sensor_ticks(site: DaemonSite, sensor: str = "landed_file_sensor") -> int:
    """How many evaluations of a sensor (the drop folder's) the site's daemons have logged."""
    return site.daemon_log().count(SENSOR_TICK.replace("landed_file_sensor", sensor))


def archived(site: DaemonSite, stem: str) -> bool:
    folder = site.drop / "archive"
    return folder.is_dir() and any(p.name.startswith(f"{stem}.") for p in folder.iterdir())


def use_local_instance_settings(site: DaemonSite) -> None:
    """Give a SQLite site the settings `pm-pipeline` writes into the local Dagster home
    (run monitoring and run retries included), instead of the bare test settings."""
    assert site.dagster_pg_url is None, "a Postgres site already uses the repo's dagster.yaml"
    (site.home / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it, parents first (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop(0)
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and its descendants, as the OS does to a worker out of memory."""
    tree = process_tree(pid)
    # Stopped first, so none of them starts a new child before it is killed.
    for sent in (signal.SIGSTOP, signal.SIGKILL):
        for member in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, sent)
    return tree
