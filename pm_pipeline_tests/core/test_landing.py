import json
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing.plan import (
    LandedFile,
    grown_after_scoring,
    looks_in_cursor,
    looks_of,
    not_in_flight,
    plan_landed_files,
)
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.simulation.replay import chunk_readings
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.services.landing import archive_file, judge_landed_file, quarantine_file

JUDGE = partial(judge_landed_file, fmt=ExportFormat())

GOOD = (
    "time," + ",".join(f"axis_{i}" for i in range(1, 9)) + "\n"
    "2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8\n"
)


def landed(path: Path, age: float, newline: bool = True) -> LandedFile:
    return LandedFile(path, path.stat().st_size, 1000.0 - age, newline)


def test_plan_waits_scores_and_quarantines(tmp_path: Path) -> None:
    for name, text in [
        ("ok.csv", GOOD),
        ("bad.csv", "nothing,useful\n1,2\n"),
        ("young.csv", GOOD),
        ("cut.csv", GOOD),
    ]:
        (tmp_path / name).write_text(text)
    files = [
        landed(tmp_path / "ok.csv", 30),
        landed(tmp_path / "bad.csv", 30),
        landed(tmp_path / "young.csv", 0.5),
        landed(tmp_path / "cut.csv", 10, False),
    ]
    decisions = plan_landed_files(files, 1000.0, 2.0, 10, JUDGE)
    plan = {d.path.name: (d.action, d.reason) for d in decisions}
    assert plan["ok.csv"] == ("score", "ready")
    assert plan["bad.csv"][0] == "quarantine" and "no time column" in plan["bad.csv"][1]
    assert plan["young.csv"] == ("wait", "still being written")
    assert plan["cut.csv"] == ("wait", "last line is cut short")


def test_cap_leaves_the_rest_for_later(tmp_path: Path) -> None:
    files = []
    for number in range(4):
        (tmp_path / f"{number}.csv").write_text(GOOD)
        files.append(landed(tmp_path / f"{number}.csv", 30))
    plan = plan_landed_files(files, 1000.0, 2.0, 3, JUDGE)
    assert [d.path.name for d in plan] == ["0.csv", "1.csv", "2.csv"]


def test_files_a_run_in_flight_took_are_left_alone(tmp_path: Path) -> None:
    files = []
    for name in ("taken.csv", "new.csv"):
        (tmp_path / name).write_text(GOOD)
        files.append(landed(tmp_path / name, 30))
    left = not_in_flight(files, {tmp_path / "taken.csv", tmp_path / "gone.csv"})
    assert [f.path.name for f in left] == ["new.csv"]


def test_quarantine_and_archive_never_overwrite(tmp_path: Path) -> None:
    for _ in range(2):
        (tmp_path / "x.csv").write_text(GOOD)
        quarantine_file(tmp_path / "x.csv", "bad header")
    names = sorted(p.name for p in (tmp_path / "quarantine").iterdir())
    assert names == ["x.1.csv", "x.1.csv.reason.txt", "x.csv", "x.csv.reason.txt"]
    (tmp_path / "y.csv").write_text(GOOD)
    sha256 = file_sha256(tmp_path / "y.csv")
    moved = archive_file(tmp_path / "y.csv", sha256)
    assert moved == tmp_path / "archive" / f"y.{sha256[:12]}.csv" and moved.read_text() == GOOD


def test_chunks_cover_every_row_in_order() -> None:
    frame = pd.DataFrame({"v": range(10)})
    chunks = chunk_readings(frame, 4)
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert pd.concat(chunks)["v"].tolist() == list(range(10))
    with pytest.raises(PipelineError):
        chunk_readings(frame, 0)


def test_partition_keys_cannot_escape_the_drop_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_pipeline.services.landing import landed_file_path

    drop = tmp_path / "incoming"
    drop.mkdir()
    monkeypatch.setenv("PM_DROP_DIR", str(drop))
    (tmp_path / "secret.csv").write_text(GOOD)
    (drop / "link.csv").symlink_to(tmp_path / "secret.csv")
    assert landed_file_path("ok.csv", None, drop) == drop / "ok.csv"
    for key in ("../secret.csv", "sub/x.csv", "..", "link.csv"):
        with pytest.raises(PipelineError):
            landed_file_path(key, None, drop)


def test_a_file_is_ready_only_once_two_looks_agree(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(GOOD)
    seen = landed(tmp_path / "a.csv", 30)
    grown = LandedFile(seen.path, seen.size + 40, seen.modified_at, True)
    first = plan_landed_files([seen], 1000.0, 2.0, 10, JUDGE, last_looks={})
    assert [(d.action, d.reason) for d in first] == [("wait", "changed since the last look")]
    cursor = json.dumps({"looks": looks_of([seen])})
    again = plan_landed_files([seen], 1000.0, 2.0, 10, JUDGE, looks_in_cursor(cursor))
    assert [d.action for d in again] == ["score"]
    # Bytes appended between the looks, the modification time kept (a copy with -p): waits.
    changed = plan_landed_files([grown], 1000.0, 2.0, 10, JUDGE, looks_in_cursor(cursor))
    assert [d.action for d in changed] == ["wait"]


@pytest.mark.parametrize("cursor", [None, "", "not json", '{"looks": 3}', '{"last_tick": 1}'])
def test_a_cursor_without_looks_means_a_first_look(cursor: str | None) -> None:
    assert looks_in_cursor(cursor) == {}


def test_an_archived_copy_written_after_its_run_began_has_grown() -> None:
    assert grown_after_scoring(copy_modified_at=101.0, run_started_at=100.0)
    assert not grown_after_scoring(copy_modified_at=99.0, run_started_at=100.0)
