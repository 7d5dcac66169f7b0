"""Drift: per-feature reference distributions learned at training, and a batch's population stability index.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with shares clipped at ``EPSILON``.
Numeric features are binned at the training deciles, categorical ones by level (the most frequent
``MAX_LEVELS``, the rest and unseen levels together as "other"); missing values have a bin of their own.
A PSI above ``PSI_ALERT`` (0.2) is the usual sign that a feature's population has shifted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PSI_ALERT = 0.2
EPSILON = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)
MAX_LEVELS = 30
MISSING, OTHER = "(missing)", "(other)"


@dataclass
class DriftReference:
    """One feature's training distribution: bins (labels), their shares, and the cut points of numbers."""

    column: str
    kind: str  # "numeric" or "categorical"
    bins: list[str]
    shares: list[float]
    edges: list[float] | None = None  # numeric: value <= edges[i] falls in bin i, beyond the last in the next

    def counts(self, values) -> np.ndarray:
        """How many of ``values`` fall in each bin (missing last)."""
        if self.kind == "numeric":
            numbers = np.asarray(values, dtype=float)
            present = ~np.isnan(numbers)
            index = np.searchsorted(np.asarray(self.edges), numbers[present], side="left")
            counts = np.bincount(index, minlength=len(self.bins) - 1).astype(float)
            return np.append(counts, (~present).sum())
        levels = pd.Series(values, dtype=object)
        missing = levels.isna()
        position = {label: i for i, label in enumerate(self.bins[:-2])}
        index = levels[~missing].astype(str).map(position).fillna(len(self.bins) - 2).astype(int).to_numpy()
        counts = np.bincount(index, minlength=len(self.bins) - 1).astype(float)
        return np.append(counts, missing.sum())


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def fit_reference(column: str, kind: str, values) -> DriftReference:
    """The reference distribution of one feature from its training values."""
    if kind == "numeric":
        numbers = np.asarray(values, dtype=float)
        present = numbers[~np.isnan(numbers)]
        edges = np.unique(np.quantile(present, DECILES)).tolist() if len(present) else []
        bins = [f"<= {e:g}" for e in edges] + [f"> {edges[-1]:g}" if edges else "all", MISSING]
        reference = DriftReference(column, kind, bins, [], edges)
    else:
        levels = pd.Series(values, dtype=object).dropna()
        top = levels.value_counts().index[:MAX_LEVELS].tolist()
        reference = DriftReference(column, kind, [*map(str, top), OTHER, MISSING], [])
    reference.shares = _shares(reference.counts(values)).tolist()
    return reference


def psi(expected, actual) -> float:
    """Population stability index of the ``actual`` shares against the ``expected`` ones."""
    e = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def fit_references(features, kinds: dict[str, str]) -> list[DriftReference]:
    """References for every feature in ``kinds`` (name -> "numeric"/"categorical") from training features."""
    return [fit_reference(name, kind, features[name]) for name, kind in kinds.items()]


def batch_drift(references: list[DriftReference], features, rows: int) -> list[dict]:
    """Per feature: its PSI for this batch, whether it passes ``PSI_ALERT``, and the bin that moved most."""
    report = []
    for reference in references:
        actual = _shares(reference.counts(features[reference.column]))
        change = actual - np.asarray(reference.shares)
        moved = int(np.argmax(np.abs(change)))
        value = psi(reference.shares, actual)
        report.append({"column": reference.column, "psi": round(value, 4), "drifted": value > PSI_ALERT,
                       "rows": rows, "bin": reference.bins[moved],
                       "training_share": round(reference.shares[moved], 4), "batch_share": round(float(actual[moved]), 4)})
    return sorted(report, key=lambda r: -r["psi"])
