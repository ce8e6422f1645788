"""Which text encoding an export is read in, and where a file stops being that encoding.

Exports are UTF-8 (a byte-order mark is allowed). A controller or PC that writes another
encoding, such as Windows-1252 (``cp1252``: German, French and Spanish exports from Excel),
is named by the robots file's ``encoding`` key. Only encodings that write ASCII as ASCII are
taken: the parser finds lines and separators by their bytes.
"""

from __future__ import annotations

import codecs

from pm_pipeline.core.parsing.opened import ExportSource, binary, source_path

UTF8 = "utf-8"
ENCODING_KEY = "encoding"
_CHUNK = 1 << 20


def check_encoding(name: str) -> str:
    """Python's name for the encoding ``name``; ValueError (saying what to write) when it
    is unknown or not ASCII-compatible."""
    try:
        codec = codecs.lookup(name)
    except (LookupError, TypeError):
        raise ValueError(
            f"{ENCODING_KEY}: {name!r} is not a text encoding Python knows; write e.g. cp1252 "
            "(Windows-1252) or utf-8."
        ) from None
    if "\n,;.0123456789AZaz".encode(codec.name, errors="replace") != b"\n,;.0123456789AZaz":
        raise ValueError(
            f"{ENCODING_KEY}: {name!r} is not ASCII-compatible; re-save the exports as UTF-8, "
            "or name a single-byte encoding such as cp1252."
        )
    return codec.name


def first_undecodable(
    source: ExportSource, gzipped: bool, encoding: str
) -> tuple[int, int, int] | None:
    """The line, the byte within it (both from 1) and the value of the first byte that is
    not ``encoding``; None when the whole file decodes. Read in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line, line_start, offset = 1, 0, 0
    with binary(source, gzipped) as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                # The decoder may hold back a few bytes of the previous chunk.
                bad = max(error.start - (len(error.object) - len(chunk)), 0)
                before = chunk[:bad]
                line += before.count(b"\n")
                if b"\n" in before:
                    line_start = offset + before.rfind(b"\n") + 1
                position = offset + bad
                return line, position - line_start + 1, chunk[bad] if bad < len(chunk) else 0
            if not chunk:
                return None
            line += chunk.count(b"\n")
            if b"\n" in chunk:
                line_start = offset + chunk.rfind(b"\n") + 1
            offset += len(chunk)


def undecodable_message(source: ExportSource, gzipped: bool, encoding: str) -> str:
    """The one line for a file that is not ``encoding`` text, naming the line and byte."""
    path = source_path(source)
    where = first_undecodable(source, gzipped, encoding)
    at = f"line {where[0]}, byte {where[1]} (0x{where[2]:02x})" if where else "somewhere"
    if encoding.replace("_", "-").lower() in ("utf-8", "utf-8-sig"):
        return (
            f"{path}: {at} is not UTF-8 text: re-save as UTF-8 (in Excel: Save As, CSV UTF-8), "
            f"or, if the robot's controller writes Windows-1252, set `{ENCODING_KEY}: cp1252` "
            "for the robot in robots.yaml."
        )
    return (
        f"{path}: {at} is not {encoding} text, the encoding robots.yaml names for the robot: "
        f"re-save as UTF-8 and remove the `{ENCODING_KEY}` key, or name the right encoding."
    )
