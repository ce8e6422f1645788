"""Run the project's commands (``pm-pipeline``, ``dagster``) as a user would, and check how
they ended: every call states the exit code it expects."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = BIN / "pm-pipeline"
# What a test never inherits from the developer's shell: each test says where its databases,
# instance and drop folder are.
UNSET = (
    "DAGSTER_HOME",
    "DAGSTER_PG_URL",
    "PM_DATABASE_URL",
    "DATABASE_URL",
    "PM_STATE_DIR",
    "PM_DROP_DIR",
)

PLUMBING_MODE = {"PM_DETECTOR_MODE": "robust"}
"""For tests of plumbing (daemon, restarts, notifications, secrets, sources, Celery, the UI,
and in-process retries, races, storage and quarantine: the ``plumbing_mode`` fixture), whose
assertions hold for any detector: the robust mode fits in a fraction of the default's time.
The default mode's own end-to-end paths stay on it (``make run``'s summary in
``e2e/test_cli.py``, the fleet test, the whole graph, retraining and six-axis robots in
``defs/``)."""


def clean_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without the instance and database variables, plus
    ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(overrides or {})
    return env


def run(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    expect: int = 0,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command and assert it exited with ``expect``; its output is in the message."""
    completed = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == expect, (
        f"{' '.join(map(str, args))} exited {completed.returncode}, expected {expect}\n"
        f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
    )
    return completed


def run_cli(
    *args: str | Path,
    cwd: Path,
    env: Mapping[str, str],
    expect: int = 0,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """``pm-pipeline ARGS`` with its exit code checked."""
    return run([CLI, *args], cwd=cwd, env=env, expect=expect, timeout=timeout)


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    diagnostics: Callable[[], str] = lambda: "",
    interval: float = 0.2,
    max_interval: float = 1.0,
) -> float:
    """Poll until ``condition`` holds; return the seconds it took, or fail with diagnostics.

    The pause between looks grows from ``interval`` to ``max_interval``: a look may open a
    Dagster instance (30–50 ms of CPU), and the end-to-end tests wait minutes side by side on
    two cores, where five looks a second took a fifth of a core per waiting test.
    """
    started = time.monotonic()
    pause = interval
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(pause)
        pause = min(pause * 1.5, max_interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{diagnostics()}")
