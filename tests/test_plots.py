"""The binary holdout charts (precision-recall, calibration, confusion at a threshold) and the variable
importance charts: their drawn data against sklearn's, and that pyplot never holds them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve

from automlkit import plots


def binary_scores(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    probability = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.5 * y - 1)))
    return y, probability


def varimp(n: int, seed: int = 0) -> pd.DataFrame:
    """A frame shaped like H2O's ``model.varimp(use_pandas=True)``, rows deliberately not sorted."""
    relative = np.random.default_rng(seed).permutation(np.arange(1, n + 1)).astype(float)
    return pd.DataFrame({"variable": [f"v{int(r)}" for r in relative],
                         "relative_importance": relative,
                         "scaled_importance": relative / relative.max(),
                         "percentage": relative / relative.sum()})


def tick_labels_top_down(ax) -> list[str]:
    """y tick labels ordered from the top of the axes down."""
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), reverse=True)
    return [label for _, label in ticks]


@pytest.fixture
def no_pyplot_figures():
    """pyplot's registry holds no more figures after the test than before."""
    before = len(plt.get_fignums())
    yield
    assert len(plt.get_fignums()) == before


@pytest.mark.usefixtures("no_pyplot_figures")
def test_precision_recall_chart_draws_sklearns_curve_with_average_precision_and_baseline():
    y, p = binary_scores()
    fig = plots.precision_recall_chart(y, p)
    assert isinstance(fig, Figure)
    ax, = fig.axes
    curve, baseline = ax.get_lines()
    precision, recall, _ = precision_recall_curve(y, p)
    assert np.array_equal(curve.get_xdata(), recall)
    assert np.array_equal(curve.get_ydata(), precision)
    assert np.allclose(baseline.get_ydata(), y.mean())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == f"AP = {average_precision_score(y, p):.4f}"
    assert legend[1] == f"positive rate = {y.mean():.4f}"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Recall", "Precision")


@pytest.mark.usefixtures("no_pyplot_figures")
@pytest.mark.parametrize("bins", [10, 5])
def test_calibration_chart_plots_quantile_bins_the_diagonal_and_a_histogram(bins):
    y, p = binary_scores()
    fig = plots.calibration_chart(y, p, bins=bins)
    assert isinstance(fig, Figure)
    ax, hist = fig.axes
    diagonal, model = ax.get_lines()
    assert list(diagonal.get_xdata()) == list(diagonal.get_ydata()) == [0, 1]
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    assert len(predicted) == bins  # quantile bins: none is empty
    assert np.allclose(model.get_xdata(), predicted)
    assert np.allclose(model.get_ydata(), observed)
    # a uniform-width binning would give other points on these skewed scores
    uniform_observed, _ = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    assert len(uniform_observed) != bins or not np.allclose(model.get_ydata(), uniform_observed)
    assert sum(patch.get_height() for patch in hist.patches) == len(p)
    assert hist.get_xlabel() == "Mean predicted probability"
    assert ax.get_ylabel() == "Observed positive rate"


@pytest.mark.usefixtures("no_pyplot_figures")
def test_confusion_at_threshold_counts_probability_at_or_above_the_threshold_as_positive():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.4, 0.7, 0.4, 0.6, 0.9, 0.5, 0.3])
    fig = plots.confusion_at_threshold_chart(y, p, threshold=0.4, classes=("stay", "churn"))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]  # the other axes is the colour bar
    assert len(fig.axes) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["stay", "churn"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["stay", "churn"]
    # >= 0.4 is positive: true 0 -> 0.1 0.2 negative, 0.4 0.7 0.5 positive; true 1 -> 0.3 negative, 0.4 0.6 0.9
    assert [t.get_text() for t in ax.texts] == ["2", "3", "1", "3"]
    assert "0.4000" in ax.get_title()
    high = plots.confusion_at_threshold_chart(y, p, threshold=0.65)
    assert [t.get_text() for t in high.axes[0].get_xticklabels()] == ["0", "1"]
    assert [t.get_text() for t in high.axes[0].texts] == ["4", "1", "3", "1"]  # only 0.7 and 0.9 reach 0.65
    assert "0.6500" in high.axes[0].get_title()


@pytest.mark.usefixtures("no_pyplot_figures")
def test_variable_importance_chart_keeps_the_top_largest_first_and_says_how_many():
    frame = varimp(57)
    fig = plots.variable_importance_chart(frame)
    assert isinstance(fig, Figure)
    ax, = fig.axes
    assert ax.get_title() == "Variable importance (top 20 of 57)"
    assert len(ax.patches) == 20
    expected = frame.sort_values("scaled_importance", ascending=False).head(20)
    assert tick_labels_top_down(ax) == list(expected["variable"])
    assert tick_labels_top_down(ax)[0] == "v57"
    bars_top_down = sorted(ax.patches, key=lambda bar: bar.get_y(), reverse=True)
    assert [bar.get_width() for bar in bars_top_down] == pytest.approx(list(expected["scaled_importance"]))


@pytest.mark.usefixtures("no_pyplot_figures")
def test_variable_importance_chart_shows_every_variable_when_there_are_at_most_top():
    frame = varimp(6)
    ax, = plots.variable_importance_chart(frame, title="Leader", top=6).axes
    assert ax.get_title() == "Leader"
    assert tick_labels_top_down(ax) == [f"v{i}" for i in range(6, 0, -1)]
    ax, = plots.variable_importance_chart(frame, top=3).axes
    assert ax.get_title() == "Variable importance (top 3 of 6)"
    assert tick_labels_top_down(ax) == ["v6", "v5", "v4"]


@pytest.mark.usefixtures("no_pyplot_figures")
def test_ensemble_importance_chart_draws_one_panel_per_base_model():
    importances = {"GBM_1": varimp(40, seed=1), "GLM_1": varimp(8, seed=2), "DRF_1": varimp(16, seed=3)}
    fig = plots.ensemble_importance_chart(importances, top=15)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # the fourth cell of the 2 x 2 grid is removed
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["GBM_1 (top 15 of 40)", "GLM_1", "DRF_1 (top 15 of 16)"]
    assert [len(ax.patches) for ax in fig.axes] == [15, 8, 15]
    for ax, frame in zip(fig.axes, importances.values()):
        expected = frame.sort_values("scaled_importance", ascending=False).head(15)
        assert tick_labels_top_down(ax) == list(expected["variable"])
    assert fig.get_suptitle() == "Base model variable importance"


@pytest.mark.usefixtures("no_pyplot_figures")
def test_ensemble_importance_chart_tolerates_a_base_model_without_importance():
    fig = plots.ensemble_importance_chart({"GBM_1": varimp(5), "DeepLearning_1": None})
    gbm, deep = fig.axes
    assert len(gbm.patches) == 5 and len(deep.patches) == 0
    assert [t.get_text() for t in deep.texts] == ["no variable importance"]
    assert deep.get_title() == "DeepLearning_1"
