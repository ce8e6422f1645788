"""The one exception type for errors a user can cause and fix."""


class PipelineError(Exception):
    """A problem the user can fix: the message names the file, line or field and what to do."""


class DatabaseUnavailable(PipelineError):
    """The database refused or dropped the connection: worth retrying later, unlike a bad URL."""


class SettingsError(PipelineError):
    """One or more ``PM_*`` settings are malformed: one line per variable, saying the fix."""
