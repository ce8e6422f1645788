"""Where landed files live and how a file maps to its partition key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DROP_DIR_VARIABLE = "PM_DROP_DIR"
DEFAULT_DROP_DIR = "data/incoming"


def drop_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder watched for controller exports (``PM_DROP_DIR``, default ``data/incoming``)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(DROP_DIR_VARIABLE, DEFAULT_DROP_DIR)).resolve()


def partition_key_for(path: str | Path) -> str:
    """A landed file's partition key: its file name, so a changed file keeps its partition."""
    return Path(path).name


def landed_file_path(partition_key: str, explicit: str | None) -> Path:
    """The file behind a partition: the configured path, else the key inside the drop folder."""
    return Path(explicit) if explicit else drop_dir() / partition_key
