"""The MLflow pyfunc flavour of a trained model: a thin wrapper around :class:`~automlkit.scoring.ScoringModel`.

Loads and predicts with no H2O cluster: the MOJO and ``h2o-genmodel.jar`` are the model's artifacts.
"""

from __future__ import annotations

import os

import mlflow.pyfunc
import pandas as pd

from .scoring import ModelMeta, ScoringModel

#: The model this process loaded last, by its MOJO file. Spark's local mode (``mlflow.pyfunc.spark_udf``) loads
#: the model again for every task, and a load reads the MOJO and checks the native path (0.6 s measured); a
#: Python worker reuses the one it has. One entry: a process serving another version keeps only that one.
_LAST_LOADED: dict[tuple, ScoringModel] = {}


class MojoClassifier(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: ``predict`` returns ``probability`` (positive class) and ``label`` per row."""

    scoring_model: ScoringModel

    def load_context(self, context) -> None:
        """Load the MOJO into the in-process JVM (once per process for the same model files)."""
        artifacts = context.artifacts
        mojo = os.stat(artifacts["mojo"])
        key = (os.path.realpath(artifacts["mojo"]), mojo.st_size, mojo.st_mtime_ns)
        if key not in _LAST_LOADED:
            model = ScoringModel(artifacts["mojo"], artifacts["genmodel_jar"], ModelMeta.read(artifacts["meta"]))
            _LAST_LOADED.clear()
            _LAST_LOADED[key] = model
        self.scoring_model = _LAST_LOADED[key]

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Score ``model_input`` row for row; raises ``DataContractError`` for bad input, or with the parameter
        ``bad_rows="null"`` answers null scores and the ``reason`` for the rows that break the contract."""
        return self.scoring_model.predict(pd.DataFrame(model_input), **(params or {}))
