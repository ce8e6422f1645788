"""Checks on the paths a command was given, before any heavy import or work starts."""

import argparse
from pathlib import Path

from pm_pipeline.core.errors import PipelineError


def check_paths(args: argparse.Namespace) -> None:
    """Raise PipelineError for a folder given as a file, or a file given as a folder.

    The parser names the arguments of each command: ``input_files`` must not be folders,
    ``output_files`` must not be folders, ``output_dirs`` must not be files.
    """
    for name in getattr(args, "input_files", ()):
        value = getattr(args, name)
        for path in value if isinstance(value, list) else [value]:
            require_input_file(path)
    for name in getattr(args, "output_files", ()):
        path = getattr(args, name)
        if path is not None and path.is_dir():
            raise PipelineError(
                f"{path}: is a directory; give a file name for the output, e.g. {path / 'out.csv'}."
            )
    for name in getattr(args, "output_dirs", ()):
        path = getattr(args, name)
        if path is not None and path.exists() and not path.is_dir():
            raise PipelineError(f"{path}: is a file, not a folder; give a folder to write into.")


def require_input_file(path: Path) -> None:
    """An input file given as a folder is one clear line (a missing file is left to the
    command, which says so in its own words)."""
    if path.is_dir():
        raise PipelineError(
            f"{path}: is a directory, not an export file; give a file inside it, "
            f"e.g. {path / '*.csv'}."
        )
