"""Content fingerprints that make data versions and run keys traceable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

_CHUNK = 1 << 20


def readings_fingerprint(readings: pd.DataFrame) -> str:
    """A short hash of a readings frame's content (row order and values)."""
    hashed = pd.util.hash_pandas_object(readings, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:12]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
