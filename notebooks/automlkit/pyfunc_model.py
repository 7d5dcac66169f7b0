"""The MLflow pyfunc flavour of a trained model: checks input against the schema, scores the MOJO.

Loads and predicts with no H2O cluster: the MOJO and ``h2o-genmodel.jar`` are the model's artifacts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from .mojo import MojoScorer
from .schema import Schema, conform

META_FILE = "model_meta.json"


@dataclass
class ModelMeta:
    """What a served model needs besides the MOJO: its schema, threshold and holdout metrics."""

    schema: Schema
    threshold: float
    holdout_metrics: dict
    h2o_model_id: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"schema": self.schema.to_dict(), "threshold": self.threshold,
                "holdout_metrics": self.holdout_metrics, "h2o_model_id": self.h2o_model_id}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelMeta":
        """Inverse of :meth:`to_dict`."""
        return cls(schema=Schema.from_dict(data["schema"]), threshold=float(data["threshold"]),
                   holdout_metrics=data.get("holdout_metrics", {}), h2o_model_id=data.get("h2o_model_id", ""))

    @classmethod
    def read(cls, path: str | Path) -> "ModelMeta":
        """Load from a JSON file."""
        return cls.from_dict(json.loads(Path(path).read_text()))


class ScoringModel:
    """A MOJO plus its metadata: raw rows in, probability and label out."""

    def __init__(self, mojo_path: str | Path, genmodel_jar: str | Path, meta: ModelMeta):
        self.meta = meta
        self.scorer = MojoScorer(mojo_path, genmodel_jar, meta.schema.positive_class)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score raw input rows; raises :class:`~automlkit.errors.DataContractError` for bad input."""
        conformed = conform(frame, self.meta.schema)
        probability = self.scorer.predict_proba(conformed.features)
        return pd.DataFrame({"probability": probability,
                             "label": (probability >= self.meta.threshold).astype(int)})


class MojoClassifier(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: ``predict`` returns ``probability`` (positive class) and ``label`` per row."""

    def load_context(self, context) -> None:
        """Load the MOJO into the in-process JVM."""
        artifacts = context.artifacts
        self.model = ScoringModel(artifacts["mojo"], artifacts["genmodel_jar"], ModelMeta.read(artifacts["meta"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Score ``model_input`` row for row."""
        return self.model.predict(pd.DataFrame(model_input))
