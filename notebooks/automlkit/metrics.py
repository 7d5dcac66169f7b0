"""Binary-classification metrics on holdout predictions, the decision threshold and gains."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, log_loss, precision_recall_curve, roc_auc_score


#: The holdout metrics of a binary model, by name.
BINARY_METRICS = {
    "auc": roc_auc_score,
    "logloss": lambda y, p: log_loss(y, p, labels=[0, 1]),
    "aucpr": average_precision_score,
}


def binary_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """AUC, log loss and AUCPR (average precision) of positive-class probabilities."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-15, 1 - 1e-15)
    return {name: float(metric(y_true, probability)) for name, metric in BINARY_METRICS.items()}


def bootstrap_standard_error(y_true: np.ndarray, probability: np.ndarray, metric: str, resamples: int = 200,
                             seed: int = 1) -> float:
    """The standard error of the holdout ``metric`` (a name of :data:`BINARY_METRICS`) over ``resamples``
    bootstrap resamples of the rows."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-15, 1 - 1e-15)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y_true), len(y_true))
        if y_true[rows].min() != y_true[rows].max():  # both classes drawn
            values.append(BINARY_METRICS[metric](y_true[rows], probability[rows]))
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def max_f1_threshold(y_true: np.ndarray, probability: np.ndarray) -> tuple[float, float]:
    """The probability threshold that maximises F1, and that F1 (labels are ``probability >= threshold``)."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true).astype(int), probability)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def cumulative_gains(y_true: np.ndarray, probability: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Share of positives captured when contacting the top share of customers by probability."""
    order = np.argsort(-np.asarray(probability), kind="stable")
    hits = np.cumsum(np.asarray(y_true)[order])
    n, total = len(order), max(int(hits[-1]) if len(hits) else 0, 1)
    shares = np.linspace(0, 1, points)
    taken = np.clip((shares * n).round().astype(int), 0, n)
    captured = np.where(taken > 0, hits[np.maximum(taken - 1, 0)], 0) / total
    return pd.DataFrame({"share_contacted": shares, "share_of_positives": captured})
