"""The one exception type for errors a user can cause and fix, and what its messages may show.

A message quotes file content only through :func:`quoted` (capped), and shows a database URL
only through :func:`mask_url` (every credential hidden). The masking is pure string work, so
it holds for a URL that SQLAlchemy cannot even parse: a URL missing ``://``, a password
holding an unescaped ``@`` or ``/``, and a password given in the query (``?password=…``), as
libpq accepts it.
"""

import errno
import re
from urllib.parse import unquote


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


MASK = "***"
_QUERY_SECRET = re.compile(r"([?&][^=&#]*(?:pass|secret|token)[^=&#]*=)([^&#]*)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` with its password and every secret query value replaced by ``***``.

    The user information ends at the URL's last ``@``, so a password that holds an
    unescaped ``@`` is hidden whole, not only the part before its first ``@``.
    """
    start, at = _userinfo_span(url)
    if at >= 0:
        user, colon, _ = url[start:at].partition(":")
        url = url[:start] + user + (f":{MASK}" if colon else "") + url[at:]
    return _QUERY_SECRET.sub(lambda match: match.group(1) + MASK, url)


def url_secrets(url: str) -> list[str]:
    """The secrets ``url`` holds (password, secret query values), as written and decoded."""
    found = []
    start, at = _userinfo_span(url)
    if at >= 0:
        _, colon, password = url[start:at].partition(":")
        if colon:
            found.append(password)
    found += [match.group(2) for match in _QUERY_SECRET.finditer(url)]
    return [s for secret in found if secret for s in dict.fromkeys((secret, unquote(secret)))]


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's error, say) with every secret of ``url`` replaced by ``***``."""
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _userinfo_span(url: str) -> tuple[int, int]:
    """Where the user information starts (after ``//``, else at 0), and the last ``@``
    (-1 when there is none)."""
    at = url.rfind("@")
    slashes = url.find("//")
    start = slashes + 2 if 0 <= slashes < at else 0
    return start, at


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
