"""Progress bars for the long commands: on stderr, shown only after a second, and only on a
terminal, so piped output and logs stay clean."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

SHOW_AFTER_S = 1.0


def progress_bar(total: float | None, unit: str, desc: str, stream: IO[str] | None = None) -> tqdm:
    """A bar that appears once the work has taken a second, and never when ``stream`` (stderr
    by default) is not a terminal."""
    from tqdm import tqdm

    out: IO[str] = sys.stderr if stream is None else stream
    return tqdm(
        total=total,
        unit=unit,
        unit_scale=unit != "files",
        desc=desc,
        file=out,
        delay=SHOW_AFTER_S,
        disable=not out.isatty(),
        dynamic_ncols=True,
        leave=False,
    )


def estimated_rows(path, sample_bytes: int = 65_536) -> int | None:
    """About how many lines a plain-text export holds, from the length of its first lines;
    None for a compressed or unreadable file, whose bar then counts without a total."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(sample_bytes)
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b" or head.count(b"\n") < 2:
        return None
    return max(int(size / (len(head) / head.count(b"\n"))) - 1, 1)
