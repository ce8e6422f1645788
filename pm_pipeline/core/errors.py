"""The one exception type for errors a user can cause and fix."""


class PipelineError(Exception):
    """A problem the user can fix: the message names the file, line or field and what to do."""


class DatabaseUnavailable(PipelineError):
    """The database refused or dropped the connection: worth retrying later, unlike a bad URL."""


class SettingsError(PipelineError):
    """One or more ``PM_*`` settings are malformed: one line per variable, saying the fix."""


QUOTE_CHARS = 60
"""Characters of a value from a file (or a setting) that a message quotes; the rest is cut."""
TEXT_CHARS = 300
"""Characters of a library's own error text that a message passes on."""


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of a value for a message, cut to ``limit`` characters and saying its length.

    Every message that quotes file content goes through here, so one 100 MB field never
    travels whole into an error line, a Dagster event or a quarantine reason.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def capped(text: object, limit: int = TEXT_CHARS) -> str:
    """Free text (a parser's error, which may quote the file) cut to ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
