"""File moves are safe to repeat: a second run, or a retry, of a file that is already archived."""

import os
import time
from pathlib import Path

import pytest

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing.plan import EarlierRun, after_earlier_run
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.services.landing import (
    archive_file,
    archived_copies,
    landed_file_path,
    quarantine_file,
    reland_if_grown,
)

TEXT = "time,axis_1\n2022-10-17T12:00:00Z,1\n"


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PM_DROP_DIR", str(tmp_path))
    return tmp_path


def land(folder: Path, name: str, text: str, mtime: float) -> tuple[Path, str]:
    path = folder / name
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path, file_sha256(path)


def test_archiving_again_returns_the_archived_copy(drop: Path) -> None:
    path, sha = land(drop, "a.csv", TEXT, 1000)
    archived = archive_file(path, sha)
    assert archived == drop / "archive" / f"a.{sha[:12]}.csv"
    # A second run of the same bytes archives after the first: nothing moves, nothing fails.
    assert archive_file(path, sha) == archived
    # A run that scored the archived copy itself leaves it where it is.
    assert archive_file(archived, sha) == archived
    assert [p.name for p in (drop / "archive").iterdir()] == [archived.name]
    assert archived.read_text() == TEXT


def test_a_vanished_file_without_its_archived_copy_is_a_clear_error(drop: Path) -> None:
    path, sha = land(drop, "a.csv", TEXT, 1000)
    path.unlink()
    with pytest.raises(PipelineError, match=r"a.csv is gone .* no copy of it"):
        archive_file(path, sha)


def test_a_scored_and_archived_file_is_found_in_the_archive(drop: Path) -> None:
    old, old_sha = land(drop, "a.csv", TEXT, 1000)
    archive_file(old, old_sha)
    new, new_sha = land(drop, "a.csv", TEXT + "2022-10-17T12:00:02Z,2\n", 2000)
    archive_file(new, new_sha)
    # Names that only look alike are other files.
    land(drop / "archive", f"a.b.{new_sha[:12]}.csv", TEXT, 3000)
    land(drop / "archive", f"ab.{new_sha[:12]}.csv", TEXT, 3000)

    newest = drop / "archive" / f"a.{new_sha[:12]}.csv"
    assert archived_copies(drop / "a.csv") == [drop / "archive" / f"a.{old_sha[:12]}.csv", newest]
    assert landed_file_path("a.csv", None, drop) == newest
    assert landed_file_path("a.csv", str(drop / "a.csv"), drop) == newest
    # While the file is in the drop folder, that is the one scored.
    again, _ = land(drop, "a.csv", TEXT, 4000)
    assert landed_file_path("a.csv", None, drop) == again
    # A file never archived stays a missing path, for the run to report.
    assert landed_file_path("never.csv", None, drop) == drop / "never.csv"


def test_quarantining_a_vanished_file_leaves_no_stray_reason(drop: Path) -> None:
    path, _ = land(drop, "bad.csv", "nothing\n", 1000)
    moved = quarantine_file(path, "no time column")
    assert moved.read_text() == "nothing\n"
    assert (drop / "quarantine" / "bad.csv.reason.txt").read_text() == "no time column\n"
    with pytest.raises(PipelineError, match=r"bad.csv is gone"):
        quarantine_file(path, "no time column")
    assert sorted(p.name for p in (drop / "quarantine").iterdir()) == [
        "bad.csv",
        "bad.csv.reason.txt",
    ]


@pytest.mark.parametrize(
    ("status", "will_retry", "retry_launched", "ended_s_ago", "step"),
    [
        ("SUCCESS", False, False, 5.0, "archive"),
        ("STARTED", False, False, 0.0, "wait"),
        ("QUEUED", False, False, 0.0, "wait"),
        ("FAILURE", False, False, 500.0, "failed"),
        ("FAILURE", True, True, 500.0, "wait"),
        ("FAILURE", True, False, 10.0, "wait"),
        ("FAILURE", True, False, 30.0, "rerun"),
        ("CANCELED", True, False, 30.0, "rerun"),
    ],
)
def test_after_an_earlier_run(
    status: str, will_retry: bool, retry_launched: bool, ended_s_ago: float, step: str
) -> None:
    run = EarlierRun("r", status, will_retry, retry_launched, ended_s_ago)
    assert after_earlier_run(run, grace_s=30.0) == step


@pytest.mark.parametrize("name", ["synthetic", "synthetic:0123456789ab"])
def test_a_file_named_like_the_synthetic_set_is_refused(drop: Path, name: str) -> None:
    # Its events would be taken for the verification set's and left out of every view.
    land(drop, name, TEXT, 1000)
    with pytest.raises(PipelineError, match="reserved for the synthetic verification set"):
        landed_file_path(name, None, drop)
    with pytest.raises(PipelineError, match="rename the file"):
        landed_file_path(name, str(drop / name), drop)
    assert landed_file_path("synthetic_day.csv", None, drop) == drop / "synthetic_day.csv"


def test_a_copy_grown_after_scoring_goes_back_or_to_the_drop_folders_quarantine(
    drop: Path,
) -> None:
    """Bytes appended to an archived copy are never lost: the copy goes back where it landed,
    or, when a newer file of that name has landed since, to the drop folder's quarantine."""
    landed = drop / "a.csv"
    landed.write_text("time,axis_1\n2026-01-01T00:00:00Z,1\n")
    archived = archive_file(landed, file_sha256(landed))
    with archived.open("a") as writer:
        writer.write("2026-01-01T00:00:01Z,2\n")
    assert reland_if_grown(archived, landed, run_started_at=0.0) == landed
    assert landed.read_text().endswith("00:00:01Z,2\n") and not archived.exists()
    archived = archive_file(landed, file_sha256(landed))
    with archived.open("a") as writer:
        writer.write("2026-01-01T00:00:02Z,3\n")
    landed.write_text("time,axis_1\n2026-01-02T00:00:00Z,9\n")  # a newer file, same name
    moved = reland_if_grown(archived, landed, run_started_at=0.0)
    assert moved is not None and moved == drop / "quarantine" / archived.name
    reason = drop / "quarantine" / f"{archived.name}.reason.txt"
    assert "newer file of that name" in reason.read_text()
    assert reland_if_grown(moved, landed, run_started_at=time.time() + 60) is None
