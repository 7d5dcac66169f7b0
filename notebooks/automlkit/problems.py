"""The problem types a model answers, and what each is measured by (no dependencies: the API imports it)."""

from __future__ import annotations

#: The problem types a model can be trained for.
PROBLEMS = ("binary", "multiclass", "regression")

#: Per problem, each holdout metric's name and whether larger is better.
METRIC_DIRECTIONS: dict[str, dict[str, bool]] = {
    "binary": {"auc": True, "aucpr": True, "logloss": False},
    "multiclass": {"logloss": False, "mean_per_class_error": False, "macro_auc": True, "accuracy": True},
    "regression": {"rmse": False, "mae": False, "r2": True, "mean_residual_deviance": False},
}

#: H2O AutoML ``sort_metric`` per problem (the leaderboard's order when a run names none).
DEFAULT_SORT_METRIC = {"binary": "AUC", "multiclass": "logloss", "regression": "RMSE"}

#: The holdout metric (a name of :data:`METRIC_DIRECTIONS`) that decides between models, per problem.
DECISION_METRIC = {"binary": "auc", "multiclass": "logloss", "regression": "rmse"}

#: Every holdout metric name, binary's first (the columns of a version history).
ALL_METRICS = tuple(dict.fromkeys(m for metrics in METRIC_DIRECTIONS.values() for m in metrics))
