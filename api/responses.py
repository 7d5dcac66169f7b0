"""Scored rows as the API's answers: JSON, or CSV (``automlkit.answers``: the caller's own lines plus the
model's columns, spreadsheet-safe; ``automl score`` writes the same), and the headers that carry warnings
and drift."""

from __future__ import annotations

import json

import numpy as np
import orjson

from automlkit.answers import csv_body
from automlkit.scoring import Scored

from .model_store import ServedModel

__all__ = ["csv_body", "drift_header", "json_body", "warnings_header"]


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
