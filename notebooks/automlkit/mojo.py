"""Score an H2O MOJO in this process through a persistent JVM (JPype over ``h2o-genmodel.jar``).

No H2O cluster is needed: the JVM holds only the genmodel classes and the MOJO itself.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import canonical_levels

log = logging.getLogger(__name__)
_jvm_lock = threading.Lock()


def _start_jvm(genmodel_jar: str) -> None:
    """Start the process's JVM with ``genmodel_jar`` on its class path (once per process)."""
    import jpype

    with _jvm_lock:
        if jpype.isJVMStarted():
            return
        options = os.environ.get("MOJO_JVM_OPTS", "-Xmx1g -XX:+UseSerialGC").split()
        jpype.startJVM(*options, classpath=[str(genmodel_jar)], convertStrings=True)
        log.info("started the in-process JVM for MOJO scoring (%s)", " ".join(options))


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


class MojoScorer:
    """A loaded MOJO of a binomial model, scoring pandas frames of typed features."""

    def __init__(self, mojo_path: str | Path, genmodel_jar: str | Path, positive_class: str = "1"):
        import jpype

        self._jpype = jpype
        self.model = _mojo_model_class(str(genmodel_jar)).load(str(mojo_path))
        names = [str(n) for n in self.model.getNames()]
        self.n_features = int(self.model.nfeatures())
        self.feature_names = names[: self.n_features]
        self.domains: list[dict[str, int] | None] = []
        for i in range(self.n_features):
            domain = self.model.getDomainValues(i)
            self.domains.append(None if domain is None else {str(v): j for j, v in enumerate(domain)})
        response_domain = [str(v) for v in self.model.getDomainValues(self.model.getResponseIdx())]
        if len(response_domain) != 2:
            raise ValueError(f"the MOJO is not a binomial model (response domain {response_domain})")
        self.positive_index = response_domain.index(positive_class) if positive_class in response_domain else 1
        self.preds_size = int(self.model.getPredsSize())
        self.algo = str(self.model.getClass().getSimpleName())

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """The MOJO's input matrix: numbers as they are, categories as domain indices, missing as NaN."""
        matrix = np.full((len(features), self.n_features), np.nan)
        for i, name in enumerate(self.feature_names):
            if name not in features.columns:
                continue  # absent column: missing for every row
            column = features[name]
            domain = self.domains[i]
            if domain is None:
                matrix[:, i] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            else:
                matrix[:, i] = canonical_levels(column).map(domain).to_numpy(dtype=float, na_value=np.nan)
        return matrix

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for each row of ``features``."""
        matrix = self.encode(features)
        if len(matrix) == 0:
            return np.empty(0)
        jpype = self._jpype
        rows = jpype.JArray(jpype.JDouble, 2)(matrix)
        preds = jpype.JArray(jpype.JDouble)(self.preds_size)
        out = np.empty(len(matrix))
        score0 = self.model.score0
        column = 1 + self.positive_index
        for r in range(len(matrix)):
            score0(rows[r], preds)
            out[r] = preds[column]
        return out
