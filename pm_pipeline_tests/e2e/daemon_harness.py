"""A real `dagster-daemon` on a temporary instance, for end-to-end tests and the benchmark."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pm_pipeline.defs.execution import LOCAL_INSTANCE_YAML

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SQLITE_INSTANCE_YAML = "telemetry:\n  enabled: false\n"


@dataclass
class DaemonSite:
    """Folders, environment and processes of one end-to-end setup."""

    root: Path
    readings_url: str
    dagster_pg_url: str | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def drop(self) -> Path:
        return self.root / "incoming"

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PM_DATABASE_URL", "DATABASE_URL", "DAGSTER_PG_URL")
        }
        env.update(
            {
                "DAGSTER_HOME": str(self.home),
                "PM_DATABASE_URL": self.readings_url,
                "PM_DROP_DIR": str(self.drop),
                "PM_STATE_DIR": str(self.root / "state"),
                "PM_SETTLE_SECONDS": "0.5",
            }
        )
        if self.dagster_pg_url:
            env["DAGSTER_PG_URL"] = self.dagster_pg_url
        return env

    def prepare(self) -> None:
        """Create the instance folder: SQLite storage, or the repo's dagster.yaml on Postgres."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.drop.mkdir(parents=True, exist_ok=True)
        if self.dagster_pg_url:
            shutil.copy(PROJECT_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        else:
            (self.home / "dagster.yaml").write_text(SQLITE_INSTANCE_YAML)

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            [str(BIN / "pm-pipeline"), *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return completed

    def start_daemon(self) -> subprocess.Popen:
        log = (self.root / f"daemon-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def stop_daemon(self, process: subprocess.Popen) -> None:
        """Stop the daemon and everything it started (code server, run workers)."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            self.stop_daemon(process)

    def daemon_log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.root.glob("daemon-*.log")))


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    diagnostics: Callable[[], str] = lambda: "",
) -> float:
    """Poll until ``condition`` holds; return the seconds it took, or fail with diagnostics."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{diagnostics()}")


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
