"""Scored rows as the API's answers: JSON, or CSV that keeps the caller's own lines.

CSV answers append ``probability`` and ``label`` to the caller's lines when that is safe, so pass-through
columns come back exactly as they were sent; text a spreadsheet would run as a formula comes back prefixed
with ``'`` (``automlkit.spreadsheet``).
"""

from __future__ import annotations

import io

import numpy as np
import orjson
import pandas as pd

from automlkit.schema import parse_csv
from automlkit.scoring import Scored
from automlkit.spreadsheet import has_formulas, neutralise_frame

from .model_store import ServedModel


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
