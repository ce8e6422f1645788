"""What a database error in the middle of work means to the user, in one line.

Two faults are not bugs and not the user's data: the server went away (a restart, a
failover, a connection an administrator ended) and the disk is full. Both roll the
transaction back, so nothing of the work was stored; each becomes one line that says so and
what to do, instead of a traceback.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from pm_pipeline.core.errors import DatabaseUnavailable, PipelineError, StorageFull, out_of_space

_CONNECTION_LOST = (
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "connection already closed",
    "could not receive data from server",
    "could not send data to server",
    "ssl connection has been closed unexpectedly",
    "the database system is shutting down",
    "the database system is starting up",
    "connection to server",
)


def first_line(error: BaseException) -> str:
    """The error's own message, first line only (a driver's detail lines and SQL stay out)."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def database_failure(error: BaseException, doing: str) -> PipelineError | None:
    """The one-line error for a lost connection or a full disk met while ``doing`` (e.g.
    ``"ingesting line.csv"``); None for any other error, which stays what it is.

    A lost connection is :class:`DatabaseUnavailable`, which scoring retries with backoff.
    """
    if out_of_space(error):
        return StorageFull(
            f"{doing}: the database could not be written ({first_line(error)}; is its disk "
            "full?); nothing of it was stored. Free disk space and run it again."
        )
    if isinstance(error, DBAPIError) and (
        error.connection_invalidated
        or any(sign in str(error.orig).lower() for sign in _CONNECTION_LOST)
    ):
        return DatabaseUnavailable(
            f"{doing}: the connection to the database was lost ({first_line(error)}); nothing "
            "of it was stored. Run it again once the database is back."
        )
    return None


def storage_failure(error: BaseException, doing: str) -> PipelineError | None:
    """The one-line error when Dagster's own storage fails under a run (``doing``): a full
    disk, or a lost connection to its Postgres; None for any other error."""
    if out_of_space(error):
        return StorageFull(
            f"{doing}: Dagster's storage could not be written ({first_line(error)}; is the "
            "disk full?); the run did not finish and is marked failed (by the next command, "
            "if the disk is still full). Free disk space and run the command again."
        )
    if isinstance(database_failure(error, doing), DatabaseUnavailable):
        return DatabaseUnavailable(
            f"{doing}: the connection to Dagster's storage was lost ({first_line(error)}); "
            "the run did not finish. Run the command again once the database is back."
        )
    return None
