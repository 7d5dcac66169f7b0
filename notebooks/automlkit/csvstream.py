"""CSV files of any size for batch scoring (``automlkit.batch``): records read in chunks, output written
whole or not at all, and an external sort for ranked output.

Nothing here holds more than one chunk of rows: the input is read a line at a time, the output is
streamed to a temporary file that replaces ``OUT`` only at the end, and ranked rows wait on disk in sorted
runs that :func:`heapq.merge` joins.
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import io
import os
import secrets
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from .schema import GZIP_MAGIC, UTF8_BOM

#: Compression of ``.gz`` output: zlib's default; level 9 costs twice the time for ~3 % smaller files.
GZIP_LEVEL = 6
#: A record (a quoted field's line breaks included) is cut past this size: a quote left open never holds the
#: rest of the file in memory.
MAX_RECORD_BYTES = 16 << 20
#: The most sorted runs merged at once (each holds an open file); more are merged in passes.
MAX_FAN_IN = 200
_RUN_HEAD = struct.Struct("<dqI")  # key, row, length of the text


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """``path`` (``-``: standard input) as a buffered binary stream, gunzipped when it starts like gzip."""
    with contextlib.ExitStack() as stack:
        stream = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb", buffering=1 << 20))
        if stream.peek(2)[:2] == GZIP_MAGIC:  # a BufferedReader's readline is C; GzipFile's is Python
            stream = stack.enter_context(io.BufferedReader(gzip.GzipFile(fileobj=stream, mode="rb"), 1 << 20))
        yield stream


@dataclass
class Chunk:
    """Consecutive data records of a CSV: each one row with its line end (blank lines left out)."""

    records: list[bytes]
    #: the whole file's 1-based row number of the first record
    first_row: int
    #: per record, the 0-based line of the file where it starts (the header is line 0)
    lines: list[int]

    @property
    def data(self) -> bytes:
        """The records as one CSV text without its header."""
        return b"".join(self.records)

    def part(self, start: int, stop: int) -> "Chunk":
        """Records ``start`` to ``stop`` (0-based, ``stop`` excluded) as a chunk of their own."""
        return Chunk(self.records[start:stop], self.first_row + start, self.lines[start:stop])


class CsvRecords:
    """The header and the data records of a CSV byte stream.

    A record is a line, or several when a quoted field holds line breaks (a record ends at a line end after
    an even number of quotes, as RFC 4180 doubles quotes inside quoted fields). Blank lines are skipped, as
    the CSV parser skips them, so record *n* is data row *n* of the whole file.
    """

    def __init__(self, stream: Iterable[bytes]):
        self._lines = iter(stream)
        self.lines = 0  # lines read so far
        self.rows = 0  # records read so far
        self._records = self._read()
        self.header = next(self._records, b"")
        if self.header.startswith(UTF8_BOM):
            self.header = self.header[len(UTF8_BOM):]

    def _read(self) -> Iterator[bytes]:
        parts: list[bytes] = []  # the lines of a record whose quotes are still open
        quotes = size = 0
        for line in self._lines:
            self.lines += 1
            if parts:
                parts.append(line)
                quotes, size = quotes + line.count(b'"'), size + len(line)
                if quotes % 2 == 0 or size > MAX_RECORD_BYTES:  # past it, a quote left open: the parser says so
                    yield b"".join(parts)
                    parts = []
            elif b'"' in line and line.count(b'"') % 2:
                parts, quotes, size = [line], line.count(b'"'), len(line)
            elif line.rstrip(b"\r\n"):
                yield line
        if parts:
            yield b"".join(parts)

    def chunks(self, rows: int) -> Iterator[Chunk]:
        """The data records in chunks of ``rows`` (the last one shorter)."""
        records: list[bytes] = []
        lines: list[int] = []
        for record in self._records:
            records.append(record)
            lines.append(self.lines - record.count(b"\n") - (not record.endswith(b"\n")))
            self.rows += 1
            if len(records) == rows:
                yield Chunk(records, self.rows - rows + 1, lines)
                records, lines = [], []
        if records:
            yield Chunk(records, self.rows - len(records) + 1, lines)


class AtomicOutput:
    """A binary output written whole or not at all: a temporary file beside ``path`` that replaces it on
    success and is removed on any failure (Ctrl-C included). gzip when ``path`` ends in ``.gz``; ``-`` is
    standard output, or ``stdout`` when given (streamed as it comes: nothing to take back)."""

    def __init__(self, path: str, stdout: BinaryIO | None = None):
        self.path = path
        self.stdout = stdout
        self.temporary: Path | None = None
        self._handles: list[BinaryIO] = []  # closed in this order: the gzip layer, then the file

    def __enter__(self) -> BinaryIO:
        if self.path == "-":
            self.stdout = self.stdout or sys.stdout.buffer
            return self.stdout
        target = Path(self.path)
        self.temporary = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        descriptor = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        self._handles = [os.fdopen(descriptor, "wb", buffering=1 << 20)]
        if target.name.endswith(".gz"):
            self._handles.insert(0, gzip.GzipFile(filename="", fileobj=self._handles[0], mode="wb",
                                                  compresslevel=GZIP_LEVEL, mtime=0))
        return self._handles[0]

    def __exit__(self, error_type, error, traceback) -> None:
        if self.path == "-":
            if error_type is None:
                self.stdout.flush()
            return
        if error_type is not None:
            self._discard()
            return
        try:
            for handle in self._handles:
                handle.close()
            os.replace(self.temporary, self.path)
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        for handle in self._handles:
            with contextlib.suppress(Exception):
                handle.close()
        self.temporary.unlink(missing_ok=True)


class SortedRuns:
    """Rows waiting for a global order on disk: each :meth:`add` writes one run sorted by (key, row), and
    :meth:`merged` streams every row in that order with :func:`heapq.merge` (one open file per run)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.paths: list[Path] = []

    def add(self, keys: np.ndarray, rows: np.ndarray, texts: list[str]) -> None:
        """Store ``texts`` with their sort ``keys`` (ascending) and whole-file ``rows`` (ties keep row order)."""
        order = np.lexsort((rows, keys))
        path = self.folder / f"run-{len(self.paths)}.bin"
        with open(path, "wb") as run:
            run.write(b"".join(_encode(float(keys[i]), int(rows[i]), texts[i]) for i in order.tolist()))
        self.paths.append(path)

    def merged(self) -> Iterator[str]:
        """Every stored text, smallest key first."""
        while len(self.paths) > MAX_FAN_IN:  # merge in passes: never more than MAX_FAN_IN open files
            groups = [self.paths[i:i + MAX_FAN_IN] for i in range(0, len(self.paths), MAX_FAN_IN)]
            self.paths = [self._merge_into(group, index) for index, group in enumerate(groups)]
        for _, _, text in heapq.merge(*(_read_run(p) for p in self.paths)):
            yield text

    def _merge_into(self, group: list[Path], index: int) -> Path:
        path = self.folder / f"pass-{secrets.token_hex(4)}-{index}.bin"
        with open(path, "wb", buffering=1 << 20) as run:
            for key, row, text in heapq.merge(*(_read_run(p) for p in group)):
                run.write(_encode(key, row, text))
        for done in group:
            done.unlink()
        return path


def _encode(key: float, row: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return _RUN_HEAD.pack(key, row, len(data)) + data


def _read_run(path: Path) -> Iterator[tuple[float, int, str]]:
    with open(path, "rb", buffering=1 << 16) as run:
        while head := run.read(_RUN_HEAD.size):
            key, row, size = _RUN_HEAD.unpack(head)
            yield key, row, run.read(size).decode("utf-8")
