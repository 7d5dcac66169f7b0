"""Which leaderboard model becomes the run's leader: the best on cross-validation, or (``within_noise``) the
cheapest to serve among those that cross-validation cannot tell apart from the best.

The noise band is one standard error of a cross-validated metric on this data, estimated from the spread
of the folds: the median over the candidates of ``sd / sqrt(folds)`` from H2O's cross-validation metrics
summary. The median, not the best model's own: a stacked ensemble's summary is its metalearner's, whose
folds spread far less (0.0009 against 0.003-0.004 for the base models on 20,000 rows of the shipped data). "Cheapest to serve" is the
highest rows/s of the in-process MOJO scorer on the holdout rows (:func:`serving_cost`); a candidate that
gives per-feature contributions (tree models) is preferred, so the champion can explain its scores.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from .errors import ParameterError
from .java_build import genmodel_jar
from .mojo import MojoScorer

RULES: tuple[str, ...] = ("best", "within_noise")
#: H2O's names of the sortable metrics in a cross-validation summary.
CV_SUMMARY_NAMES = {"auc": "auc", "logloss": "logloss", "aucpr": "pr_auc"}
#: Holdout rows scored to time a candidate's MOJO (enough for a stable rate, quick for a stack).
TIMING_ROWS = 20_000


@dataclass(frozen=True)
class ServingCost:
    """What a model costs to serve: its MOJO's size, the in-process scorer's speed, whether it explains."""

    mojo_bytes: int
    rows_per_s: float
    contributions: bool

    def as_metrics(self) -> dict[str, float]:
        """As MLflow metrics."""
        return {"serving_mojo_bytes": float(self.mojo_bytes), "serving_rows_per_s": self.rows_per_s,
                "serving_contributions": float(self.contributions)}


@dataclass(frozen=True)
class Candidate:
    """One leaderboard model with its cross-validated metric, that metric's standard error, and its cost."""

    model_id: str
    algo: str
    cv_metric: float
    cv_se: float | None
    cost: ServingCost


@dataclass
class Selection:
    """The outcome: which rule chose, the noise band, the candidates inside it, the winner and why."""

    rule: str
    metric: str
    winner: Candidate
    best: Candidate
    band: float | None
    inside: list[str] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict:
        """JSON-ready form (kept in the model's metadata and shown by ``GET /model``)."""
        return {"rule": self.rule, "metric": self.metric, "winner": self.winner.model_id,
                "best": self.best.model_id, "band": self.band, "inside": self.inside, "reason": self.reason,
                "winner_cv": self.winner.cv_metric, "best_cv": self.best.cv_metric,
                "serving": asdict(self.winner.cost)}


def cv_standard_error(model, metric: str) -> float | None:
    """The standard error of ``model``'s cross-validated ``metric`` from its folds' spread, or None."""
    summary = model.cross_validation_metrics_summary()
    if summary is None:
        return None
    table = summary.as_data_frame()
    name = CV_SUMMARY_NAMES.get(metric.lower(), metric.lower())
    rows = table[table.iloc[:, 0] == name]
    folds = [c for c in table.columns if str(c).startswith("cv_")]
    if rows.empty or not folds:
        return None
    sd = float(rows["sd"].iloc[0])
    return sd / math.sqrt(len(folds)) if math.isfinite(sd) else None


def serving_cost(mojo_path: str | Path, genmodel_jar: str | Path, features: pd.DataFrame,
                 positive_class: str) -> ServingCost:
    """Load a MOJO into the in-process scorer and time it on ``features`` (conformed rows): the best of two
    passes over at most :data:`TIMING_ROWS` rows, after a warm-up."""
    scorer = MojoScorer(mojo_path, genmodel_jar, positive_class)
    matrix = scorer.encode(features.iloc[:TIMING_ROWS] if len(features) > TIMING_ROWS else features)
    scorer.score_matrix(matrix[:500])  # JIT warm-up
    best = math.inf
    for _ in range(2):
        started = time.perf_counter()
        scorer.score_matrix(matrix)
        best = min(best, time.perf_counter() - started)
    return ServingCost(mojo_bytes=Path(mojo_path).stat().st_size, rows_per_s=len(matrix) / max(best, 1e-9),
                       contributions=scorer.has_contributions)


def h2o_serving_cost(model, features: pd.DataFrame, positive_class: str) -> ServingCost:
    """:func:`serving_cost` of an H2O model: its MOJO downloaded into a temporary folder and scored with the
    installed h2o package's genmodel jar."""
    with tempfile.TemporaryDirectory(prefix="mojo-cost-") as folder:
        mojo = model.download_mojo(path=folder)
        return serving_cost(mojo, genmodel_jar(), features, positive_class)


def select(candidates: list[Candidate], rule: str = "within_noise", metric: str = "auc",
           higher_is_better: bool = True) -> Selection:
    """Choose the leader among ``candidates`` by ``rule`` (see the module's docstring)."""
    if rule not in RULES:
        raise ParameterError(f"selection must be one of {', '.join(RULES)}, got {rule!r}")
    if not candidates:
        raise ParameterError("there is no candidate model to select from")
    sign = 1.0 if higher_is_better else -1.0
    best = max(candidates, key=lambda c: sign * c.cv_metric)
    if rule == "best":
        return Selection("best", metric, best, best, None, [best.model_id],
                         f"best: {best.model_id} has the best cross-validated {metric} ({best.cv_metric:.5f})")
    errors = [c.cv_se for c in candidates if c.cv_se is not None and math.isfinite(c.cv_se)]
    band = statistics.median(errors) if errors else 0.0
    source = f"the median fold spread of {len(errors)} candidates" if errors else "no fold spread available"
    inside = [c for c in candidates if sign * (best.cv_metric - c.cv_metric) <= band + 1e-12]
    explaining = [c for c in inside if c.cost.contributions]
    pool = explaining or inside
    # the fastest to score; on equal speed the better metric
    winner = max(pool, key=lambda c: (c.cost.rows_per_s, sign * c.cv_metric))
    which = "with contributions" if explaining else "(none inside gives contributions)"
    reason = (f"within_noise: {len(inside)} of {len(candidates)} candidates are within one standard error "
              f"({band:.5f}, {source}) of the best cross-validated {metric} ({best.model_id}: "
              f"{best.cv_metric:.5f}); {winner.model_id} ({winner.cv_metric:.5f}) is the fastest to score {which}: "
              f"{winner.cost.rows_per_s:,.0f} rows/s against {best.cost.rows_per_s:,.0f} for the best")
    if winner is best:
        reason += " (the best is also the cheapest)"
    return Selection("within_noise", metric, winner, best, band, [c.model_id for c in inside], reason)


def candidates_frame(candidates: list[Candidate]) -> pd.DataFrame:
    """The candidates' costs and standard errors, one row per model (joined to the leaderboard artifact)."""
    return pd.DataFrame([{"model_id": c.model_id, "cv_se": c.cv_se, "serving_mojo_bytes": c.cost.mojo_bytes,
                          "serving_rows_per_s": c.cost.rows_per_s, "serving_contributions": c.cost.contributions}
                         for c in candidates])

