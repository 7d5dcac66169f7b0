"""Scored rows as CSV: the input's own lines, then the model's columns; the API's ``text/csv`` answer and
``automl score``'s output (one implementation for both).

The model's columns are appended to the caller's lines when that is safe, so pass-through columns come
back exactly as they were sent; otherwise the cells are parsed and written again, with text a spreadsheet
would run as a formula prefixed with ``'`` (``automlkit.spreadsheet``). Either way, a row's text is the
same: a line without quotes or formula text reads and writes back unchanged.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from .schema import parse_csv
from .scoring import Scored
from .spreadsheet import has_formulas, neutralise_frame


def _needs_quoting(texts) -> bool:
    """Whether any text (a column name, a label) needs CSV quoting or could read as a formula."""
    return any(any(ch in c for ch in ',"\r\n') or has_formulas(c) for c in map(str, texts))


def _plain_lines(text: str | None, rows: int) -> list[str] | None:
    """The CSV's lines when each line is exactly one row (no quoting, no blank lines, no formula text)."""
    if text is None or '"' in text or has_formulas(text):
        return None
    lines = text.split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    if len(lines) != rows + 1:
        return None
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return None if any(not line for line in lines) else lines


def _plain_model_columns(scored: Scored) -> bool:
    """Whether the model's column names and text cells (a multiclass label) can be written as they are."""
    texts = [values for values in scored.columns.values() if values.dtype == object]
    return not _needs_quoting([*scored.columns, *(v for values in texts for v in pd.unique(values))])


def _records(text: str) -> list[str]:
    """The records of CSV ``text`` written by pandas (quotes doubled, so a record ends at a newline after an
    even number of quotes), without their line ends."""
    lines = text.split("\n")[:-1]
    if '"' not in text:
        return lines
    records, pending = [], None
    for line in lines:
        pending = line if pending is None else f"{pending}\n{line}"
        if pending.count('"') % 2 == 0:
            records.append(pending)
            pending = None
    return records


def _texts(values: np.ndarray) -> list[str]:
    """Each value as ``values.astype(str)`` writes it, at a third of its cost for float64 (numpy writes the
    shortest repr, as Python does) and whole numbers."""
    if values.dtype == np.float64:
        return list(map(repr, values.tolist()))
    if values.dtype.kind in "iub":
        return list(map(str, values.tolist()))
    return values.astype(str).tolist()


def csv_parts(scored: Scored) -> tuple[str, list[str]]:
    """The CSV answer in parts: its header and each row's text (no line ends, input order), without ``rank``.

    Each row is the input's cells as sent (formula text made inert), then the model's columns
    (:attr:`Scored.columns`: ``probability``, ``label`` for a binary model)."""
    names = list(scored.columns)
    lines = _plain_lines(scored.text, scored.rows)
    if lines is not None and _plain_model_columns(scored):
        cells = [",".join(row) for row in zip(*map(_texts, scored.columns.values()))]
        return lines[0] + "," + ",".join(names), [f"{lines[i + 1]},{cells[i]}" for i in range(scored.rows)]
    # the cells as sent (numbers were parsed for scoring): text of a CSV, values of JSON records
    table = parse_csv(scored.text) if scored.text is not None else pd.DataFrame(scored.records)
    table = neutralise_frame(table.assign(**scored.columns))
    header, body = io.StringIO(), io.StringIO()
    table.iloc[:0].to_csv(header, index=False, lineterminator="\n")
    table.to_csv(body, index=False, header=False, lineterminator="\n")
    return header.getvalue()[:-1], _records(body.getvalue())


def csv_body(scored: Scored, order: np.ndarray | None) -> str:
    """The CSV answer (:func:`csv_parts`), with ``rank`` when ordered (``order``: row positions, first the
    highest ranked)."""
    header, rows = csv_parts(scored)
    if order is None:
        return "\n".join([header, *rows]) + "\n"
    ranked = [f"{rows[i]},{k}" for k, i in enumerate(order.tolist(), start=1)]
    return "\n".join([header + ",rank", *ranked]) + "\n"
