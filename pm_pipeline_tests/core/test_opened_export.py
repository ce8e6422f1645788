"""An export opened once hashes the bytes read, each once, however often it is rewound; bytes
added after the read are not in its hash, so archiving sees the file changed."""

import hashlib
from pathlib import Path

from pm_pipeline.core.parsing.opened import OpenedExport, binary
from pm_pipeline.core.versioning import file_sha256


def test_rewound_reads_hash_each_byte_once(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"".join(b"line %d\n" % n for n in range(300_000)))
    with OpenedExport(path) as opened:
        with binary(opened) as handle:
            handle.readline()
        with binary(opened) as handle:
            handle.read(5_000)
        with binary(opened) as handle:
            while handle.read(1 << 16):
                pass
        assert opened.sha256() == file_sha256(path)


def test_bytes_appended_after_the_read_are_not_in_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    scored = b"a,b\n1,2\n"
    path.write_bytes(scored)
    with OpenedExport(path) as opened:
        with binary(opened) as handle:
            assert handle.read() == scored
        with path.open("ab") as writer:
            writer.write(b"3,4\n")
        assert opened.sha256() == hashlib.sha256(scored).hexdigest() != file_sha256(path)
