"""Binary-classification metrics on holdout predictions, the decision threshold and gains."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, log_loss, precision_recall_curve, roc_auc_score


def binary_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """AUC, log loss and AUCPR (average precision) of positive-class probabilities."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-15, 1 - 1e-15)
    return {
        "auc": float(roc_auc_score(y_true, probability)),
        "logloss": float(log_loss(y_true, probability, labels=[0, 1])),
        "aucpr": float(average_precision_score(y_true, probability)),
    }


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
