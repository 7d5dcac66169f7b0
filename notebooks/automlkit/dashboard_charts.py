"""The dashboard's charts, drawn with matplotlib into PNG bytes for ``ipywidgets.Image``: variable importance,
one customer's reasons, the score histogram and cumulative gains (binary), the predicted class counts and the
confusion matrix (multiclass, :func:`automlkit.plots.confusion_counts_chart`), the predictions and predicted
against actual (regression)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .metrics import cumulative_gains  # noqa: E402
from .plots import confusion_counts_chart  # noqa: E402


def png(fig, tight: bool = True) -> bytes:
    """The figure as PNG bytes (laid out tight unless ``tight`` is false: the caller placed its axes); pyplot
    lets go of it."""
    buffer = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def confusion_png(matrix: pd.DataFrame) -> bytes:
    """The confusion matrix on this file (:func:`automlkit.metrics.confusion_counts`) as a heat map with the
    counts written in."""
    return png(confusion_counts_chart(matrix, "Confusion matrix (this file)"))


def importance_png(importance: list[dict]) -> bytes:
    """Horizontal bars of the model's top variables by H2O's scaled importance, the largest on top."""
    names = [str(v["variable"]) for v in importance][::-1]
    values = [float(v["scaled_importance"]) for v in importance][::-1]
    fig, ax = plt.subplots(figsize=(5, 0.25 * len(names) + 1))
    ax.barh(names, values, color="#4c72b0")
    ax.set(xlabel="scaled importance (H2O)", title="What the model relies on")
    return png(fig)


def reasons_png(answer: dict) -> bytes:
    """A small bar chart of one customer's top contributions and the rest, red up and blue down."""
    explanation = answer["predictions"][0]["explanation"]
    names = [t["feature"] for t in explanation["top"]] + ["all other features"]
    values = [t["contribution"] for t in explanation["top"]] + [explanation["other"]]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.barh(names[::-1], values[::-1], color=["#c44e52" if v > 0 else "#4c72b0" for v in values[::-1]])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(xlabel="contribution to the log-odds", title="Why this customer scores as they do")
    return png(fig)


def histogram_png(probability: np.ndarray, threshold: float) -> bytes:
    """Histogram of the probabilities with the threshold marked."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(probability, bins=50, color="#4c72b0")
    ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="probability of the positive class", ylabel="customers", title="Scores")
    ax.legend()
    return png(fig)


def gains_png(probability: np.ndarray, labels: np.ndarray | None) -> bytes:
    """Cumulative gains: share of positives captured against share of customers contacted, best first.

    With the true labels when the upload has the target column; otherwise the expected gains, taking
    each customer's probability as their chance of being a positive.
    """
    truth = labels if labels is not None else np.asarray(probability)
    gains = cumulative_gains(truth, probability)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(gains.share_contacted, gains.share_of_positives,
            label="model" if labels is not None else "model (expected, from the probabilities)")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random order")
    ax.set(xlabel="share of customers contacted", ylabel="share of positives captured",
           title="Cumulative gains")
    ax.legend(loc="lower right")
    return png(fig)


def class_counts_png(counts: pd.Series) -> bytes:
    """Bar chart of the predicted class counts."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar([str(c) for c in counts.index], counts.to_numpy(), color="#4c72b0")
    ax.set(xlabel="predicted class", ylabel="rows", title="Predicted classes")
    if len(counts) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    return png(fig)


def prediction_histogram_png(prediction: np.ndarray) -> bytes:
    """Histogram of the predicted values."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(np.asarray(prediction, dtype=float), bins=50, color="#4c72b0")
    ax.set(xlabel="prediction", ylabel="rows", title="Predictions")
    return png(fig)


def actual_vs_predicted_png(actual: np.ndarray, predicted: np.ndarray) -> bytes:
    """Predicted against actual values (the rows whose actual value is known), with the diagonal."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    known = np.isfinite(actual)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.scatter(actual[known], predicted[known], s=8, alpha=0.5, color="#4c72b0")
    if known.any():
        low = min(actual[known].min(), predicted[known].min())
        high = max(actual[known].max(), predicted[known].max())
        ax.plot([low, high], [low, high], linestyle="--", color="grey", label="prediction = actual")
        ax.legend(loc="upper left")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted against actual (this file)")
    return png(fig)
