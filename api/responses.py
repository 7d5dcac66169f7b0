"""Scored rows as the API's answers: JSON, or CSV that keeps the caller's own lines.

CSV answers append ``probability`` and ``label`` to the caller's lines when that is safe, so pass-through
columns come back exactly as they were sent; text a spreadsheet would run as a formula comes back prefixed
with ``'`` (``automlkit.spreadsheet``).
"""

from __future__ import annotations

import io
import json

import numpy as np
import orjson
import pandas as pd

from automlkit.schema import parse_csv
from automlkit.scoring import Scored
from automlkit.spreadsheet import has_formulas, neutralise_frame

from .model_store import ServedModel


def _prediction_fields(scored: Scored, positions: np.ndarray) -> list[dict]:
    """Per row, what the model says: binary ``probability`` and ``label``; multiclass ``label``, its
    ``probability`` and every class's in ``probabilities``; regression ``prediction``."""
    columns = {name: values[positions].tolist() for name, values in scored.columns.items()}
    if scored.problem == "regression":
        return [{"prediction": p} for p in columns["prediction"]]
    if scored.problem == "binary":
        return [{"probability": p, "label": lab} for p, lab in zip(columns["probability"], columns["label"])]
    per_class = [columns[f"probability_{c}"] for c in scored.classes]
    return [{"label": label, "probability": p, "probabilities": dict(zip(scored.classes, values))}
            for label, p, values in zip(columns["label"], scored.rank_by[positions].tolist(), zip(*per_class))]


def json_body(served: ServedModel, scored: Scored, order: np.ndarray | None) -> bytes:
    """The JSON answer: per row its 1-based position, id, what the model says (:func:`_prediction_fields`)
    and its rank when ordered."""
    positions = order if order is not None else np.arange(scored.rows)
    rows = (positions + 1).tolist()
    ids = [scored.ids[i] for i in positions.tolist()] if scored.ids is not None else [None] * scored.rows
    predictions = [{"row": r, "id": i, **fields}
                   for r, i, fields in zip(rows, ids, _prediction_fields(scored, positions))]
    if order is not None:
        for k, prediction in enumerate(predictions, start=1):
            prediction["rank"] = k
    if scored.explain is not None and scored.explain["available"]:
        for prediction, position in zip(predictions, positions.tolist()):
            prediction["explanation"] = scored.explain["rows"][position]
    body = {"model": served.name, "version": served.version, "threshold": served.model.meta.threshold,
            "rows": scored.rows, "predictions": predictions, "warnings": [w.to_dict() for w in scored.warnings]}
    if scored.drift is not None:
        body["drift"] = scored.drift
    if scored.explain is not None:
        body["explain"] = {k: v for k, v in scored.explain.items() if k != "rows"}
    return orjson.dumps(body)


def _needs_quoting(classes: list[str]) -> bool:
    """Whether class names (in column names and labels) need CSV quoting or could read as a formula."""
    return any(any(ch in c for ch in ',"\r\n') or has_formulas(c) for c in classes)


#: The longest ``X-Warnings`` header: HTTP clients refuse header lines past 64 KB (Python's at 65,536 bytes)
#: and proxies far sooner; a column name of a megabyte must not break the answer.
MAX_WARNINGS_HEADER = 8192
#: Characters of a column name or message kept in the header (the JSON answer keeps them whole).
MAX_WARNING_TEXT = 200


def _short(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_WARNING_TEXT else text[:MAX_WARNING_TEXT] + "…"


def warnings_header(scored: Scored) -> dict[str, str]:
    """``X-Warnings``: the per-row warnings (the JSON answer's ``warnings``) as a JSON array, ASCII-escaped, on
    every answer that has any; the CSV answer has nowhere else to carry them. Long texts are cut, and past
    :data:`MAX_WARNINGS_HEADER` the rest is counted in a last entry."""
    if not scored.warnings:
        return {}
    kept: list[dict] = []
    for position, warning in enumerate(scored.warnings):
        entry = {**warning.to_dict(), "column": _short(warning.column), "message": _short(warning.message)}
        rest = len(scored.warnings) - position
        if len(json.dumps([*kept, entry], ensure_ascii=True)) > MAX_WARNINGS_HEADER - 120:
            kept.append({"column": None, "message": f"{rest} more warnings: see the JSON answer", "rows": [],
                         "count": rest})
            break
        kept.append(entry)
    return {"X-Warnings": json.dumps(kept, ensure_ascii=True, separators=(",", ":"))}


def drift_header(scored: Scored) -> dict[str, str]:
    """``X-Drift``: the features past the PSI alert as ``name=psi`` (``none`` if none), for any answer."""
    if scored.drift is None:
        return {}
    drifted = [f"{r['column']}={r['psi']:.3f}" for r in scored.drift if r["drifted"]]
    return {"X-Drift": ",".join(drifted) or "none"}


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


def csv_body(scored: Scored, order: np.ndarray | None) -> str:
    """The CSV answer: the input's columns as sent (formula text made inert), then the model's columns
    (:attr:`Scored.columns`: ``probability``, ``label`` for a binary model) and ``rank`` when ordered."""
    names = list(scored.columns)
    lines = _plain_lines(scored.text, scored.rows)
    if lines is not None and not (scored.problem == "multiclass" and _needs_quoting(scored.classes)):
        cells = [",".join(row) for row in zip(*(v.astype(str) for v in scored.columns.values()))]
        if order is None:
            body = [f"{lines[i + 1]},{cells[i]}" for i in range(scored.rows)]
            return "\n".join([lines[0] + "," + ",".join(names), *body]) + "\n"
        body = [f"{lines[i + 1]},{cells[i]},{k}" for k, i in enumerate(order.tolist(), start=1)]
        return "\n".join([lines[0] + "," + ",".join(names) + ",rank", *body]) + "\n"
    # the cells as sent (numbers were parsed for scoring): text of a CSV, values of JSON records
    table = parse_csv(scored.text) if scored.text is not None else pd.DataFrame(scored.records)
    table = neutralise_frame(table.assign(**scored.columns))
    if order is not None:
        table = table.iloc[order].assign(rank=np.arange(1, len(order) + 1))
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()
