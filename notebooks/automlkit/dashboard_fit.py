"""How the model did on the uploaded file, when the file carries the target: the target in the form the
metrics take, the errors of a regression (``automlkit.metrics``) and the predicted class counts. The confusion
matrix is :func:`automlkit.metrics.confusion_counts`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import regression_metrics
from .schema import target_truth


def upload_truth(frame: pd.DataFrame, card: dict, problem: str) -> np.ndarray | None:
    """The upload's target (:func:`automlkit.schema.target_truth`: binary 1 for the card's positive class, else
    0; multiclass the canonical class text, NaN where missing; regression the number, NaN where missing or not
    a number), in the frame's row order; None when the frame lacks the card's target column."""
    schema = (card or {}).get("input_schema") or {}
    target = schema.get("target")
    if not target or target not in frame.columns:
        return None
    return target_truth(frame[target].reset_index(drop=True), problem, str(schema.get("positive_class", "1")))


def residual_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict | None:
    """:func:`automlkit.metrics.regression_metrics` (RMSE, MAE, ...) over the rows whose actual value is known,
    with their count as ``rows`` (None when there is none)."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    known = np.isfinite(actual)
    if not known.any():
        return None
    return {"rows": int(known.sum()), **regression_metrics(actual[known], predicted[known])}


def class_counts(labels, classes: list[str]) -> pd.Series:
    """How many rows are predicted as each class, in the model's class order (zeros kept; a label the
    card does not list comes last)."""
    counts = pd.Series(list(labels), dtype=object).value_counts()
    order = list(classes) + sorted(str(c) for c in counts.index if c not in classes)
    return counts.reindex(order, fill_value=0).astype(int)
