"""The fast path for H2O XGBoost models: score the MOJO's own booster with the ``xgboost`` library.

An H2O XGBoost MOJO carries the native booster (``boosterBytes``) beside the Java one. Measured on the
tuned 600-tree champion of ``make run`` (100,000 rows, 2 threads): the MOJO's Java scorer 21,500 rows/s,
the native booster 132,000 rows/s; but a call to the native booster costs ~0.8 ms however few the rows,
where the MOJO scores one row in ~0.05 ms. So the MOJO keeps small batches (below
:data:`NATIVE_MIN_ROWS`) and every model this path does not cover; contributions stay the MOJO's TreeSHAP.

The booster wants H2O's one-hot matrix: per categorical column (they come first in the MOJO) one column per
level plus a ``missing(NA)`` column, then the numbers; the MOJO's ``model.ini`` has the offsets. The native
scores are float32 sums like the MOJO's Java predictor, so they agree with it within float32 rounding, not
exactly: :meth:`NativeBooster.load` checks every model on rows that sit on and beside each of its split
points and falls back to the MOJO when they differ by more than :data:`EQUALITY_BOUND`.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Largest difference from the MOJO's probabilities that the fast path may have (measured: 6e-8).
EQUALITY_BOUND = 1e-6
#: Batches this small go to the MOJO: one native call costs ~0.8 ms, one MOJO row ~0.05 ms (crossover ~15).
NATIVE_MIN_ROWS = 16
#: Rows of the load-time equality check.
CHECK_ROWS = 512


def _model_info(archive: zipfile.ZipFile) -> dict[str, str]:
    """The ``[info]`` section of a MOJO's ``model.ini`` as strings."""
    info, section = {}, None
    for line in archive.read("model.ini").decode("utf-8").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[info]" and " = " in line:
            key, value = line.split(" = ", 1)
            info[key.strip()] = value.strip()
    return info


@dataclass
class NativeBooster:
    """An H2O XGBoost MOJO's booster, loaded by ``xgboost``, scoring the MOJO's input matrix."""

    booster: object  # xgboost.Booster
    cat_offsets: list[int]
    n_numbers: int
    zero_is_missing: bool
    positive_index: int  # which class of the response domain ``probability`` is for
    threads: int
    max_abs_difference: float = float("nan")  # from the MOJO's scores on the check rows

    @property
    def n_categorical(self) -> int:
        """Categorical input columns (the first of the MOJO's features)."""
        return len(self.cat_offsets) - 1

    @classmethod
    def load(cls, mojo_path: str | Path, mojo_scorer, threads: int) -> "NativeBooster | None":
        """The fast path for ``mojo_scorer``'s model (:class:`~automlkit.mojo.MojoScorer`), or None (and
        why, in the log) when the model is not an XGBoost MOJO this path covers, ``xgboost`` is missing, or
        the booster's scores differ from the MOJO's by more than :data:`EQUALITY_BOUND`."""
        with zipfile.ZipFile(mojo_path) as archive:
            info = _model_info(archive)
            if info.get("algo") != "xgboost":
                return None
            why = _unsupported(info, mojo_scorer)
            if why:
                log.info("native XGBoost scoring off for this model: %s", why)
                return None
            try:
                import xgboost
            except ImportError:
                log.warning("native XGBoost scoring off: the xgboost package is not installed")
                return None
            booster = xgboost.Booster()
            booster.load_model(bytearray(archive.read("boosterBytes")))
        booster.set_param({"nthread": threads})
        offsets = [int(v) for v in info["cat_offsets"].strip("[]").split(",") if v.strip()]
        native = cls(booster, offsets, int(info["nums"]), info.get("sparse") == "true",
                     mojo_scorer.positive_index, threads)
        if booster.num_features() != offsets[-1] + native.n_numbers:
            log.warning("native XGBoost scoring off: the booster has %d features, the MOJO's one-hot %d",
                        booster.num_features(), offsets[-1] + native.n_numbers)
            return None
        rows = native.check_rows(mojo_scorer.domains)
        difference = float(np.max(np.abs(native.probability(rows) - mojo_scorer.score_matrix(rows, native=False))))
        if not difference <= EQUALITY_BOUND:
            log.warning("native XGBoost scoring off: it differs from the MOJO by %.3g (bound %g)",
                        difference, EQUALITY_BOUND)
            return None
        native.max_abs_difference = difference
        log.info("native XGBoost scoring on (%d trees, %d threads; %d check rows within %.3g of the MOJO)",
                 booster.num_boosted_rounds(), threads, len(rows), difference)
        return native

    def one_hot(self, matrix: np.ndarray) -> np.ndarray:
        """H2O's XGBoost matrix from the MOJO's (category indices, NaN = missing): one column per level
        and a missing column per category, then the numbers; float32, as the booster reads them."""
        rows = len(matrix)
        out = np.zeros((rows, self.cat_offsets[-1] + self.n_numbers), dtype=np.float32)
        every_row = np.arange(rows)
        for i in range(self.n_categorical):
            values = matrix[:, i]
            missing = np.isnan(values)
            column = np.where(missing, self.cat_offsets[i + 1] - 1,
                              self.cat_offsets[i] + np.where(missing, 0, values).astype(np.int64))
            out[every_row, column] = 1
        out[:, self.cat_offsets[-1]:] = matrix[:, self.n_categorical:]
        if self.zero_is_missing:  # a model trained on a sparse matrix read its zeros as missing
            out[out == 0] = np.nan
        return out

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        """Probability of the positive class for each row (the booster gives the domain's second class's)."""
        p1 = self.booster.inplace_predict(self.one_hot(matrix), validate_features=False).astype(np.float64)
        return p1 if self.positive_index == 1 else 1 - p1

    def check_rows(self, domains: list[dict | None], seed: int = 0) -> np.ndarray:
        """Rows of the MOJO's matrix that reach every branch: each number on, just below or just above one
        of the booster's split points for it (or missing), each category any level or missing."""
        random = np.random.default_rng(seed)
        splits = self._split_points()
        matrix = np.empty((CHECK_ROWS, len(domains)))
        for i, domain in enumerate(domains):
            if i < self.n_categorical:
                levels = np.append(np.arange(len(domain or {}), dtype=float), np.nan)
                matrix[:, i] = random.choice(levels, CHECK_ROWS)
                continue
            points = splits.get(self.cat_offsets[-1] + i - self.n_categorical, np.array([0.0], dtype=np.float32))
            near = np.concatenate([points, np.nextafter(points, np.float32(-np.inf)),
                                   np.nextafter(points, np.float32(np.inf)), [np.nan, 0.0]])
            matrix[:, i] = random.choice(near.astype(np.float64), CHECK_ROWS)
        return matrix

    def _split_points(self) -> dict[int, np.ndarray]:
        """Per booster feature, the thresholds its trees split at (float32)."""
        booster = json.loads(self.booster.save_raw("json"))["learner"]["gradient_booster"]
        model = booster.get("gbtree", booster).get("model", {})  # dart wraps its trees in "gbtree"
        points: dict[int, set] = {}
        for tree in model.get("trees", []):
            for feature, threshold, left in zip(tree["split_indices"], tree["split_conditions"],
                                                tree["left_children"]):
                if left != -1:
                    points.setdefault(feature, set()).add(threshold)
        return {f: np.array(sorted(v), dtype=np.float32) for f, v in points.items()}


def _unsupported(info: dict[str, str], mojo_scorer) -> str:
    """Why this XGBoost MOJO is not for the fast path ('' when it is)."""
    if info.get("category") != "Binomial":
        return f"a {info.get('category')} model"
    if info.get("has_offset") == "true":
        return "it has an offset column"
    if info.get("use_all_factor_levels") != "true":
        return "it drops a level of each category"
    cats = int(info.get("cats", -1))
    if [d is not None for d in mojo_scorer.domains] != [True] * cats + [False] * (len(mojo_scorer.domains) - cats):
        return "its categorical columns do not come first"
    return ""
