"""The MLflow pyfunc flavour of a trained model: a thin wrapper around :class:`~automlkit.scoring.ScoringModel`.

Loads and predicts with no H2O cluster: the MOJO and ``h2o-genmodel.jar`` are the model's artifacts.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from .scoring import ModelMeta, ScoringModel


class MojoClassifier(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: ``predict`` returns ``probability`` (positive class) and ``label`` per row."""

    scoring_model: ScoringModel

    def load_context(self, context) -> None:
        """Load the MOJO into the in-process JVM."""
        artifacts = context.artifacts
        self.scoring_model = ScoringModel(artifacts["mojo"], artifacts["genmodel_jar"],
                                          ModelMeta.read(artifacts["meta"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Score ``model_input`` row for row; raises ``DataContractError`` for bad input."""
        return self.scoring_model.predict(pd.DataFrame(model_input))
