"""Holdout metrics of binary, multiclass and regression models, the decision threshold and gains."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_curve,
    recall_score,
    roc_auc_score,
)

from .problems import METRIC_DIRECTIONS, PROBLEMS


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


def _check_problem(problem: str) -> None:
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, not {problem!r}")


def _multiclass_arrays(y_true: np.ndarray, probabilities: np.ndarray,
                       classes: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if classes is None:
        raise ValueError("multiclass metrics need the classes, in the order of the probability columns")
    classes = [str(c) for c in classes]
    y_true = np.asarray(y_true).astype(str)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(classes):
        raise ValueError(f"probabilities must have one column per class ({len(classes)}), "
                         f"got shape {probabilities.shape}")
    return y_true, np.clip(probabilities, 1e-15, 1 - 1e-15), classes


def _multiclass(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str],
                names: tuple[str, ...]) -> dict[str, float]:
    """The multiclass ``names`` of prepared arrays (see :func:`_multiclass_arrays`)."""
    predicted = np.asarray(classes)[np.argmax(probabilities, axis=1)]  # ties: first class
    out = {}
    if "logloss" in names:
        out["logloss"] = float(log_loss(y_true, probabilities, labels=classes))
    if "mean_per_class_error" in names:
        present = [c for c in classes if (y_true == c).any()]
        recall = recall_score(y_true, predicted, labels=present, average=None, zero_division=0)
        out["mean_per_class_error"] = float(np.mean(1 - recall))
    if "macro_auc" in names:
        if all((y_true == c).any() for c in classes):
            out["macro_auc"] = float(roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro",
                                                   labels=classes))
        else:
            out["macro_auc"] = float("nan")  # undefined: a class never occurs
    if "accuracy" in names:
        out["accuracy"] = float(accuracy_score(y_true, predicted))
    return out


def multiclass_metrics(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Log loss, mean per-class error, one-vs-rest macro AUC (NaN when a class is absent from ``y_true``) and
    accuracy of class probabilities whose columns are in the order of ``classes``; the prediction is the
    most probable class (the first on ties)."""
    y_true, probabilities, classes = _multiclass_arrays(y_true, probabilities, classes)
    return _multiclass(y_true, probabilities, classes, tuple(METRIC_DIRECTIONS["multiclass"]))


def regression_metrics(y_true: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, R² (NaN when ``y_true`` is constant) and mean residual deviance (the MSE, as H2O defines it
    for the gaussian distribution)."""
    y_true = np.asarray(y_true, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    mse = float(mean_squared_error(y_true, prediction))
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1 - mse * len(y_true) / total if total > 0 else float("nan")
    return {"rmse": float(np.sqrt(mse)), "mae": float(mean_absolute_error(y_true, prediction)), "r2": float(r2),
            "mean_residual_deviance": mse}


def confusion_counts(y_true, y_pred, classes: list[str]) -> pd.DataFrame:
    """Counts of true class (rows, ``true``) against predicted class (columns, ``predicted``) in the order of
    ``classes``, over the rows whose true class is known (missing ones are skipped); a class that is not one of
    ``classes`` gets its row or column after them."""
    truth, predicted = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    known = pd.notna(truth)
    matrix = pd.crosstab(pd.Series(truth[known], name="true").astype(str),
                         pd.Series(predicted[known], name="predicted").astype(str))
    classes = [str(c) for c in classes]
    rows = classes + sorted(set(matrix.index) - set(classes))
    columns = classes + sorted(set(matrix.columns) - set(classes))
    return matrix.reindex(index=rows, columns=columns, fill_value=0).astype(int)


def problem_metrics(problem: str, y_true: np.ndarray, scores: np.ndarray,
                    classes: list[str] | None = None) -> dict[str, float]:
    """The holdout metrics of :data:`METRIC_DIRECTIONS` for ``problem``: ``scores`` are the positive-class
    probabilities (binary, ``y_true`` 0/1), the class probabilities in the order of ``classes`` (multiclass)
    or the predictions (regression)."""
    _check_problem(problem)
    if problem == "binary":
        return binary_metrics(y_true, scores)
    if problem == "multiclass":
        return multiclass_metrics(y_true, scores, classes)
    return regression_metrics(y_true, scores)


def bootstrap_standard_error(y_true: np.ndarray, probability: np.ndarray, metric: str, resamples: int = 200,
                             seed: int = 1, *, problem: str = "binary", classes: list[str] | None = None) -> float:
    """The standard error of the holdout ``metric`` (a name of ``METRIC_DIRECTIONS[problem]``) over
    ``resamples`` bootstrap resamples of the rows; ``probability`` holds the scores of :func:`problem_metrics`.
    Resamples where the metric is undefined (one class drawn for binary, NaN otherwise) are skipped."""
    _check_problem(problem)
    if metric not in METRIC_DIRECTIONS[problem]:
        raise KeyError(f"{metric!r} is not a {problem} metric: {', '.join(METRIC_DIRECTIONS[problem])}")
    if problem == "binary":
        y_true = np.asarray(y_true).astype(int)
        probability = np.clip(np.asarray(probability, dtype=float), 1e-15, 1 - 1e-15)
    elif problem == "multiclass":
        y_true, probability, classes = _multiclass_arrays(y_true, probability, classes)
    else:
        y_true, probability = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y_true), len(y_true))
        if problem == "binary":
            if y_true[rows].min() != y_true[rows].max():  # both classes drawn
                values.append(BINARY_METRICS[metric](y_true[rows], probability[rows]))
            continue
        if problem == "multiclass":
            value = _multiclass(y_true[rows], probability[rows], classes, (metric,))[metric]
        else:
            value = regression_metrics(y_true[rows], probability[rows])[metric]
        if np.isfinite(value):
            values.append(value)
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
