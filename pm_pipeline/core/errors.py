"""The one exception type for errors a user can cause and fix."""

import errno


class PipelineError(Exception):
    """A problem the user can fix: the message names the file, line or field and what to do."""


class DatabaseUnavailable(PipelineError):
    """The database refused or dropped the connection: worth retrying later, unlike a bad URL."""


class SettingsError(PipelineError):
    """One or more ``PM_*`` settings are malformed: one line per variable, saying the fix."""


class StorageFull(PipelineError):
    """A disk (of the database or of Dagster's storage) is full: free space and run again."""


_OUT_OF_SPACE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_OUT_OF_SPACE_SIGNS = (
    "database or disk is full",
    "no space left on device",
    "disk quota exceeded",
    "file too large",
    "disk i/o error",  # SQLite's word for a write the file system refused
    "could not extend file",  # Postgres out of space
)


def out_of_space(error: BaseException) -> bool:
    """True when ``error``, or an error it was raised from, says a disk is full or a file
    may grow no more (ENOSPC, EFBIG, a quota; SQLite's and Postgres' words for them)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _OUT_OF_SPACE_ERRNOS:
            return True
        if any(sign in str(current).lower() for sign in _OUT_OF_SPACE_SIGNS):
            return True
        orig = getattr(current, "orig", None)
        pending += [current.__cause__, current.__context__]
        if isinstance(orig, BaseException):
            pending.append(orig)
    return False
