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
    fold = fold_of_rows(len(y), folds, seed)
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


def fold_of_rows(rows: int, folds: int = 5, seed: int = 1) -> np.ndarray:
    """The fold of each training row in :func:`fit_target_encodings` (a seeded shuffle, equal sizes)."""
    return np.random.default_rng(seed).permutation(rows) % max(2, folds)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ------------------------------------------------------------------------------- which columns, by default
#
# ``target_encoding: auto`` encodes a column when its levels tell more about the target than a few groups of
# it do. The groups stand for what the model sees without an encoding: for a number, AUTO_GROUPS
# equal-frequency ranges of its value (a tree's splits follow the value's order); for text, its
# AUTO_GROUPS - 1 most frequent levels and the rest as one (one-hot, and H2O's own enum splits, do well
# with a few frequent levels). Both are compared as out-of-fold encodings, by the share of the target's
# variance they explain (R²; for a 0/1 target, the Brier skill). On the shipped data (274,398 training
# rows, docs/model-quality.md) the codes gain 0.006 (Region_Code, 53 values) and 0.017
# (Policy_Sales_Channel, 152) over their 16 ranges, an amount like Age (66 values) 0.0005; Vintage and
# Annual_Premium lose. AUTO_MIN_GAIN sits between; on a few thousand rows the bar is the gain's noise
# (AUTO_NOISE_SE standard errors over the folds), so a column of noise is encoded about once in 160 tries.

#: Groups a column is reduced to for the comparison; a column with at most this many levels is never encoded.
AUTO_GROUPS = 16
#: Share of the target's variance the levels must explain beyond the groups for the column to be encoded.
AUTO_MIN_GAIN = 0.002
#: ... and at least this many standard errors of that gain (its spread over the folds): on a few thousand
#: rows a noise column's levels beat its groups by 0.002-0.003 by chance
AUTO_NOISE_SE = 2.0
#: A column whose levels average fewer training rows than this is not a candidate: most of its rates would
#: be the prior (an id, a free-text field, an amount with many values).
AUTO_MIN_ROWS_PER_LEVEL = 10


@dataclass
class EncodingChoice:
    """Why ``target_encoding: auto`` encoded a column or not, with the figures it compared."""

    column: str
    levels: int
    encoded: bool
    reason: str
    #: the share of the target's variance the out-of-fold encoding explains: by level, and by group
    explained_by_levels: float | None = None
    explained_by_groups: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def explained_variance(y: np.ndarray, values: np.ndarray) -> float:
    """R² of ``values`` as a prediction of ``y`` (1 - squared error / the target's variance)."""
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - values) ** 2).sum()) / total if total > 0 else 0.0


def _groups(levels: pd.Series, numbers: pd.Series | None) -> pd.Series:
    """The comparison's groups of a column: value ranges of a number, else the frequent levels and "other"."""
    if numbers is not None:
        ranges = pd.qcut(numbers, AUTO_GROUPS, labels=False, duplicates="drop")
        return pd.Series(ranges).map(lambda r: None if _missing(r) else str(int(r)))
    frequent = levels.value_counts().index[:AUTO_GROUPS - 1]
    return levels.where(levels.isin(frequent) | levels.isna(), "\0other")


def _gain_standard_error(y: np.ndarray, by_level: np.ndarray, by_group: np.ndarray, seed: int) -> float:
    """Standard error of the levels' gain over the groups, from its spread over the encodings' folds."""
    fold = fold_of_rows(len(y), seed=seed)
    gains = [explained_variance(y[fold == k], by_level[fold == k]) - explained_variance(y[fold == k], by_group[fold == k])
             for k in np.unique(fold)]
    return float(np.std(gains, ddof=1) / np.sqrt(len(gains)))


def choose_target_encodings(columns: dict[str, tuple[pd.Series, pd.Series | None]], y: np.ndarray,
                            smoothing: float = 50.0, seed: int = 1) -> tuple[list[TargetEncoding], pd.DataFrame,
                                                                             list[EncodingChoice]]:
    """``target_encoding: auto``: per column (its canonical levels per training row and, for a numeric column,
    its numbers; None for a categorical one), whether it gets an encoding (see the rule above; a number must
    be whole to be a code). Returns what :func:`fit_target_encodings` returns for the chosen columns, and every choice."""
    y = np.asarray(y, dtype=float)
    chosen: dict[str, pd.Series] = {}
    choices = []
    for column, (levels, numbers) in columns.items():
        levels = pd.Series(levels).reset_index(drop=True)
        count = int(levels.nunique())
        if count <= AUTO_GROUPS:
            choices.append(EncodingChoice(column, count, False, f"{count} levels: the model sees each of them"))
            continue
        numbers = None if numbers is None else pd.Series(numbers, dtype=float).reset_index(drop=True)
        if numbers is not None and not bool((np.mod(numbers.dropna(), 1) == 0).all()):
            choices.append(EncodingChoice(column, count, False, "numbers that are not all whole: an amount, not a code"))
            continue
        if count * AUTO_MIN_ROWS_PER_LEVEL > len(y):
            choices.append(EncodingChoice(column, count, False, f"{count} levels for {len(y)} rows: a level averages "
                                                                f"fewer than {AUTO_MIN_ROWS_PER_LEVEL} rows"))
            continue
        _, by_level = fit_target_encodings({column: levels}, y, smoothing, seed=seed)
        _, by_group = fit_target_encodings({column: _groups(levels, numbers)}, y, smoothing, seed=seed)
        levels_r2 = explained_variance(y, by_level.iloc[:, 0].to_numpy())
        groups_r2 = explained_variance(y, by_group.iloc[:, 0].to_numpy())
        gain = levels_r2 - groups_r2
        noise = _gain_standard_error(y, by_level.iloc[:, 0].to_numpy(), by_group.iloc[:, 0].to_numpy(), seed)
        what = "value ranges" if numbers is not None else "frequent levels and the rest"
        bar = max(AUTO_MIN_GAIN, AUTO_NOISE_SE * noise)
        encoded = gain >= bar
        reason = (f"its {count} levels explain {levels_r2:.4f} of the target's variance, {AUTO_GROUPS} {what} "
                  f"{groups_r2:.4f}: {'gain' if gain >= 0 else 'loss'} {abs(gain):.4f}, "
                  f"{'over' if encoded else 'under'} the bar of {bar:.4f} (the larger of {AUTO_MIN_GAIN} and "
                  f"{AUTO_NOISE_SE:g} standard errors)")
        choices.append(EncodingChoice(column, count, encoded, reason, levels_r2, groups_r2))
        if encoded:
            chosen[column] = levels
    if not chosen:
        return [], pd.DataFrame(index=pd.RangeIndex(len(y))), choices
    encodings, out_of_fold = fit_target_encodings(chosen, y, smoothing, seed=seed)
    return encodings, out_of_fold, choices
