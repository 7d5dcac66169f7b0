"""Matplotlib figures logged with each training run: ROC, cumulative gains, precision-recall, calibration and
the confusion matrix at the decision threshold (binary); confusion matrix and per-class precision and recall
(multiclass); predicted against actual and residuals (regression); leaderboard and variable importance (all)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    average_precision_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve as sk_roc_curve,
)

from .metrics import confusion_counts, cumulative_gains  # noqa: E402


def roc_curve(y_true: np.ndarray, probability: np.ndarray) -> plt.Figure:
    """ROC curve of holdout predictions with its AUC."""
    fpr, tpr, _ = sk_roc_curve(y_true, probability)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC = {roc_auc_score(y_true, probability):.4f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC on the holdout")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def gains_chart(y_true: np.ndarray, probability: np.ndarray) -> plt.Figure:
    """Share of positives captured against share of customers contacted, best first."""
    gains = cumulative_gains(y_true, probability)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(gains.share_contacted, gains.share_of_positives, label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random order")
    ax.set(xlabel="Share of customers contacted", ylabel="Share of positives captured",
           title="Cumulative gains on the holdout")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def leaderboard_chart(board: pd.DataFrame, metric: str) -> plt.Figure:
    """Horizontal bars of each leaderboard model's cross-validated ``metric``."""
    top = board.head(20).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(top) + 1)))
    ax.barh(top["model_id"], top[metric])
    low, high = top[metric].min(), top[metric].max()
    pad = max((high - low) * 0.2, 1e-3)
    ax.set_xlim(low - pad, high + pad)
    ax.set(xlabel=f"cross-validated {metric}", title="AutoML leaderboard")
    fig.tight_layout()
    return fig


#: At most this many points are drawn in a regression scatter.
MAX_SCATTER_POINTS = 5_000


def _figure(figsize: tuple[float, float]) -> Figure:
    """A figure outside pyplot's registry, so it is freed once dropped (nothing to ``plt.close``)."""
    return Figure(figsize=figsize)


def confusion_matrix_chart(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str],
                           title: str = "Confusion matrix on the holdout") -> Figure:
    """Counts of rows by true class (rows) and predicted class (columns), each cell annotated
    (:func:`automlkit.metrics.confusion_counts`)."""
    return confusion_counts_chart(confusion_counts(y_true, y_pred, classes), title)


def confusion_counts_chart(counts: pd.DataFrame, title: str) -> Figure:
    """A confusion matrix (:func:`automlkit.metrics.confusion_counts`) as a heat map, each cell annotated."""
    values = counts.to_numpy()
    side = max(4.0, 0.6 * max(values.shape, default=0) + 2)
    fig = _figure((side + 1, side))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues")
    fig.colorbar(image, ax=ax, label="rows")
    ax.set_xticks(np.arange(len(counts.columns)), labels=[str(c) for c in counts.columns], rotation=45, ha="right")
    ax.set_yticks(np.arange(len(counts.index)), labels=[str(c) for c in counts.index])
    middle = values.max() / 2 if values.size else 0
    for (i, j), count in np.ndenumerate(values):
        ax.text(j, i, f"{count:,}", ha="center", va="center", color="white" if count > middle else "black")
    ax.set(xlabel="Predicted class", ylabel="True class", title=title)
    fig.tight_layout()
    return fig


def per_class_precision_recall_chart(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> Figure:
    """Grouped bars of each class's holdout precision and recall."""
    classes = [str(c) for c in classes]
    precision, recall, _, _ = precision_recall_fscore_support(
        np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str), labels=classes, zero_division=0)
    fig = _figure((max(5.0, 0.8 * len(classes) + 2), 4))
    ax = fig.subplots()
    x, width = np.arange(len(classes)), 0.4
    ax.bar(x - width / 2, precision, width, label="precision")
    ax.bar(x + width / 2, recall, width, label="recall")
    ax.set_xticks(x, labels=classes, rotation=45 if len(classes) > 6 else 0)
    ax.set_ylim(0, 1.05)
    ax.set(xlabel="Class", ylabel="Share", title="Precision and recall per class on the holdout")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _scatter_sample(y_true: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, prediction = np.asarray(y_true, dtype=float), np.asarray(prediction, dtype=float)
    if len(y_true) > MAX_SCATTER_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(len(y_true), MAX_SCATTER_POINTS, replace=False))
        return y_true[rows], prediction[rows]
    return y_true, prediction


def predicted_vs_actual_chart(y_true: np.ndarray, prediction: np.ndarray) -> Figure:
    """Scatter of holdout predictions against actual values (at most 5,000 points) with the line y = x."""
    actual, predicted = _scatter_sample(y_true, prediction)
    fig = _figure((5, 5))
    ax = fig.subplots()
    ax.scatter(actual, predicted, s=6, alpha=0.4, label="holdout rows")
    if len(actual):
        low = float(min(actual.min(), predicted.min()))
        high = float(max(actual.max(), predicted.max()))
        ax.plot([low, high], [low, high], linestyle="--", color="grey", label="predicted = actual")
    ax.set(xlabel="Actual", ylabel="Predicted", title="Predicted against actual on the holdout")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def residuals_chart(y_true: np.ndarray, prediction: np.ndarray) -> Figure:
    """Residuals (actual - predicted) against predictions on the holdout (at most 5,000 points)."""
    actual, predicted = _scatter_sample(y_true, prediction)
    fig = _figure((6, 4))
    ax = fig.subplots()
    ax.scatter(predicted, actual - predicted, s=6, alpha=0.4)
    ax.axhline(0, linestyle="--", color="grey")
    ax.set(xlabel="Predicted", ylabel="Residual (actual - predicted)", title="Residuals on the holdout")
    fig.tight_layout()
    return fig


def precision_recall_chart(y_true: np.ndarray, probability: np.ndarray) -> Figure:
    """Precision-recall curve of binary holdout predictions (``y_true`` 0/1, ``probability`` of the positive
    class) with its average precision, and the positive rate as the baseline of a random order."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    precision, recall, _ = precision_recall_curve(y_true, probability)
    average_precision = average_precision_score(y_true, probability)
    fig = _figure((5, 5))
    ax = fig.subplots()
    ax.plot(recall, precision, drawstyle="steps-post", label=f"AP = {average_precision:.4f}")
    positive_rate = float(y_true.mean()) if len(y_true) else 0.0
    ax.axhline(positive_rate, linestyle="--", color="grey", label=f"positive rate = {positive_rate:.4f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall on the holdout")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def calibration_chart(y_true: np.ndarray, probability: np.ndarray, bins: int = 10) -> Figure:
    """Reliability diagram: mean predicted probability against the observed positive rate in ``bins``
    quantile bins (each holds rows), the diagonal of perfect calibration, and below it a histogram of the
    predicted probabilities."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    observed, predicted = calibration_curve(y_true, probability, n_bins=bins, strategy="quantile")
    fig = _figure((5, 6))
    ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", label=f"model ({len(predicted)} quantile bins)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set(ylabel="Observed positive rate", title="Calibration on the holdout")
    ax.legend(loc="upper left")
    hist.hist(probability, bins=20, range=(0, 1), color="grey")
    hist.set(xlabel="Mean predicted probability", ylabel="rows")
    fig.tight_layout()
    return fig


def confusion_at_threshold_chart(y_true: np.ndarray, probability: np.ndarray, threshold: float,
                                 classes: tuple[str, str] = ("0", "1")) -> Figure:
    """The 2x2 confusion matrix of binary holdout predictions with ``probability >= threshold`` predicted
    positive; ``classes`` names the negative (0) and positive (1) class."""
    labels = np.asarray([str(c) for c in classes])
    actual = labels[np.asarray(y_true).astype(int)]
    predicted = labels[(np.asarray(probability, dtype=float) >= threshold).astype(int)]
    fig = confusion_matrix_chart(actual, predicted, list(labels))
    fig.axes[0].set_title(f"Confusion matrix on the holdout at threshold {threshold:.4f}")
    fig.tight_layout()
    return fig


def _importance_bars(ax: Axes, importance: pd.DataFrame | None, top: int, title: str) -> None:
    """Horizontal bars of the ``top`` largest ``scaled_importance`` rows on ``ax``, largest at the top."""
    if importance is None or len(importance) == 0:
        ax.text(0.5, 0.5, "no variable importance", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(title)
        return
    ranked = importance.sort_values("scaled_importance", ascending=False, kind="stable")
    shown = ranked.head(top).iloc[::-1]
    positions = np.arange(len(shown))
    ax.barh(positions, shown["scaled_importance"].to_numpy(dtype=float))
    ax.set_yticks(positions, labels=[str(v) for v in shown["variable"]])
    if len(ranked) > top:
        title = f"{title} (top {top} of {len(ranked)})"
    ax.set(xlabel="Scaled importance", title=title)


def variable_importance_chart(importance: pd.DataFrame, title: str = "Variable importance",
                              top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` most important variables by ``scaled_importance`` (columns as in H2O's
    ``model.varimp(use_pandas=True)``), largest at the top; the title says when variables were left out."""
    rows = min(top, len(importance)) if importance is not None else 0
    fig = _figure((7, max(2.5, 0.3 * rows + 1.2)))
    _importance_bars(fig.subplots(), importance, top, title)
    fig.tight_layout()
    return fig


def ensemble_importance_chart(importances: dict[str, pd.DataFrame | None], top: int = 15) -> Figure:
    """One variable-importance panel per base model of a stacked ensemble (model id to its
    ``varimp(use_pandas=True)`` frame, ``None`` or empty when it has none), two panels a row."""
    if not importances:
        fig = _figure((5, 2.5))
        _importance_bars(fig.subplots(), None, top, "Base model variable importance")
        return fig
    columns = min(2, len(importances))
    grid_rows = -(-len(importances) // columns)
    longest = max(min(top, len(frame)) if frame is not None else 0 for frame in importances.values())
    panel_height = max(2.5, 0.3 * longest + 1.2)
    fig = _figure((7 * columns, panel_height * grid_rows + 0.6))
    axes = fig.subplots(grid_rows, columns, squeeze=False).ravel()
    for ax, (model_id, frame) in zip(axes, importances.items()):
        _importance_bars(ax, frame, top, str(model_id))
    for ax in axes[len(importances):]:
        fig.delaxes(ax)
    fig.suptitle("Base model variable importance")
    fig.tight_layout()
    return fig
