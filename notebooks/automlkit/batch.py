"""Batch scoring of a CSV of any size on one machine, streaming: what ``automl score`` runs.

Each chunk of rows goes through the API's own path for a CSV upload (:meth:`ScoringModel.score_csv`: the
data contract, then the in-process MOJO or the native booster) and is written as the API's CSV answer
(:mod:`automlkit.answers`), so the output equals the API's for the same rows. Memory holds a few chunks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from .answers import csv_parts
from .csvstream import AtomicOutput, Chunk, CsvRecords, SortedRuns, open_input
from .drift import PSI_ALERT, psi
from .errors import DataContractError, Problem
from .schema import decode_csv
from .scoring import MAX_EXPLAIN_ROWS, Scored, ScoringModel
from .spreadsheet import neutralise

#: Rows per chunk: per-chunk costs vanish, and the few chunks in memory weigh little beside the JVM.
DEFAULT_CHUNK_ROWS = 50_000
#: Rows written at once when merging ranked output.
WRITE_ROWS = 20_000


@dataclass
class Options:
    """What ``automl score`` was asked for besides its input and output."""

    rank: bool = False
    explain: bool = False
    drift: bool = False
    #: where rows that break the data contract go (with the reason); None: stop at the first bad chunk
    rejects: str | None = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS


@dataclass
class Summary:
    """What a run did: rows scored and rejected, seconds, the model, and the file's drift when asked."""

    model: str
    rows: int = 0
    rejected: int = 0
    seconds: float = 0.0
    drift: list[dict] | None = field(default=None, repr=False)

    @property
    def rows_per_s(self) -> float:
        """Rows read (scored or rejected) per second."""
        return (self.rows + self.rejected) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """The one-line summary the command prints."""
        return (f"scored {self.rows:,} rows, rejected {self.rejected:,}, in {self.seconds:.1f} s "
                f"({self.rows_per_s:,.0f} rows/s) with {self.model}")

    def drift_line(self) -> str:
        """The features whose population stability index over the whole file passes the alert."""
        if not self.drift:
            return "drift: not measured (the model has no training distributions)"
        drifted = [f"{r['column']}={r['psi']:.3f}" for r in self.drift if r["drifted"]]
        return f"drift (PSI > {PSI_ALERT:g} against training): {', '.join(drifted) or 'none'}"


# ------------------------------------------------------------------------------------------- scoring


def score_chunk(model: ScoringModel, header: bytes, chunk: Chunk, explain: bool = False) -> Scored:
    """``chunk`` scored as the API scores a CSV upload; a :class:`DataContractError` names whole-file rows."""
    try:
        return model.score_csv(header + chunk.data, explain=explain)
    except DataContractError as exc:
        raise whole_file_error(exc, chunk) from None


def whole_file_error(error: DataContractError, chunk: Chunk) -> DataContractError:
    """``error`` of one chunk with the whole file's row numbers (the API's message for the whole file)."""
    for record, line in zip(chunk.records, chunk.lines):
        try:
            record.decode("utf-8")
        except UnicodeDecodeError:
            try:  # the API's message, which counts the lines of the whole file
                decode_csv(b"\n" * line + record)
            except DataContractError as whole:
                return whole
    shift = chunk.first_row - 1
    return DataContractError([replace(p, rows=[r + shift for r in p.rows]) for p in error.problems], error.status)


def salvage(model: ScoringModel, header: bytes, chunk: Chunk, explain: bool = False
            ) -> Iterator[tuple[Chunk, Scored | str]]:
    """What can be scored of ``chunk``, in row order: (part, its :class:`Scored`) for runs of good rows and
    (one-row part, the API's message for it) for each bad row. Raises when a problem is not about rows
    (a missing column). Splits around the rows a failure names, or in halves when it names only some."""
    try:
        scored = score_chunk(model, header, chunk, explain)
    except DataContractError as exc:
        if not exc.about_rows:
            raise
        if len(chunk.records) == 1:
            yield chunk, str(exc)
            return
        cuts = exc.cuts(chunk.first_row, len(chunk.records))
    else:
        yield chunk, scored
        return
    for start, stop in zip(cuts, cuts[1:]):
        yield from salvage(model, header, chunk.part(start, stop), explain)


def with_explanations(scored: Scored) -> Scored:
    """``scored`` with its explanations as columns: ``explain_bias``, ``explain_other``, and per top feature
    ``explain_feature_<k>``, ``explain_contribution_<k>`` (they add up to the row's logit or prediction)."""
    rows = scored.explain["rows"]
    columns = {"explain_bias": np.array([r["bias"] for r in rows]),
               "explain_other": np.array([r["other"] for r in rows])}
    for k in range(len(rows[0]["top"]) if rows else 0):
        columns[f"explain_feature_{k + 1}"] = np.array([r["top"][k]["feature"] for r in rows], dtype=object)
        columns[f"explain_contribution_{k + 1}"] = np.array([r["top"][k]["contribution"] for r in rows])
    return replace(scored, columns={**scored.columns, **columns})


class DriftTally:
    """Each feature's bin counts over every chunk, against the model's training distributions."""

    def __init__(self, model: ScoringModel):
        self.schema = model.schema
        self.counts = {r.column: np.zeros(len(r.bins)) for r in self.schema.drift_reference}

    def add(self, scored: Scored) -> None:
        """Count the features of a scored chunk (the conformed features it keeps: nothing is parsed again)."""
        for reference in self.schema.drift_reference:
            self.counts[reference.column] += reference.counts(scored.features[reference.column])

    def report(self) -> list[dict]:
        """Per feature, largest first: its PSI over the whole file and whether it passes the alert."""
        report = []
        for reference in self.schema.drift_reference:
            counts = self.counts[reference.column]
            value = psi(reference.shares, counts / counts.sum() if counts.sum() else counts)
            report.append({"column": reference.column, "psi": round(value, 4), "drifted": value > PSI_ALERT})
        return sorted(report, key=lambda r: -r["psi"])


# ------------------------------------------------------------------------------------------- writing


class Rejects:
    """The rejects CSV: ``row`` (the whole file's), ``reason`` (the API's message), then the row's cells as
    sent (spreadsheet-safe; a row with too many cells has the rest in its last one)."""

    def __init__(self, stream: BinaryIO, header: bytes):
        self.stream = stream
        self.columns = _fields(header)
        self.count = 0
        self._write(["row", "reason", *self.columns])

    def add(self, row: int, record: bytes, reason: str) -> None:
        """Write one rejected row."""
        cells = _fields(record)
        width = len(self.columns)
        if len(cells) > width:
            cells = cells[:width - 1] + [",".join(cells[width - 1:])]
        self._write([str(row), reason, *cells, *[""] * (width - len(cells))])
        self.count += 1

    def _write(self, cells: list[str]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([neutralise(c) for c in cells])
        self.stream.write(buffer.getvalue().encode("utf-8"))


def _fields(record: bytes) -> list[str]:
    """The cells of one CSV record (bytes that are not UTF-8 shown as U+FFFD)."""
    return next(csv.reader(io.StringIO(record.decode("utf-8", "replace").rstrip("\r\n"))), [])


class Output:
    """The scored rows as the API's CSV answer: written as they come, or with ``rank`` after an external
    sort (:class:`~automlkit.csvstream.SortedRuns`) in the order of the API's ``?rank=true``."""

    def __init__(self, stream: BinaryIO, runs: SortedRuns | None):
        self.stream, self.runs = stream, runs
        self.header: str | None = None

    def add(self, scored: Scored, first_row: int) -> None:
        """Write (or keep in a sorted run) the rows of ``scored``, whose first is ``first_row`` of the file."""
        header, rows = csv_parts(scored)
        if self.header is None:
            self.header = header
            if self.runs is None:
                self.stream.write(f"{header}\n".encode("utf-8"))
        if self.runs is None:
            self.stream.write(("\n".join(rows) + "\n").encode("utf-8"))
            return
        keys = np.where(np.isnan(scored.rank_by), np.inf, -scored.rank_by)  # largest first, as Scored.ranking
        self.runs.add(keys, np.arange(first_row, first_row + len(rows)), rows)

    def finish(self) -> None:
        """Write the ranked rows, numbered from 1 (nothing to do when unranked)."""
        if self.runs is None:
            return
        self.stream.write(f"{self.header},rank\n".encode("utf-8"))
        lines = []
        for k, text in enumerate(self.runs.merged(), start=1):
            lines.append(f"{text},{k}\n")
            if len(lines) == WRITE_ROWS:
                self.stream.write("".join(lines).encode("utf-8"))
                lines = []
        self.stream.write("".join(lines).encode("utf-8"))


def score_file(model: ScoringModel, source: str, target: str, options: Options, label: str = "",
               progress: Callable[[int], None] | None = None, stdout: BinaryIO | None = None,
               on_scored: Callable[[Scored], None] | None = None) -> Summary:
    """Score the CSV ``source`` into ``target`` (``-``: standard input / output, or ``stdout``) chunk by
    chunk; ``target`` (and the rejects file) appear whole at the end or not at all. Raises
    :class:`DataContractError` naming the whole file's rows. ``on_scored`` is given each scored part (the
    monitoring recorder's ``record``).

    A worker thread scores the next chunk while this one reads and writes: the scorers (the JVM, xgboost)
    run without Python's lock, so reading and writing cost little time of their own."""
    started = time.perf_counter()
    summary = Summary(model=label)
    tally = DriftTally(model) if options.drift else None
    chunk_rows = min(options.chunk_rows, MAX_EXPLAIN_ROWS) if options.explain else options.chunk_rows
    first_reject = ""
    with contextlib.ExitStack() as stack:
        records = CsvRecords(stack.enter_context(open_input(source)))
        decode_csv(records.header)  # a header that is not UTF-8 is named as the API names it
        output = Output(stack.enter_context(AtomicOutput(target, stdout)),
                        SortedRuns(Path(stack.enter_context(_run_folder(target)))) if options.rank else None)
        rejects = (Rejects(stack.enter_context(AtomicOutput(options.rejects)), records.header)
                   if options.rejects else None)

        def score(chunk: Chunk) -> tuple[int, list[tuple[Chunk, Scored | str]]]:
            if rejects is None:
                parts = [(chunk, score_chunk(model, records.header, chunk, options.explain))]
            else:
                parts = list(salvage(model, records.header, chunk, options.explain))
            for _, result in parts:
                if tally is not None and not isinstance(result, str):
                    tally.add(result)
            return len(chunk.records), parts

        def write(scored: Future) -> None:
            nonlocal first_reject
            rows, parts = scored.result()
            for part, result in parts:
                if isinstance(result, str):
                    rejects.add(part.first_row, part.records[0], result)
                    first_reject = first_reject or result
                    continue
                output.add(with_explanations(result) if options.explain else result, part.first_row)
                summary.rows += result.rows
                if on_scored is not None:
                    on_scored(result)
            if progress is not None:
                progress(rows)

        worker = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="automl-score"))
        stack.callback(worker.shutdown, cancel_futures=True)  # on failure: no chunk waits its turn
        pending: Future | None = None
        for chunk in records.chunks(chunk_rows):
            scoring = worker.submit(score, chunk)
            if pending is not None:
                write(pending)
            pending = scoring
        if pending is not None:
            write(pending)
        if records.rows == 0:
            model.score_csv(records.header)  # raises the API's error: an empty file, a header without rows
        if summary.rows == 0:
            raise DataContractError([Problem(None, f"no row could be scored: all {records.rows:,} rows break "
                                                   f"the data contract; the first: {first_reject}")])
        output.finish()
    summary.rejected = rejects.count if rejects is not None else 0
    summary.seconds = time.perf_counter() - started
    summary.drift = tally.report() if tally is not None else None
    return summary


def _run_folder(target: str) -> tempfile.TemporaryDirectory:
    """A temporary folder for sorted runs: beside ``target`` (it has room for the output), else the system's."""
    folder = None if target == "-" else str(Path(target).resolve().parent)
    return tempfile.TemporaryDirectory(prefix=".automl-score-", dir=folder)
