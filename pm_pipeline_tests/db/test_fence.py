"""The per-robot fence between storing a landed file and reading a training window, on the
embedded SQLite file (a lock file) and on the Postgres server (advisory locks)."""

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import sqlalchemy as sa

from pm_pipeline.db.engine import normalise_url
from pm_pipeline.db.fence import robot_readings_fence

WAIT_S = 0.5
"""Long enough for a free fence to be taken; a held one is not taken in this time."""


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        make: Callable[[], str] = request.getfixturevalue("postgres_schema_url")
        url = make()
    engine = sa.create_engine(normalise_url(url))
    yield engine
    engine.dispose()


@pytest.fixture
def robot() -> str:
    # Advisory locks are server-wide: a robot of its own keeps other tests' runs out.
    return f"fence-{uuid.uuid4().hex[:8]}"


class Taker:
    """Takes a fence in a thread of its own and holds it until released."""

    def __init__(self, fence: AbstractContextManager[None]) -> None:
        self.taken, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(fence,), daemon=True)
        self.thread.start()

    def _hold(self, fence: AbstractContextManager[None]) -> None:
        with fence:
            self.taken.set()
            self.release.wait(30)

    def done(self) -> None:
        self.release.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_scoring_holds_back_a_training_read_of_its_robot_only(
    engine: sa.Engine, robot: str
) -> None:
    scoring = Taker(robot_readings_fence(engine, robot))
    assert scoring.taken.wait(WAIT_S)
    training = Taker(robot_readings_fence(engine, robot, shared=True))
    other_robot = Taker(robot_readings_fence(engine, f"{robot}-b", shared=True))
    assert other_robot.taken.wait(WAIT_S)
    assert not training.taken.wait(WAIT_S)  # the file's events are not stored yet
    scoring.done()
    assert training.taken.wait(10)
    training.done()
    other_robot.done()


def test_training_reads_share_the_fence_and_scoring_waits_for_them(
    engine: sa.Engine, robot: str
) -> None:
    first = Taker(robot_readings_fence(engine, robot, shared=True))
    second = Taker(robot_readings_fence(engine, robot, shared=True))
    assert first.taken.wait(WAIT_S) and second.taken.wait(WAIT_S)
    scoring = Taker(robot_readings_fence(engine, robot))
    assert not scoring.taken.wait(WAIT_S)
    first.done()
    assert not scoring.taken.wait(WAIT_S)
    second.done()
    assert scoring.taken.wait(10)
    scoring.done()
