"""Holdout metrics, their directions, bootstrap errors and charts for binary, multiclass and regression."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.metrics import log_loss, mean_absolute_error, r2_score, roc_auc_score

from automlkit import plots
from automlkit.problems import DECISION_METRIC, DEFAULT_SORT_METRIC, METRIC_DIRECTIONS, PROBLEMS
from automlkit.metrics import (
    BINARY_METRICS,
    binary_metrics,
    bootstrap_standard_error,
    confusion_counts,
    multiclass_metrics,
    problem_metrics,
    regression_metrics,
)

CLASSES = ["a", "b", "c"]
# true a a a b b c ; predicted (argmax) a b a b c c  -> 4 of 6 right
Y3 = np.array(["a", "a", "a", "b", "b", "c"])
P3 = np.array([[0.7, 0.2, 0.1],
               [0.3, 0.6, 0.1],
               [0.5, 0.3, 0.2],
               [0.2, 0.5, 0.3],
               [0.1, 0.4, 0.5],
               [0.2, 0.2, 0.6]])


def reference_binary_bootstrap(y_true, probability, metric, resamples=200, seed=1):
    """The binary bootstrap as it was before problems other than binary existed."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-15, 1 - 1e-15)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y_true), len(y_true))
        if y_true[rows].min() != y_true[rows].max():
            values.append(BINARY_METRICS[metric](y_true[rows], probability[rows]))
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def noisy_multiclass(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.asarray(CLASSES)[y], p


def test_names_and_defaults_cover_each_problem():
    assert PROBLEMS == ("binary", "multiclass", "regression")
    assert set(METRIC_DIRECTIONS) == set(DEFAULT_SORT_METRIC) == set(DECISION_METRIC) == set(PROBLEMS)
    assert set(METRIC_DIRECTIONS["binary"]) == set(BINARY_METRICS)
    assert DEFAULT_SORT_METRIC == {"binary": "AUC", "multiclass": "logloss", "regression": "RMSE"}
    for problem, metric in DECISION_METRIC.items():
        assert metric in METRIC_DIRECTIONS[problem]
    assert METRIC_DIRECTIONS["binary"] == {"auc": True, "aucpr": True, "logloss": False}
    assert METRIC_DIRECTIONS["multiclass"] == {"logloss": False, "mean_per_class_error": False,
                                               "macro_auc": True, "accuracy": True}
    assert METRIC_DIRECTIONS["regression"] == {"rmse": False, "mae": False, "r2": True,
                                               "mean_residual_deviance": False}


def test_directions_name_exactly_the_metrics_returned():
    rng = np.random.default_rng(3)
    y = np.array([0, 1] * 10)
    assert set(problem_metrics("binary", y, rng.random(20))) == set(METRIC_DIRECTIONS["binary"])
    assert set(problem_metrics("multiclass", Y3, P3, CLASSES)) == set(METRIC_DIRECTIONS["multiclass"])
    assert set(problem_metrics("regression", rng.random(20), rng.random(20))) == set(METRIC_DIRECTIONS["regression"])


def test_multiclass_metrics_by_hand():
    got = multiclass_metrics(Y3, P3, CLASSES)
    assert got["accuracy"] == pytest.approx(4 / 6)
    # recall: a 2/3, b 1/2, c 1/1 -> errors 1/3, 1/2, 0
    assert got["mean_per_class_error"] == pytest.approx((1 / 3 + 1 / 2 + 0) / 3)
    true_p = P3[np.arange(6), [0, 0, 0, 1, 1, 2]]
    assert got["logloss"] == pytest.approx(-np.mean(np.log(true_p)))
    assert got["logloss"] == pytest.approx(log_loss(Y3, P3, labels=CLASSES))
    # one-vs-rest AUC of each class, averaged
    by_class = [roc_auc_score(Y3 == c, P3[:, i]) for i, c in enumerate(CLASSES)]
    assert got["macro_auc"] == pytest.approx(np.mean(by_class))
    assert got["macro_auc"] == pytest.approx(roc_auc_score(Y3, P3, multi_class="ovr", labels=CLASSES))
    assert problem_metrics("multiclass", Y3, P3, CLASSES) == got


def test_multiclass_ties_go_to_the_first_class_and_absent_classes_are_skipped():
    y = np.array(["b", "b", "a"])
    p = np.array([[0.4, 0.4, 0.2], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2]])  # row 0 ties a/b -> a
    got = multiclass_metrics(y, p, CLASSES)
    assert got["accuracy"] == pytest.approx(2 / 3)
    # c never occurs: only a (recall 1) and b (recall 1/2) count
    assert got["mean_per_class_error"] == pytest.approx(0.25)
    assert np.isnan(got["macro_auc"])
    assert np.isfinite(got["logloss"])


def test_multiclass_needs_one_column_per_class():
    with pytest.raises(ValueError, match="one column per class"):
        multiclass_metrics(Y3, P3[:, :2], CLASSES)
    with pytest.raises(ValueError, match="classes"):
        problem_metrics("multiclass", Y3, P3)


def test_regression_metrics_by_hand():
    y = np.array([3.0, -0.5, 2.0, 7.0])
    pred = np.array([2.5, 0.0, 2.0, 8.0])
    got = regression_metrics(y, pred)
    mse = (0.25 + 0.25 + 0 + 1) / 4
    assert got["mean_residual_deviance"] == pytest.approx(mse)
    assert got["rmse"] == pytest.approx(np.sqrt(mse))
    assert got["mae"] == pytest.approx(mean_absolute_error(y, pred)) and got["mae"] == pytest.approx(0.5)
    assert got["r2"] == pytest.approx(r2_score(y, pred))
    assert np.isnan(regression_metrics([1.0, 1.0], [1.0, 2.0])["r2"])
    assert problem_metrics("regression", y, pred) == got


def test_binary_dispatch_is_binary_metrics_and_problems_are_checked():
    rng = np.random.default_rng(5)
    y, p = rng.integers(0, 2, 50), rng.random(50)
    assert problem_metrics("binary", y, p) == binary_metrics(y, p)
    with pytest.raises(ValueError, match="problem must be one of"):
        problem_metrics("ranking", y, p)


@pytest.mark.parametrize("metric", ["auc", "aucpr", "logloss"])
@pytest.mark.parametrize("n,resamples,seed", [(300, 60, 1), (40, 40, 7), (8, 30, 2)])
def test_binary_bootstrap_is_unchanged(metric, n, resamples, seed):
    rng = np.random.default_rng(n)
    y = (rng.random(n) < 0.2).astype(int)
    p = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, n), 0, 1)
    expected = reference_binary_bootstrap(y, p, metric, resamples, seed)
    assert bootstrap_standard_error(y, p, metric, resamples, seed) == expected
    assert bootstrap_standard_error(y, p, metric, resamples=resamples, seed=seed, problem="binary") == expected


@pytest.mark.parametrize("metric", list(METRIC_DIRECTIONS["regression"]))
def test_regression_bootstrap_is_positive_and_shrinks(metric):
    rng = np.random.default_rng(0)
    def sample(n):
        x = rng.normal(0, 1, n)
        return x + rng.normal(0, 0.5, n), x
    small = bootstrap_standard_error(*sample(200), metric, resamples=100, problem="regression")
    large = bootstrap_standard_error(*sample(5000), metric, resamples=100, problem="regression")
    assert 0 < large < small


@pytest.mark.parametrize("metric", list(METRIC_DIRECTIONS["multiclass"]))
def test_multiclass_bootstrap_is_positive(metric):
    y, p = noisy_multiclass(300)
    se = bootstrap_standard_error(y, p, metric, resamples=60, problem="multiclass", classes=CLASSES)
    assert 0 < se < 0.5
    # the estimate is the spread of the metric over resamples, so it is reproducible by seed
    assert se == bootstrap_standard_error(y, p, metric, resamples=60, problem="multiclass", classes=CLASSES)


def test_bootstrap_skips_resamples_where_the_metric_is_undefined():
    y = np.array(["a"] * 30 + ["b"] * 30 + ["c"])  # c is often left out of a resample
    p = np.tile([0.5, 0.3, 0.2], (61, 1))
    p[30:] = [0.3, 0.5, 0.2]
    se = bootstrap_standard_error(y, p, "macro_auc", resamples=40, problem="multiclass", classes=CLASSES)
    assert np.isfinite(se) and se > 0


def test_bootstrap_rejects_a_metric_of_another_problem():
    with pytest.raises(KeyError, match="not a regression metric"):
        bootstrap_standard_error([1.0, 2.0], [1.0, 2.0], "auc", problem="regression")


def _open_figures() -> int:
    return len(plt.get_fignums())


def test_confusion_matrix_chart_labels_and_counts():
    before = _open_figures()
    y_pred = np.asarray(CLASSES)[P3.argmax(axis=1)]
    fig = plots.confusion_matrix_chart(Y3, y_pred, CLASSES)
    assert isinstance(fig, Figure) and _open_figures() == before
    ax = fig.axes[0]  # the other axes is the colour bar
    assert len(fig.axes) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    assert ax.get_ylabel() == "True class" and ax.get_xlabel() == "Predicted class"
    cells = [t.get_text() for t in ax.texts]
    # rows true a, b, c; columns predicted a, b, c
    assert cells == ["2", "1", "0", "0", "1", "1", "0", "0", "1"]


def test_per_class_precision_recall_chart_has_two_bars_per_class():
    y_pred = np.asarray(CLASSES)[P3.argmax(axis=1)]
    fig = plots.per_class_precision_recall_chart(Y3, y_pred, CLASSES)
    ax, = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert len(ax.patches) == 2 * len(CLASSES)
    heights = [p.get_height() for p in ax.patches]
    # precision a 2/2, b 1/2, c 1/2 ; recall a 2/3, b 1/2, c 1/1
    assert heights == pytest.approx([1, 0.5, 0.5, 2 / 3, 0.5, 1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["precision", "recall"]


def test_predicted_vs_actual_chart_subsamples_and_draws_the_diagonal():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 12_000)
    pred = y + rng.normal(0, 0.3, 12_000)
    fig = plots.predicted_vs_actual_chart(y, pred)
    ax, = fig.axes
    points = ax.collections[0].get_offsets()
    assert len(points) == plots.MAX_SCATTER_POINTS
    assert np.array_equal(points, plots.predicted_vs_actual_chart(y, pred).axes[0].collections[0].get_offsets())
    line, = ax.get_lines()
    x, yy = line.get_data()
    assert np.array_equal(x, yy)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Actual", "Predicted")
    small = plots.predicted_vs_actual_chart(y[:10], pred[:10]).axes[0].collections[0].get_offsets()
    assert np.allclose(small, np.column_stack([y[:10], pred[:10]]))


def test_residuals_chart_plots_actual_minus_predicted():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.5, 1.5, 3.0, 5.0])
    fig = plots.residuals_chart(y, pred)
    ax, = fig.axes
    points = ax.collections[0].get_offsets()
    assert np.allclose(points, np.column_stack([pred, y - pred]))
    zero, = ax.get_lines()
    assert list(zero.get_ydata()) == [0, 0]
    assert ax.get_xlabel() == "Predicted"


def test_confusion_counts_skip_unknown_truth_and_put_classes_the_model_lacks_last():
    counts = confusion_counts(np.array(["b", "a", None, "c", "a"], dtype=object), ["b", "b", "a", "a", "a"],
                              ["a", "b"])
    assert list(counts.index) == ["a", "b", "c"] and list(counts.columns) == ["a", "b"]
    assert counts.to_numpy().tolist() == [[1, 1], [0, 1], [1, 0]]
    assert confusion_counts([None], ["a"], ["a", "b"]).to_numpy().tolist() == [[0, 0], [0, 0]]
    fig = plots.confusion_matrix_chart(np.array(["a", "b", "b"]), np.array(["a", "a", "b"]), ["a", "b"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["1", "0", "1", "1"]
