"""A zip download cut short (the client gone) is dropped: nothing writes its central directory,
which for a folder of thousands of files is milliseconds of Python on the event loop, for
nobody (zipfile would, when the archive is collected)."""

from __future__ import annotations

import gc
import zipfile

from lakestow.console.api import _Sink, drop


def written_after_abandon(dropped: bool) -> bytes:
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
    for n in range(50):
        with archive.open(zipfile.ZipInfo(f"f{n:03d}.csv"), "w", force_zip64=True) as out:
            out.write(b"x" * 100)
    sink.take()  # sent
    if dropped:
        drop(archive)
    del archive, out  # the generator's frame let go of, as when the download is cut short
    gc.collect()
    return sink.take()


def test_an_archive_dropped_writes_nothing_more() -> None:
    assert written_after_abandon(dropped=False).count(b"PK\x01\x02") == 50  # what drop spares
    assert written_after_abandon(dropped=True) == b""
