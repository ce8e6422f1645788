"""`pm-pipeline --help` pages: every command and option explained, no markup, and nothing
heavy imported to print them; paths of the wrong kind are one `error:` line."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pm_pipeline.cli.parser import build_parser

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "pm-pipeline"
HEAVY = (
    "pandas", "numpy", "sqlalchemy", "alembic", "dagster", "pyarrow", "tqdm", "scipy", "sklearn",
)  # fmt: skip


def cli(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def sub_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Every (command path, parser) pair below ``parser``, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*prefix, name), child
                yield from sub_commands(child, (*prefix, name))


COMMANDS = [path for path, _ in sub_commands(build_parser())]


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, parser in [((), build_parser()), *sub_commands(build_parser())]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(f"{' '.join(path)} {action.dest}")
    assert not missing, f"without help text: {missing}"
    assert {path[0] for path in COMMANDS} >= {
        "ingest", "train", "score", "run", "dev", "events", "models", "lineage", "replay",
        "export", "db",
    }  # fmt: skip


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda c: " ".join(c) or "top")
def test_help_pages_exit_0_and_read_as_plain_text(command: tuple[str, ...]) -> None:
    completed = cli(*command, "--help")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"usage: pm-pipeline {' '.join(command)}".rstrip())
    assert "``" not in completed.stdout and ":mod:" not in completed.stdout
    assert completed.stderr == ""


def test_help_imports_nothing_heavy() -> None:
    # -X importtime lists every module the process imported, in any package.
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pm_pipeline.cli.app", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert completed.returncode == 0, completed.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()}
    assert "pm_pipeline.cli.parser" in imported  # the probe sees our own imports
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert not heavy, f"--help imported {heavy[:10]}"


@pytest.mark.parametrize(
    "command",
    [("events",), ("models",), ("lineage", "1"), ("export", "--out", "{tmp}/out"), ("robots",)],
    ids=lambda command: command[0],
)
def test_database_commands_import_no_dagster(command: tuple[str, ...], tmp_path: Path) -> None:
    """The commands that only read our tables start without Dagster (half their start-up)."""
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pm_pipeline.cli.app", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    # Whatever the command says of an empty store, it ran: 1 only for `lineage` of no event.
    assert completed.returncode == (1 if command[0] == "lineage" else 0), completed.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()}
    assert "pm_pipeline.db.migrate" in imported  # it opened the store
    assert not sorted(m for m in imported if m.split(".")[0] == "dagster")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("ingest", "{dir}"), "is a directory, not an export file"),
        (("ingest", "{file}", "{dir}"), "is a directory, not an export file"),
        (("score", "{dir}"), "is a directory, not an export file"),
        (("replay", "{dir}", "--to", "{dir}/out"), "is a directory, not an export file"),
        (("score", "{file}", "--events-csv", "{dir}"), "is a directory; give a file name"),
        (("export", "--out", "{file}"), "is a file, not a folder"),
        (("replay", "{file}", "--to", "{file}"), "is a file, not a folder"),
    ],
    ids=["ingest", "ingest-second", "score", "replay", "events-csv", "export-out", "replay-to"],
)
def test_wrong_kind_of_path_is_one_error_line(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    folder, export = tmp_path / "exports", tmp_path / "export.csv"
    folder.mkdir()
    export.write_text("timestamp_recorded,axis_1\n")
    filled = [a.format(dir=folder, file=export) for a in args]
    completed = cli(*filled, cwd=tmp_path)
    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("error: ")
    assert says in completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr
    assert not (tmp_path / ".pm_state").exists()  # refused before any work
