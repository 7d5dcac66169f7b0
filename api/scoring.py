"""Turn a request's rows into predictions and the response bodies (JSON or CSV), quickly.

The input is checked against the served model's schema (``automlkit.schema``), encoded once and scored by
the MOJO in one call into the JVM. CSV answers append ``probability`` and ``label`` to the caller's own
lines when that is safe, so pass-through columns come back exactly as they were sent; text a spreadsheet
would run as a formula comes back prefixed with ``'`` (``automlkit.spreadsheet``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from automlkit.drift import batch_drift
from automlkit.errors import Problem
from automlkit.schema import conform, conform_records, decode_csv, parse_csv
from automlkit.spreadsheet import has_formulas, neutralise_frame

from .config import ApiSettings
from .errors import ApiError
from .model_store import ServedModel


@dataclass
class Scored:
    """Scored rows, in request order, and what is needed to write them back."""

    probability: np.ndarray
    labels: np.ndarray
    ids: list | None
    warnings: list[Problem]
    text: str | None = None  # the CSV text as received (decoded), for CSV input
    records: list[dict] | None = None  # the records as received, for JSON input
    drift: list[dict] | None = None  # per-feature PSI against the training distribution, when asked for
    explain: dict | None = None  # per-row top contributions (or why there are none), when asked for

    @property
    def rows(self) -> int:
        return len(self.probability)


def _typed_ids(values: pd.Series) -> list:
    """Ids from CSV text as numbers when they all are whole numbers, else as the text sent."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and (numbers == np.floor(numbers)).all() and (numbers.abs() < 2**53).all():
        return numbers.astype(np.int64).tolist()
    return values.tolist()


#: Contributions per row returned by ``explain=true``, and the rows it may explain at once.
TOP_CONTRIBUTIONS = 5
MAX_EXPLAIN_ROWS = 1000


def _finish(served: ServedModel, features, rows: int, ids: list | None, warnings: list[Problem],
            drift: bool = False, explain: bool = False, **source) -> Scored:
    scorer = served.model.scorer
    if explain and scorer.has_contributions and rows > MAX_EXPLAIN_ROWS:  # refuse before the work
        raise ApiError(413, f"explain=true explains at most {MAX_EXPLAIN_ROWS} rows at once; "
                            f"this request has {rows}")
    matrix = scorer.encode(features, rows)
    probability = scorer.score_matrix(matrix)
    labels = (probability >= served.model.meta.threshold).astype(np.int64)
    report = batch_drift(served.model.meta.schema.drift_reference, features, rows) if drift else None
    return Scored(probability, labels, ids, warnings, drift=report,
                  explain=explanations(scorer, matrix) if explain else None, **source)


def explanations(scorer, matrix: np.ndarray) -> dict:
    """Per row, the features that pushed its score most (SHAP contributions to the log-odds), or why the
    model cannot say. ``matrix`` has at most ``MAX_EXPLAIN_ROWS`` rows (checked by the caller)."""
    if not scorer.has_contributions:
        return {"available": False,
                "message": f"this model ({scorer.algo.removesuffix('MojoModel')}) has no per-feature "
                           "contributions; tree models (GBM, DRF, XGBoost) have them"}
    names, values = scorer.contributions(matrix)
    features, bias = values[:, :-1], values[:, -1]
    top = np.argsort(-np.abs(features), axis=1, kind="stable")[:, :TOP_CONTRIBUTIONS]
    shown = np.take_along_axis(features, top, axis=1)
    other = features.sum(axis=1) - shown.sum(axis=1)
    rows = [{"bias": float(bias[r]), "other": float(other[r]),
             "top": [{"feature": names[j], "contribution": float(features[r, j])} for j in top[r]]}
            for r in range(len(matrix))]
    return {"available": True, "unit": "log-odds of the positive class: bias + top + other = the row's logit",
            "rows": rows}


def score_csv(served: ServedModel, raw: bytes, settings: ApiSettings, drift: bool = False,
              explain: bool = False) -> Scored:
    """Score a CSV (or gzip CSV) body; raises ``DataContractError`` naming columns and rows."""
    schema = served.model.meta.schema
    text = decode_csv(raw, settings.max_upload_bytes)
    frame = parse_csv(text, settings.max_rows, numeric=[c.name for c in schema.columns if c.kind == "numeric"])
    conformed = conform(frame, schema)
    ids = _typed_ids(frame[schema.id_column]) if schema.id_column in frame.columns else None
    return _finish(served, conformed.features, len(frame), ids, conformed.warnings, drift, explain, text=text)


def score_records(served: ServedModel, records: list[dict], drift: bool = False, explain: bool = False) -> Scored:
    """Score JSON records; raises ``DataContractError`` naming columns and rows."""
    schema = served.model.meta.schema
    conformed = conform_records(records, schema)
    id_column = schema.id_column
    ids = [r.get(id_column) for r in records] if id_column and any(id_column in r for r in records) else None
    return _finish(served, conformed.features, len(records), ids, conformed.warnings, drift, explain,
                   records=records)


def ranking(scored: Scored) -> np.ndarray:
    """Row positions ordered by probability, most likely first (ties keep request order)."""
    return np.argsort(-scored.probability, kind="stable")


def json_body(served: ServedModel, scored: Scored, order: np.ndarray | None) -> bytes:
    """The JSON answer: per row its 1-based position, id, probability, label (and rank when ordered)."""
    positions = order if order is not None else np.arange(scored.rows)
    probability = scored.probability[positions].tolist()
    labels = scored.labels[positions].tolist()
    rows = (positions + 1).tolist()
    ids = [scored.ids[i] for i in positions.tolist()] if scored.ids is not None else [None] * scored.rows
    if order is None:
        predictions = [{"row": r, "id": i, "probability": p, "label": lab}
                       for r, i, p, lab in zip(rows, ids, probability, labels)]
    else:
        predictions = [{"row": r, "id": i, "probability": p, "label": lab, "rank": k}
                       for k, (r, i, p, lab) in enumerate(zip(rows, ids, probability, labels), start=1)]
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
    """The CSV answer: the input's columns as sent (formula text made inert), then ``probability``,
    ``label`` (and ``rank``)."""
    probability = scored.probability.astype(str)
    labels = scored.labels.astype(str)
    lines = _plain_lines(scored.text, scored.rows)
    if lines is not None:
        if order is None:
            body = [f"{lines[i + 1]},{probability[i]},{labels[i]}" for i in range(scored.rows)]
            return "\n".join([lines[0] + ",probability,label", *body]) + "\n"
        body = [f"{lines[i + 1]},{probability[i]},{labels[i]},{k}" for k, i in enumerate(order.tolist(), start=1)]
        return "\n".join([lines[0] + ",probability,label,rank", *body]) + "\n"
    # the cells as sent (numbers were parsed for scoring): text of a CSV, values of JSON records
    table = parse_csv(scored.text) if scored.text is not None else pd.DataFrame(scored.records)
    table = neutralise_frame(table).assign(probability=scored.probability, label=scored.labels)
    if order is not None:
        table = table.iloc[order].assign(rank=np.arange(1, len(order) + 1))
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()
