"""Two writers replace the same file's events at the same time: exactly one set is left.

The listener below holds each writer right after its DELETE until the other has run its
DELETE too (or 3 s have passed). That is the interleaving that duplicates events under
Postgres READ COMMITTED when nothing serialises the writers: both delete nothing, both insert.
"""

import contextlib
import threading
from collections.abc import Callable

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events, replace_events, source_lock_key
from pm_pipeline.db.registry import register_model

ROBOT = "r1"
SOURCE = "race.csv"


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame):
    return fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())


def hold_after_delete(engine: sa.Engine, writers: int) -> None:
    """Make every writer wait after its DELETE of pm_events for the others' DELETEs."""
    after_delete = threading.Barrier(writers)

    @event.listens_for(engine, "after_cursor_execute")
    def _wait(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM PM_EVENTS"):
            # A broken barrier means the other writer is held before its DELETE: the lock works.
            with contextlib.suppress(threading.BrokenBarrierError):
                after_delete.wait(timeout=3)


def race(writers: list[Callable[[], object]]) -> list[BaseException]:
    """Start the writers together; return what they raised."""
    start, errors = threading.Barrier(len(writers)), []

    def run(write: Callable[[], object]) -> None:
        start.wait()
        try:
            write()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(write,)) for write in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_racing_replacements_leave_one_set_of_events(
    database_url: str, model, robot_day: pd.DataFrame
) -> None:
    engine = open_engine(database_url)
    register_model(engine, model, ROBOT, "train", {})
    detected = detect_events(model, robot_day)
    assert len(detected) > 1
    replace_events(engine, SOURCE, detected.head(1), model.version, "earlier-run", ROBOT)
    hold_after_delete(engine, writers=2)

    errors = race(
        [
            lambda run_id=run_id: replace_events(
                engine, SOURCE, detected, model.version, run_id, ROBOT
            )
            for run_id in ("run-a", "run-b")
        ]
    )

    assert errors == []
    stored = read_events(engine, SOURCE)
    assert len(stored) == len(detected), stored["run_id"].value_counts().to_dict()
    assert stored["run_id"].nunique() == 1 and stored["run_id"].iloc[0] in ("run-a", "run-b")
    keys = ["axis", "severity", "start_ts"]
    assert sorted(map(tuple, stored[keys].to_numpy().tolist())) == sorted(
        map(tuple, detected[["axis", "severity", "start"]].to_numpy().tolist())
    )


def test_other_sources_do_not_wait(postgres_url: str, model, robot_day: pd.DataFrame) -> None:
    """The lock is per source: a writer of another file is not held up by an open one."""
    engine = open_engine(postgres_url)
    register_model(engine, model, ROBOT, "train", {})
    detected = detect_events(model, robot_day).head(2)
    replace_events(engine, "other.csv", detected, model.version, "first", ROBOT)
    with engine.begin() as holder:
        holder.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        holder.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": source_lock_key(ROBOT, SOURCE)}
        )
        # Another source's replacement finishes while SOURCE's lock is held.
        assert replace_events(engine, "other.csv", detected, model.version, "second", ROBOT) == 2
    assert read_events(engine, "other.csv")["run_id"].tolist() == ["second", "second"]
