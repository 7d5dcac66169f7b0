"""Features learned from the training rows and re-applied, row by row, wherever the model scores.

A target encoding turns a high-cardinality code (a region, a sales channel) into the smoothed positive
rate of its level. The lookup table is saved in the schema, so the pyfunc model and the API compute the
same value the model was trained with; training rows get out-of-fold values, so no row sees its own label.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ParameterError

#: Prefix of a target-encoded feature's name.
PREFIX = "te_"


@dataclass
class TargetEncoding:
    """Smoothed positive rate per level of ``column``: (positives + prior * smoothing) / (rows + smoothing)."""

    column: str
    prior: float
    smoothing: float
    table: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The derived feature's name."""
        return f"{PREFIX}{self.column}"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    def values(self, levels: pd.Categorical | Sequence) -> np.ndarray:
        """The encoding of canonical levels (see ``schema.canonical_levels``); the prior when missing or unseen."""
        if isinstance(levels, pd.Categorical):
            per_category = np.array([self.table.get(c, self.prior) for c in levels.categories], dtype=float)
            return np.append(per_category, self.prior)[levels.codes]  # code -1 (missing) -> prior
        return np.array([self.prior if v is None else self.table.get(v, self.prior) for v in levels], dtype=float)


def _table(levels: pd.Series, y: np.ndarray, prior: float, smoothing: float) -> dict[str, float]:
    stats = pd.DataFrame({"level": levels, "y": y}).dropna(subset=["level"]).groupby("level")["y"].agg(["sum", "count"])
    rate = (stats["sum"] + prior * smoothing) / (stats["count"] + smoothing)
    return {str(k): float(v) for k, v in rate.items()}


def fit_target_encodings(levels: dict[str, pd.Series], y: np.ndarray, smoothing: float = 50.0, folds: int = 5,
                         seed: int = 1) -> tuple[list[TargetEncoding], pd.DataFrame]:
    """Target encodings of each column in ``levels`` (canonical level text per training row).

    Returns the encodings (tables from all the rows: what scoring uses) and, for the same rows, their
    out-of-fold values (each row encoded by tables built without its fold: what training uses).
    """
    y = np.asarray(y, dtype=float)
    if not 0 < len(y):
        raise ParameterError("no rows to learn target encodings from")
    prior = float(y.mean())
    fold = np.random.default_rng(seed).permutation(len(y)) % max(2, folds)
    encodings, out_of_fold = [], {}
    for column, series in levels.items():
        series = pd.Series(series).reset_index(drop=True)
        encoding = TargetEncoding(column, prior, float(smoothing), _table(series, y, prior, smoothing))
        values = np.empty(len(y))
        for k in np.unique(fold):
            held = fold == k
            partial = TargetEncoding(column, prior, float(smoothing),
                                     _table(series[~held], y[~held], prior, smoothing))
            values[held] = partial.values([None if _missing(v) else v for v in series[held]])
        encodings.append(encoding)
        out_of_fold[encoding.name] = values
    return encodings, pd.DataFrame(out_of_fold)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
