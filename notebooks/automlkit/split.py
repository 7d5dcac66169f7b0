"""Holdout split fixed by a hash of each row's id: every run, on any budget or sample, is judged on the same rows."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .errors import ParameterError
from .schema import canonical_levels

#: Buckets of the hash; a fraction is resolved to 1/10,000.
BUCKETS = 10_000


def row_keys(frame: pd.DataFrame, id_column: str | None) -> pd.Series:
    """The text that identifies each row: its id, or (without an id column) all its values joined."""
    if id_column and id_column in frame.columns:
        return canonical_levels(frame[id_column]).fillna("")
    return frame.astype(str).agg("\x1f".join, axis=1)


def hash_buckets(keys: pd.Series) -> np.ndarray:
    """A stable bucket in ``[0, BUCKETS)`` per key (sha256, independent of pandas and Python versions)."""
    return np.fromiter(
        (int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big") % BUCKETS for k in keys),
        dtype=np.int64, count=len(keys),
    )


def holdout_mask(frame: pd.DataFrame, id_column: str | None, fraction: float) -> np.ndarray:
    """Boolean mask of the holdout rows: those whose id hashes below ``fraction``."""
    if not 0.0 < fraction < 1.0:
        raise ParameterError(f"holdout_fraction must be between 0 and 1, got {fraction}")
    return hash_buckets(row_keys(frame, id_column)) < round(fraction * BUCKETS)
