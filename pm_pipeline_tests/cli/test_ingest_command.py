"""`pm-pipeline ingest` as a user runs it: the real export, both databases, and an import
path without Dagster."""

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from pm_pipeline.db.engine import normalise_url
from pm_pipeline_tests.store import upgraded

CLI = Path(sys.executable).parent / "pm-pipeline"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dagster", "sklearn", "scipy", "matplotlib")


def cli_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    return {
        **env,
        "PM_DATABASE_URL": url,
        "PM_STATE_DIR": str(tmp_path / ".pm_state"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def test_the_real_export_ingests_once(database_url: str, real_export: Path, tmp_path: Path):
    env = cli_env(tmp_path, database_url)
    command = [str(CLI), "ingest", str(real_export)]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert f"{real_export}: 39672 rows added, 0 already present" in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "0 rows added, 39672 already present" in again.stdout
    with sa.create_engine(normalise_url(database_url)).connect() as connection:
        rows, robots = connection.execute(
            sa.text("SELECT count(*), count(DISTINCT robot_id) FROM pm_readings")
        ).one()
        files = connection.execute(sa.text("SELECT count(*) FROM pm_ingested_files")).scalar()
    assert (rows, robots, files) == (39_672, 1, 2)


def test_ingesting_imports_no_dagster(real_export: Path, tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "import pm_pipeline.cli.ingest_command\n"
        "heavy = lambda: sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "print('module', heavy())\n"
        "from pm_pipeline.cli.app import main\n"
        f"assert main(['ingest', {str(real_export)!r}]) == 0\n"
        "print('command', heavy())\n"
    )
    env = cli_env(tmp_path, upgraded(f"sqlite:///{tmp_path / 'readings.db'}"))
    completed = subprocess.run(
        [sys.executable, "-c", probe, *HEAVY], env=env, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "module []" in lines  # the ingest command's own module
    assert "command []" in lines  # and the whole `pm-pipeline ingest`, parser included
    assert any("39672 rows added" in line for line in lines)


def with_value(real_export: Path, path: Path, line: int, value: str) -> Path:
    """The real export with the ``Axis #2`` current of ``line`` replaced by ``value``."""
    lines = real_export.read_text().splitlines(keepends=True)
    cells = lines[line - 1].split(",")
    cells[2] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("".join(lines))
    return path


def test_a_huge_value_is_one_short_error_line(real_export: Path, tmp_path: Path) -> None:
    """A 3 MB field is refused by its line number, and a long bad value is quoted capped:
    neither reaches the error line whole."""
    env = cli_env(tmp_path, upgraded(f"sqlite:///{tmp_path / 'readings.db'}"))
    huge = with_value(real_export, tmp_path / "huge.csv", 1000, "9" * (3 << 20))
    long = with_value(real_export, tmp_path / "long.csv", 1200, "x" * 100_000)
    for path, says in ((huge, "line 1000 is longer than 1 MiB"), (long, "(100,000 characters)")):
        failed = subprocess.run(
            [str(CLI), "ingest", str(path)], env=env, capture_output=True, text=True
        )
        assert failed.returncode == 1
        [line] = failed.stderr.splitlines()
        assert line.startswith("error: ") and says in line, line
        assert len(line) < 600 and "Traceback" not in failed.stdout
