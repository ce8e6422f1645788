"""An export opened once: every read of it goes through one handle, hashed as it passes.

Scoring a landed file looks at its layout and header, streams its rows, and may read it whole
again (the careful parser). Each of those opened the file by its path, and the file was hashed
by a read of its own first. :class:`OpenedExport` opens it once instead: every reader takes
the same handle from its first byte (:func:`binary`), and the SHA-256 of the bytes read is
kept as they pass, each byte hashed once however often it is read. Once the rows have been
read to the end, :meth:`OpenedExport.sha256` is the hash of exactly the bytes scored, so
archiving can tell whether the file on disk still holds them.

A path still works wherever an :data:`ExportSource` is taken: it is opened for that read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_BUFFER_BYTES = 1 << 20


class _HashingReader(io.RawIOBase):
    """A file's raw reads, the bytes beyond those hashed so far added to the hash."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb", buffering=0)
        self._digest = hashlib.sha256()
        self._hashed = 0  # bytes from the first hashed so far

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        position = self._file.tell()
        count = self._file.readinto(buffer) or 0
        end = position + count
        if position <= self._hashed < end:
            with memoryview(buffer) as view:
                self._digest.update(view[self._hashed - position : count])
            self._hashed = end
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class OpenedExport:
    """One export file, opened once (see the module docstring); use it as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._raw = _HashingReader(self.path)
        self._handle = io.BufferedReader(self._raw, READ_BUFFER_BYTES)

    def rewound(self) -> io.BufferedIOBase:
        """The handle, at the file's first byte; readers leave it open."""
        self._handle.seek(0)
        return self._handle

    def sha256(self) -> str:
        """The SHA-256 of the bytes read so far from the first: the file's, once its rows
        were read to the end."""
        return self._raw.hexdigest()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> OpenedExport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


ExportSource = Path | OpenedExport
"""A file to read: a path (opened for each read) or an :class:`OpenedExport`."""


def export_source(source: str | Path | OpenedExport) -> ExportSource:
    """``source`` as an :data:`ExportSource` (a string is a path)."""
    return source if isinstance(source, OpenedExport) else Path(source)


def source_path(source: ExportSource) -> Path:
    """Where the file lies, for messages."""
    return source.path if isinstance(source, OpenedExport) else source


@contextmanager
def binary(source: ExportSource, gzipped: bool = False) -> Iterator[io.BufferedIOBase]:
    """The file's bytes from the first (decompressed when ``gzipped``): the opened handle,
    rewound and left open, or the path opened for the block."""
    with _raw_bytes(source) as handle:
        if gzipped:
            with gzip.GzipFile(fileobj=handle, mode="rb") as unpacked:
                yield unpacked
        else:
            yield handle


@contextmanager
def _raw_bytes(source: ExportSource) -> Iterator[io.BufferedIOBase]:
    if isinstance(source, OpenedExport):
        yield source.rewound()
        return
    with source.open("rb") as handle:
        yield handle
