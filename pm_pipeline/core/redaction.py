"""Credentials hidden from every message: database URLs printed with ``***`` for secrets.

Pure string work, so it holds for a URL that SQLAlchemy cannot even parse: a URL missing
``://``, a password holding an unescaped ``@`` or ``/``, and a password given in the query
(``?password=…``), as libpq accepts it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

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
