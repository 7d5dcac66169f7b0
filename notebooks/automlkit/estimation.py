"""Performance estimated before labels arrive: confidence-based performance estimation (CBPE, as NannyML's).

**The calibration map.** At training, each binary or multiclass version fits an isotonic regression of the
outcome on its holdout scores (binary: the positive class's probability against the label; multiclass: the
top class's probability against "the top class was right") and stores it with the version, in the model's
``model_meta.json`` (:attr:`automlkit.scoring.ModelMeta.calibration`), as the map's knots: applying it is
``numpy.interp``, so serving needs no scikit-learn. Isotonic rather than binned: it is monotone, so it keeps
the model's ranking; it needs no bin count chosen; and it follows the skewed scores of an imbalanced target,
where a few equal-width bins hold nearly every row (NannyML calibrates the same way).

**Per scoring** (:func:`summary_counts`, called by ``monitoring.summarise``), additive over summaries:

- binary: per bin ``k`` of the calibrated probability (the map's ``edges``, holdout quantiles),
  ``cbpe.n.<k>`` the rows and ``cbpe.p.<k>`` the sum of their calibrated probabilities; the expected confusion
  matrix at the model's threshold, ``cbpe.tp`` = sum of p over rows labelled 1, ``cbpe.fp`` = sum of 1 - p
  over them, ``cbpe.fn`` and ``cbpe.tn`` likewise over rows labelled 0;
- multiclass: ``cbpe.n`` the rows and ``cbpe.correct`` the sum of calibrated top-class probabilities;
- with labelled rows (binary): the realised confusion matrix at the threshold, ``cbpe.labelled_tp`` ...
  (counts), to set beside the expected one.

**Per period** (:func:`period_estimate`): the expected confusion matrix and what follows from it (positive
rate, precision, recall, F1, accuracy) and the expected AUC: with the bins ordered by probability, the expected
positives ``P_k`` and negatives ``N_k`` of each bin give
``AUC = sum_k P_k (N_below_k + N_k / 2) / (P N)`` (pairs within a bin count half, as ties do). Regression:
nothing is estimated.

**The limit.** The estimate assumes the holdout's P(y | score) holds for the new rows: it follows shifts of
the inputs (covariate shift) but not concept drift, and a change of the class balance alone (label shift)
moves it only as far as the scores move.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

#: The calibration method stored in a map.
METHOD = "isotonic"
#: Bins of the calibrated probability per summary (binary); cut at the holdout's quantiles.
ESTIMATE_BINS = 20
#: The prefix of a summary's estimation metric keys.
PREFIX = "cbpe."
#: Why a version's periods carry no estimate.
NO_MAP = "no estimate: no calibration map (the version was trained before maps were stored)"
NO_REGRESSION = "no estimate: a regression model's error cannot be estimated without labels"
CONFUSION = ("tp", "fp", "fn", "tn")


@dataclass
class CalibrationMap:
    """An isotonic map from a version's scores to the probability of the outcome, fitted on the holdout."""

    #: ``binary`` (score: the positive class's probability) or ``multiclass`` (the top class's probability)
    problem: str
    #: the isotonic regression's knots: calibrated(score) = interp(score, x, y), clipped at the ends
    x: list[float]
    y: list[float]
    #: cut points of the calibrated probability for a summary's bins (binary; holdout quantiles)
    edges: list[float]
    holdout_rows: int
    method: str = METHOD

    def calibrate(self, scores) -> np.ndarray:
        """The calibrated probability of each score (NaN stays NaN)."""
        return np.interp(np.asarray(scores, dtype=float), self.x, self.y)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "CalibrationMap | None":
        """Inverse of :meth:`to_dict` (None stays None: a version without a map)."""
        return None if not data else cls(**data)


def top_class(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of multiclass probabilities, the predicted column (first on ties) and its probability."""
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = np.argmax(probabilities, axis=1)
    return predicted, probabilities[np.arange(len(probabilities)), predicted]


def fit_calibration(problem: str, y_true, scores, classes: list[str] | None = None) -> CalibrationMap | None:
    """The isotonic map of holdout ``scores`` (as ``metrics.problem_metrics`` takes them: binary the positive
    probability and 0/1 truth; multiclass the class probabilities in ``classes``' order and class truth); None
    for regression, or with fewer than two holdout rows."""
    if problem == "regression" or len(y_true) < 2:
        return None
    from sklearn.isotonic import IsotonicRegression

    if problem == "binary":
        score, outcome = np.asarray(scores, dtype=float), np.asarray(y_true).astype(float)
    else:
        predicted, score = top_class(scores)
        outcome = (np.asarray(classes, dtype=object)[predicted].astype(str) == np.asarray(y_true).astype(str))
        outcome = outcome.astype(float)
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, outcome)
    calibrated = isotonic.predict(score)
    edges = np.unique(np.quantile(calibrated, np.linspace(0, 1, ESTIMATE_BINS + 1)[1:-1]))
    return CalibrationMap(problem, [float(v) for v in isotonic.X_thresholds_],
                          [float(v) for v in isotonic.y_thresholds_], [float(e) for e in edges], len(score))


# ------------------------------------------------------------------------------------------ per summary


def bins_of(calibration: CalibrationMap, probability: np.ndarray) -> np.ndarray:
    """The bin of each calibrated probability (0 .. ``len(edges)``; a value on an edge goes up)."""
    return np.searchsorted(np.asarray(calibration.edges, dtype=float), probability, side="right")


def summary_counts(calibration: CalibrationMap | None, problem: str, scores: np.ndarray, threshold: float | None,
                   labelled: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """The estimation metrics of one summary (see the module's docstring). ``scores``: binary the positive
    probability, multiclass the top class's (what ``?rank=true`` orders by); ``labelled``: the 0/1 truth and
    positive probability of the rows that carried the target (binary). Empty for regression."""
    out: dict[str, float] = {}
    if problem == "binary" and threshold is not None and labelled is not None and len(labelled[0]):
        truth, score = np.asarray(labelled[0]).astype(bool), np.asarray(labelled[1], dtype=float) >= threshold
        counts = confusion(truth.astype(float), score)
        out.update({f"{PREFIX}labelled_{k}": v for k, v in counts.items()})
    if calibration is None or problem not in ("binary", "multiclass"):
        return out
    scores = np.asarray(scores, dtype=float)
    scores = scores[~np.isnan(scores)]
    p = calibration.calibrate(scores)
    if problem == "multiclass":
        out.update({f"{PREFIX}n": float(len(p)), f"{PREFIX}correct": float(p.sum())})
        return out
    bins = bins_of(calibration, p)
    size = len(calibration.edges) + 1
    n = np.bincount(bins, minlength=size)
    s = np.bincount(bins, weights=p, minlength=size)
    for k in range(size):
        out[f"{PREFIX}n.{k}"] = float(n[k])
        out[f"{PREFIX}p.{k}"] = float(s[k])
    if threshold is not None:
        out.update({f"{PREFIX}{k}": v for k, v in confusion(p, scores >= threshold).items()})
    return out


def confusion(positive: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The confusion matrix at a threshold: ``positive`` is each row's (expected) positive, 0/1 or a
    probability; ``predicted`` whether the row is labelled 1."""
    positive = np.asarray(positive, dtype=float)
    predicted = np.asarray(predicted, dtype=bool)
    return {"tp": float(positive[predicted].sum()), "fp": float((1 - positive[predicted]).sum()),
            "fn": float(positive[~predicted].sum()), "tn": float((1 - positive[~predicted]).sum())}


# ------------------------------------------------------------------------------------------ per period


def expected_auc(n: np.ndarray, p: np.ndarray) -> float | None:
    """The expected AUC of bins ordered by probability: ``n`` rows and ``p`` expected positives per bin (see
    the module's docstring); None when the expected positives or negatives are 0."""
    n, p = np.asarray(n, dtype=float), np.asarray(p, dtype=float)
    negatives = n - p
    total_p, total_n = p.sum(), negatives.sum()
    if total_p <= 0 or total_n <= 0:
        return None
    below = np.cumsum(negatives) - negatives
    return float(np.sum(p * (below + negatives / 2)) / (total_p * total_n))


def rates(counts: dict[str, float]) -> dict[str, float | None]:
    """Positive rate (the share of rows positive), precision, recall, F1 and accuracy of a confusion matrix."""
    tp, fp, fn, tn = (counts[k] for k in CONFUSION)
    rows = tp + fp + fn + tn

    def ratio(a: float, b: float) -> float | None:
        return float(a / b) if b > 0 else None

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall > 0 else None)
    return {"positive_rate": ratio(tp + fn, rows), "precision": precision, "recall": recall, "f1": f1,
            "accuracy": ratio(tp + tn, rows)}


def _sum(frame: pd.DataFrame, key: str) -> float:
    return float(frame[key].fillna(0).sum()) if key in frame else 0.0


def period_estimate(frame: pd.DataFrame, problem: str, realised: dict | None = None) -> dict:
    """The estimate of a period's summaries (``frame``: one row per summary, the metric keys as columns), with
    the realised figures beside it when labelled rows came (``realised``: the period's realised metrics).

    ``available`` False and a ``reason`` when nothing is estimated (regression; a version without a map)."""
    if problem == "regression":
        return {"available": False, "reason": NO_REGRESSION}
    if problem == "multiclass":
        rows = _sum(frame, f"{PREFIX}n")
        if rows <= 0:
            return {"available": False, "reason": NO_MAP}
        out = {"available": True, "method": f"CBPE, {METHOD} calibration of the top class's probability on the "
                                            "holdout", "rows": int(rows),
               "accuracy": _sum(frame, f"{PREFIX}correct") / rows}
        if realised and realised.get("accuracy") is not None:
            out["realised"] = {"rows": realised["rows"], "accuracy": realised["accuracy"]}
        return out
    size = sum(1 for key in frame.columns if key.startswith(f"{PREFIX}n."))
    n = np.array([_sum(frame, f"{PREFIX}n.{k}") for k in range(size)])
    labelled = {k: _sum(frame, f"{PREFIX}labelled_{k}") for k in CONFUSION}
    realised_out = None
    if sum(labelled.values()) > 0:
        realised_out = {"rows": int(sum(labelled.values())),
                        "auc": (realised or {}).get("auc"), "confusion": {k: int(v) for k, v in labelled.items()},
                        **rates(labelled)}
    if n.sum() <= 0:
        return {"available": False, "reason": NO_MAP, **({"realised": realised_out} if realised_out else {})}
    p = np.array([_sum(frame, f"{PREFIX}p.{k}") for k in range(size)])
    out = {"available": True, "method": f"CBPE, {METHOD} calibration of the holdout scores", "rows": int(n.sum()),
           "auc": expected_auc(n, p)}
    if f"{PREFIX}tp" in frame:
        counts = {k: _sum(frame, f"{PREFIX}{k}") for k in CONFUSION}
        out["confusion"] = {k: round(v, 2) for k, v in counts.items()}
        out.update(rates(counts))
    else:
        out["positive_rate"] = float(p.sum() / n.sum())
    if realised_out:
        out["realised"] = realised_out
    return out
