"""Run ``pm-pipeline ARGS`` inside the test process: the same entry point as the command
(:func:`pm_pipeline.cli.app.main`, which the console script calls), without the 1–3 s of CPU a
new process spends importing the code it needs.

For tests that call the same command many times over (filters, error forms); each command
keeps tests that start it as a real process (see :mod:`pm_pipeline_tests.commands`).
"""

import contextlib
import io
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from pm_pipeline.cli.app import main
from pm_pipeline_tests.commands import UNSET


def run_main(
    *args: str | Path,
    env: Mapping[str, str],
    cwd: Path,
    capsys: pytest.CaptureFixture[str] | None = None,
    expect: int | None = 0,
) -> subprocess.CompletedProcess[str]:
    """``pm-pipeline ARGS`` in this process with ``env`` set (and the instance and database
    variables unset otherwise) in ``cwd``, as :func:`pm_pipeline_tests.commands.run_cli` runs
    it in a new one; the exit code is checked unless ``expect`` is None. What it prints is
    read through ``capsys``, or caught on its own without it.

    The environment and working folder are restored afterwards (``prepare_local_home`` sets
    DAGSTER_HOME, for one)."""
    argv = [str(arg) for arg in args]
    with pytest.MonkeyPatch.context() as patch:
        for variable in UNSET:
            patch.delenv(variable, raising=False)
        for variable, value in env.items():
            patch.setenv(variable, value)
        patch.chdir(cwd)
        if capsys is not None:
            capsys.readouterr()  # what the test printed before is not the command's
            returncode = main(argv)
            out, err = capsys.readouterr()
        else:
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                returncode = main(argv)
            out, err = stdout.getvalue(), stderr.getvalue()
    completed = subprocess.CompletedProcess(["pm-pipeline", *argv], returncode, out, err)
    assert expect is None or returncode == expect, (
        f"pm-pipeline {' '.join(argv)} (in process) exited {returncode}, expected {expect}\n"
        f"--- stdout\n{out}\n--- stderr\n{err}"
    )
    return completed
