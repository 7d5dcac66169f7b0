"""Score an H2O MOJO in this process through a persistent JVM (JPype over ``h2o-genmodel.jar``).

No H2O cluster is needed: the JVM holds only the genmodel classes and the MOJO itself.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import ModelError
from .java_build import SCORER_JAR
from .native_xgboost import EQUALITY_BOUND, NATIVE_MIN_ROWS, NativeBooster
from .settings import ScorerSettings

log = logging.getLogger(__name__)
_jvm_lock = threading.Lock()
#: Signals stay the host process's: JPype's default (``interrupt=True``) and the JVM's own handlers end the
#: process at once on SIGTERM/SIGINT (and SIGHUP), so uvicorn never drained its requests, the lifespan's
#: shutdown never ran and the monitoring recorder's queue was lost (issue 24). ``-Xrs`` keeps the JVM off
#: the shutdown signals, ``interrupt=False`` keeps JPype's handlers out; the JVM then stops at the
#: interpreter's exit, after the host's own shutdown.
HOST_KEEPS_SIGNALS = ("-Xrs",)


def _start_jvm(genmodel_jar: str) -> None:
    """Start the process's JVM with ``genmodel_jar`` (and the batch scorer, if built) on its class path."""
    import jpype

    with _jvm_lock:
        if jpype.isJVMStarted():
            return
        options = [*HOST_KEEPS_SIGNALS, *ScorerSettings.load().mojo_jvm_opts.split()]
        classpath = [str(genmodel_jar)] + ([str(SCORER_JAR)] if SCORER_JAR.exists() else [])
        jpype.startJVM(*options, classpath=classpath, convertStrings=True, interrupt=False)
        log.info("started the in-process JVM for MOJO scoring (%s; batch scorer %s)", " ".join(options),
                 "on" if SCORER_JAR.exists() else "not built: Python loop")


def _batch_scorer():
    """``automlkit.BatchScorer`` if its jar was on the class path, else None."""
    import jpype

    try:
        return jpype.JClass("automlkit.BatchScorer")
    except Exception:  # noqa: BLE001 - not built: the Python loop is used
        return None


def _mojo_model_class(genmodel_jar: str):
    """``hex.genmodel.MojoModel`` from the running JVM, or from ``genmodel_jar`` through its own loader."""
    import jpype

    _start_jvm(genmodel_jar)
    try:
        return jpype.JClass("hex.genmodel.MojoModel")
    except Exception:  # the JVM was started by someone else without the jar
        url = jpype.JClass("java.io.File")(str(genmodel_jar)).toURI().toURL()
        loader = jpype.JClass("java.net.URLClassLoader")([url])
        return jpype.JClass("hex.genmodel.MojoModel", loader=loader)


#: The MOJO's model categories this scorer serves, by the problem type they answer.
PROBLEM_OF_CATEGORY = {"Binomial": "binary", "Multinomial": "multiclass", "Regression": "regression"}


class MojoScorer:
    """A loaded MOJO (binomial, multinomial or regression), scoring encoded rows.

    Its scores, per :attr:`problem`: ``binary`` the positive class's probability per row; ``multiclass`` a
    rows x classes matrix of probabilities in the order of :attr:`classes` (the response domain); ``regression``
    the prediction per row.
    """

    def __init__(self, mojo_path: str | Path, genmodel_jar: str | Path, positive_class: str = "1",
                 threads: int | None = None, native_xgboost: bool | None = None):
        import jpype

        self._jpype = jpype
        settings = ScorerSettings.load()
        self.threads = threads or settings.scoring_threads
        native_xgboost = settings.native_xgboost if native_xgboost is None else native_xgboost
        self.model = _mojo_model_class(str(genmodel_jar)).load(str(mojo_path))
        names = [str(n) for n in self.model.getNames()]
        self.n_features = int(self.model.nfeatures())
        self.feature_names = names[: self.n_features]
        self.domains: list[dict[str, int] | None] = []
        for i in range(self.n_features):
            domain = self.model.getDomainValues(i)
            self.domains.append(None if domain is None else {str(v): j for j, v in enumerate(domain)})
        category = str(self.model.getModelCategory().toString())
        if category not in PROBLEM_OF_CATEGORY:
            raise ModelError(f"the MOJO is a {category} model: binomial, multinomial and regression models are served")
        self.problem = PROBLEM_OF_CATEGORY[category]
        domain = self.model.getDomainValues(self.model.getResponseIdx())
        self.classes = [] if domain is None else [str(v) for v in domain]
        if self.problem == "binary":
            self.positive_index = self.classes.index(positive_class) if positive_class in self.classes else 1
            self._columns = (1 + self.positive_index, 2 + self.positive_index)
        elif self.problem == "multiclass":
            self.positive_index = -1
            self._columns = (1, 1 + len(self.classes))
        else:
            self.positive_index = -1
            self._columns = (0, 1)
        self.preds_size = int(self.model.getPredsSize())
        self.algo = str(self.model.getClass().getSimpleName())
        self._batch = _batch_scorer()
        self.native = NativeBooster.load(mojo_path, self, self.threads) if native_xgboost else None

    def encode(self, features: "pd.DataFrame | Mapping[str, Sequence]", rows: int | None = None) -> np.ndarray:
        """The MOJO's input matrix from conformed features (see :class:`~automlkit.schema.Conformed`):
        numbers as they are, categories as domain indices, missing as NaN.

        A category outside the model's domain is NaN too: H2O scores an unseen level as missing, and with
        NaN the MOJO's predictions equal H2O's own for every algorithm (GLM scores an out-of-range index
        differently)."""
        if rows is None:
            rows = len(features) if isinstance(features, pd.DataFrame) else len(next(iter(features.values()), []))
        matrix = np.full((rows, self.n_features), np.nan)
        for i, name in enumerate(self.feature_names):
            if name not in features:
                continue  # absent column: missing for every row
            column = features[name]
            domain = self.domains[i]
            if domain is None:
                matrix[:, i] = np.asarray(column, dtype=float)
            elif isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
                # one lookup per category, then the codes pick them (code -1 = missing = NaN)
                index = [domain.get(c, np.nan) for c in column.cat.categories]
                matrix[:, i] = np.append(np.asarray(index, dtype=float), np.nan)[column.cat.codes.to_numpy()]
            elif isinstance(column, pd.Series):
                matrix[:, i] = column.map(domain).to_numpy(dtype=float, na_value=np.nan)
            else:
                matrix[:, i] = [domain.get(v, np.nan) for v in column]
        return matrix

    def predict_proba(self, features: "pd.DataFrame | Mapping[str, Sequence]") -> np.ndarray:
        """The scores (see the class) of each row of ``features``."""
        return self.score_matrix(self.encode(features))

    def score_matrix(self, matrix: np.ndarray, native: bool = True) -> np.ndarray:
        """The scores (see the class) of each row of an encoded matrix (see :meth:`encode`): from the native
        booster for batches of an XGBoost model (``automlkit.native_xgboost``; not when ``native`` is false),
        else from the MOJO."""
        first, last = self._columns
        width = last - first
        if len(matrix) == 0:
            return np.empty((0, width)) if self.problem == "multiclass" else np.empty(0)
        if native and self.native is not None and len(matrix) >= NATIVE_MIN_ROWS:
            return self.native.probability(matrix)
        jpype = self._jpype
        if self._batch is not None:
            flat = jpype.JArray(jpype.JDouble)(np.ascontiguousarray(matrix, dtype=np.float64).ravel())
            result = np.array(self._batch.scoreColumns(self.model, flat, self.n_features, first, last, self.threads),
                              dtype=np.float64)
        else:
            rows = jpype.JArray(jpype.JDouble, 2)(matrix)
            preds = jpype.JArray(jpype.JDouble)(self.preds_size)
            result = np.empty(len(matrix) * width)
            score0 = self.model.score0
            for r in range(len(matrix)):
                score0(rows[r], preds)
                result[r * width:(r + 1) * width] = list(preds)[first:last]
        return result.reshape(len(matrix), width) if self.problem == "multiclass" else result

    def describe(self) -> dict:
        """How batches are scored: by the native booster (with its equality bound and the batch size from
        which it is used) or by the MOJO."""
        if self.native is None:
            return {"batches": "mojo"}
        return {"batches": "native-xgboost", "native_min_rows": NATIVE_MIN_ROWS, "equality_bound": EQUALITY_BOUND}

    @property
    def has_contributions(self) -> bool:
        """Whether the MOJO computes per-feature SHAP contributions (tree models: GBM, DRF, XGBoost; binomial
        and regression only, as H2O computes them)."""
        return self.problem != "multiclass" and hasattr(self.model, "makeContributionsPredictor")

    def contributions(self, matrix: np.ndarray) -> tuple[list[str], np.ndarray]:
        """SHAP contributions of each feature to each row's raw score (log-odds of the positive class for
        binomial trees, the prediction for regression ones), from the MOJO's own TreeSHAP; the last column is
        the bias term. Rows and features add up to the raw score. Raises ``ModelError`` for a model without
        contributions."""
        if not self.has_contributions:
            raise ModelError(f"{self.algo} has no per-feature contributions")
        jpype = self._jpype
        predictor = self.model.makeContributionsPredictor()  # one per call: not shared between threads
        names = [str(n) for n in predictor.getContributionNames()]
        out = np.empty((len(matrix), len(names)))
        rows = jpype.JArray(jpype.JDouble, 2)(np.ascontiguousarray(matrix, dtype=np.float64))
        for r in range(len(matrix)):
            out[r] = np.asarray(predictor.calculateContributions(rows[r]), dtype=np.float64)
        return names, out
