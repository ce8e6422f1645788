"""A per-robot fence between storing a landed file and reading a training window.

Scoring a file commits its readings and its events in one transaction, but a retraining reads
the robot's window and its events in separate statements: a file committed in between would
show its readings without the events that flag them, and the model would learn the very fault
they show. Scoring holds the robot's fence exclusively
from ingest until its events are stored; reading a training window holds it shared, so
trainings of one robot never wait for each other, and neither waits for another robot.

The fence lives in the readings database, not in Dagster's run queue, so it holds whoever
writes: a sensor's run covering many robots, `pm-pipeline score`, a run started in the UI.
On Postgres it is an advisory lock, released by the server if the holder's connection dies;
on the embedded SQLite file, a lock file beside it (released by the OS with its process).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

_FENCE_NAMESPACE = 0x504D  # "PM": the first key of our two-key advisory locks


@contextmanager
def robot_readings_fence(engine: Engine, robot_id: str, shared: bool = False) -> Iterator[None]:
    """Hold ``robot_id``'s fence for the block: exclusively (storing a file's readings and
    its events), or ``shared`` (reading a training window and its events); waits while the
    other kind is held."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, robot_id, shared):
            yield
    elif engine.url.database and engine.url.database != ":memory:":
        with _lock_file(Path(engine.url.database), robot_id, shared):
            yield
    else:
        yield  # an in-memory database lives in one process: nothing else can read it


@contextmanager
def _advisory_lock(engine: Engine, robot_id: str, shared: bool) -> Iterator[None]:
    kind = "_shared" if shared else ""
    key = {"namespace": _FENCE_NAMESPACE, "robot": robot_id}
    # Autocommit: a session lock needs no transaction, and one left open for a whole file
    # would hold back vacuum (and trip an idle-in-transaction timeout, as Neon sets).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(
            sa.text(f"SELECT pg_advisory_lock{kind}(:namespace, hashtext(:robot))"), key
        )
        try:
            yield
        finally:
            connection.execute(
                sa.text(f"SELECT pg_advisory_unlock{kind}(:namespace, hashtext(:robot))"), key
            )


@contextmanager
def _lock_file(database: Path, robot_id: str, shared: bool) -> Iterator[None]:
    digest = hashlib.sha256(robot_id.encode()).hexdigest()[:16]
    path = database.with_name(f"{database.name}.fence-{digest}.lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
