"""Matplotlib figures logged with each training run: ROC, cumulative gains, leaderboard."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve as sk_roc_curve  # noqa: E402

from .metrics import cumulative_gains  # noqa: E402


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
