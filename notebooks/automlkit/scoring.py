"""The scoring object of a trained model: raw rows in; checked, scored, labelled, explained and compared
with the training data out.

:class:`ScoringModel` is what the pyfunc model's ``predict`` and the API both call: it owns conforming
(``automlkit.schema``), scoring (the in-process MOJO, ``automlkit.mojo``), labels (the threshold),
contributions and drift. It needs no H2O cluster: the MOJO and ``h2o-genmodel.jar`` are the model's artifacts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .drift import batch_drift
from .estimation import CalibrationMap
from .errors import DataContractError, ModelError, ParameterError, Problem
from .mojo import MojoScorer
from .schema import Conformed, Schema, conform, conform_records, decode_csv, parse_csv, whole_number_values

#: The file of a logged model that holds its :class:`ModelMeta`.
META_FILE = "model_meta.json"
#: Contributions per row that an explanation lists, and the rows one call may explain.
TOP_CONTRIBUTIONS = 5
MAX_EXPLAIN_ROWS = 1000
#: Rows :meth:`ScoringModel.warm_up` scores through the MOJO: the JVM compiles its scoring code as it runs,
#: and before ~10,000 rows a row costs several times more (the first seconds of `make bench`'s load test had
#: a single-row p99 of 600-1,600 ms, 56 ms after them).
WARM_UP_ROWS = 20_000


class TooManyToExplain(ParameterError):
    """More rows than :data:`MAX_EXPLAIN_ROWS` were asked to be explained."""

    def __init__(self, rows: int):
        super().__init__(f"explain=true explains at most {MAX_EXPLAIN_ROWS} rows at once; this request has {rows}")


@dataclass
class ModelMeta:
    """What a served model needs besides the MOJO: its schema, threshold (binary models only) and holdout
    metrics, and how it was chosen (``automlkit.selection``: the rule, the noise band, why it won, what it
    costs to serve)."""

    schema: Schema
    threshold: float | None
    holdout_metrics: dict
    h2o_model_id: str = ""
    selection: dict = field(default_factory=dict)
    #: the leader's top variables by H2O's scaled importance (``variable``, ``scaled_importance``); empty for
    #: models without importances
    variable_importance: list[dict] = field(default_factory=list)
    #: the holdout's calibration map of the scores (``automlkit.estimation``: monitoring's estimated
    #: performance); None for regression and for models saved before maps were stored
    calibration: CalibrationMap | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"schema": self.schema.to_dict(), "threshold": self.threshold,
                "holdout_metrics": self.holdout_metrics, "h2o_model_id": self.h2o_model_id,
                "selection": self.selection, "variable_importance": self.variable_importance,
                "calibration": self.calibration.to_dict() if self.calibration is not None else None}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelMeta":
        """Inverse of :meth:`to_dict`."""
        threshold = data.get("threshold")
        return cls(schema=Schema.from_dict(data["schema"]), threshold=None if threshold is None else float(threshold),
                   holdout_metrics=data.get("holdout_metrics", {}), h2o_model_id=data.get("h2o_model_id", ""),
                   selection=data.get("selection") or {}, variable_importance=data.get("variable_importance") or [],
                   calibration=CalibrationMap.from_dict(data.get("calibration")))

    @classmethod
    def read(cls, path: str | Path) -> "ModelMeta":
        """Load from a JSON file."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def answer_columns(schema: Schema) -> list[tuple[str, str]]:
    """The model's answer columns and their MLflow types, per problem (what :meth:`ScoringModel.outputs` makes):
    binary ``probability``, ``label``; multiclass ``label``, ``probability_<class>``; regression ``prediction``."""
    if schema.problem == "regression":
        return [("prediction", "double")]
    if schema.problem == "binary":
        return [("probability", "double"), ("label", "long")]
    return [("label", "string"), *[(f"probability_{c}", "double") for c in schema.classes]]


@dataclass
class Scored:
    """Scored rows, in input order, with what the caller needs to write them back."""

    #: the answer's columns per row, in order (:meth:`ScoringModel.outputs`): binary ``probability``,
    #: ``label``; multiclass ``label`` and ``probability_<class>`` per class; regression ``prediction``
    columns: dict[str, np.ndarray]
    #: the id column's values (whole numbers as ints), when the input has the column
    ids: list | None
    warnings: list[Problem]
    #: what ``?rank=true`` orders by, largest first: the positive class's probability (binary), the predicted
    #: class's (multiclass), the prediction (regression)
    rank_by: np.ndarray = field(default_factory=lambda: np.empty(0))
    problem: str = "binary"
    classes: list[str] = field(default_factory=list)
    #: per-feature PSI against the training distribution, when asked for
    drift: list[dict] | None = None
    #: per-row top contributions (or why there are none), when asked for
    explain: dict | None = None
    #: the input as received: the CSV text (decoded), or the JSON records
    text: str | None = field(default=None, repr=False)
    records: list[dict] | None = field(default=None, repr=False)
    #: the conformed features (``Conformed.features``), kept for monitoring's bin counts
    features: "pd.DataFrame | dict[str, list] | None" = field(default=None, repr=False)
    #: the input's target column as sent, when a frame carried it (monitoring's realised metrics); JSON
    #: records keep theirs in :attr:`records`
    truth: "pd.Series | None" = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        """How many rows were scored."""
        return len(self.rank_by)

    def ranking(self) -> np.ndarray:
        """Row positions ordered by :attr:`rank_by`, largest first (ties keep input order)."""
        return np.argsort(-self.rank_by, kind="stable")


class ScoringModel:
    """A loaded model: its MOJO scorer and its :class:`ModelMeta`."""

    def __init__(self, mojo_path: str | Path, genmodel_jar: str | Path, meta: ModelMeta):
        self.meta = meta
        self.scorer = MojoScorer(mojo_path, genmodel_jar, meta.schema.positive_class)
        if self.scorer.problem != meta.schema.problem:
            raise ModelError(f"the MOJO is a {self.scorer.problem} model but its schema says {meta.schema.problem}")

    @property
    def schema(self) -> Schema:
        """The data contract the model was trained with."""
        return self.meta.schema

    @property
    def algorithm(self) -> str:
        """The MOJO's model class (``GbmMojoModel``, ``StackedEnsembleMojoModel``, ...)."""
        return self.scorer.algo

    @property
    def problem(self) -> str:
        """``binary``, ``multiclass`` or ``regression``."""
        return self.schema.problem

    def labels(self, probability: np.ndarray) -> np.ndarray:
        """1 where ``probability`` (of the positive class) reaches the model's threshold, else 0."""
        return (probability >= self.meta.threshold).astype(np.int64)

    def outputs(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """The answer's columns from the scorer's scores (see :class:`Scored`); multiclass probabilities in
        the order of the schema's classes."""
        if self.problem == "binary":
            return {"probability": scores, "label": self.labels(scores)}
        if self.problem == "regression":
            return {"prediction": scores}
        classes = np.array(self.scorer.classes, dtype=object)
        out = {"label": classes[np.argmax(scores, axis=1)] if len(scores) else classes[:0]}
        out.update({f"probability_{c}": scores[:, i] for i, c in enumerate(self.scorer.classes)})
        return out

    # ----------------------------------------------------------------------------------------- inputs

    def score_frame(self, frame: pd.DataFrame, drift: bool = False, explain: bool = False) -> Scored:
        """Score a DataFrame of raw rows; raises ``DataContractError`` naming columns and rows."""
        conformed = conform(frame, self.schema)
        id_column = self.schema.id_column
        ids = _typed_ids(frame[id_column]) if id_column in frame.columns else None
        scored = self._score(conformed, len(frame), ids, drift, explain)
        if self.schema.target in frame.columns:
            scored.truth = frame[self.schema.target]
        return scored

    def score_csv(self, raw: bytes, max_bytes: int | None = None, max_rows: int | None = None,
                  drift: bool = False, explain: bool = False) -> Scored:
        """Score a CSV (or gzip CSV) body within the limits; the text is kept for writing the answer."""
        text = decode_csv(raw, max_bytes)
        numeric = [c.name for c in self.schema.columns if c.kind == "numeric"]
        scored = self.score_frame(parse_csv(text, max_rows, numeric=numeric), drift, explain)
        scored.text = text
        return scored

    def score_records(self, records: list[dict], drift: bool = False, explain: bool = False) -> Scored:
        """Score JSON records (objects of column: value); raises ``DataContractError`` naming columns and rows."""
        conformed = conform_records(records, self.schema)
        id_column = self.schema.id_column
        ids = [r.get(id_column) for r in records] if id_column and any(id_column in r for r in records) else None
        scored = self._score(conformed, len(records), ids, drift, explain)
        scored.records = records
        return scored

    def predict(self, frame: pd.DataFrame, bad_rows: str = "raise") -> pd.DataFrame:
        """The pyfunc answer, row for row: binary ``probability`` and ``label``; multiclass ``label`` and a
        ``probability_<class>`` column per class; regression ``prediction``. A row that breaks the data contract
        raises ``DataContractError`` (``bad_rows="raise"``) or, with ``bad_rows="null"``, gets null scores and
        the reason in a ``reason`` column (empty for the rows scored), so one bad row does not fail the rest."""
        if bad_rows == "raise":
            return pd.DataFrame(self.score_frame(frame).columns)
        if bad_rows != "null":
            raise ParameterError(f"bad_rows must be 'raise' or 'null', not {bad_rows!r}")
        frame = frame.reset_index(drop=True)
        empty = np.empty((0, len(self.scorer.classes))) if self.problem == "multiclass" else np.empty(0)
        template = pd.DataFrame(self.outputs(empty))
        parts = []
        for start, stop, result in self._salvage(frame, 0, len(frame)):
            if isinstance(result, str):
                parts.append(pd.DataFrame({"reason": [result] * (stop - start)}))
            else:
                parts.append(pd.DataFrame(result.columns).assign(reason=""))
        answer = pd.concat([template.assign(reason=""), *parts], ignore_index=True)
        nullable = {"i": "Int64", "f": "Float64", "b": "boolean"}
        return answer.astype({name: nullable.get(template[name].dtype.kind, object) for name in template}
                             | {"reason": object})

    def _salvage(self, frame: pd.DataFrame, start: int, stop: int) -> Iterator[tuple[int, int, Scored | str]]:
        """Rows ``start:stop`` of ``frame`` in order: (start, stop, Scored) for runs of good rows and
        (row, row + 1, reason) for each row that breaks the contract; a problem that names no row raises."""
        try:
            scored = self.score_frame(frame.iloc[start:stop].reset_index(drop=True))
        except DataContractError as exc:
            if not exc.about_rows:
                raise
            if stop - start == 1:
                yield start, stop, exc.reason()
                return
            cuts = exc.cuts(1, stop - start)
            for first, last in zip(cuts, cuts[1:]):
                yield from self._salvage(frame, start + first, start + last)
        else:
            yield start, stop, scored

    def warm_up(self, rows: int = WARM_UP_ROWS) -> float:
        """Score ``rows`` made-up rows (:meth:`Schema.sample_rows`) through every path a request takes: the
        MOJO one row at a time and in batches, and a CSV through the native booster, so that the first requests after a
        model goes live do not pay for compiling them. Returns the seconds it took."""
        started = time.perf_counter()
        sample = self.schema.sample_rows(min(rows, 1000))
        matrix = self.scorer.encode(conform(sample, self.schema).features, len(sample))
        for record in sample.head(50).to_dict("records"):
            self.score_records([record])
        for _ in range(max(1, rows // len(matrix))):
            self.scorer.score_matrix(matrix, native=False)
        self.score_csv(sample.to_csv(index=False).encode())  # the CSV reader's first call costs ~30 ms more
        return time.perf_counter() - started

    # ------------------------------------------------------------------------------------------ work

    def _score(self, conformed: Conformed, rows: int, ids: list | None, drift: bool, explain: bool) -> Scored:
        if explain and self.scorer.has_contributions and rows > MAX_EXPLAIN_ROWS:  # refuse before the work
            raise TooManyToExplain(rows)
        matrix = self.scorer.encode(conformed.features, rows)
        scores = self.scorer.score_matrix(matrix)
        rank_by = scores.max(axis=1, initial=-np.inf) if self.problem == "multiclass" else scores
        report = batch_drift(self.schema.drift_reference, conformed.features, rows) if drift else None
        return Scored(self.outputs(scores), ids, conformed.warnings, rank_by=rank_by, problem=self.problem,
                      classes=list(self.scorer.classes) if self.problem == "multiclass" else [], drift=report,
                      explain=self.explanations(matrix) if explain else None, features=conformed.features)

    def explanations(self, matrix: np.ndarray) -> dict:
        """Per row, the features that pushed its score most (SHAP contributions to the log-odds), or why the
        model cannot say."""
        scorer = self.scorer
        if self.problem == "multiclass":
            return {"available": False,
                    "message": "H2O computes per-feature contributions for binary and regression models, not for "
                               "multiclass ones"}
        if not scorer.has_contributions:
            return {"available": False,
                    "message": f"this model ({scorer.algo.removesuffix('MojoModel')}) has no per-feature "
                               "contributions; tree models (GBM, DRF, XGBoost) have them"}
        names, values = scorer.contributions(matrix)
        features, bias = values[:, :-1], values[:, -1]
        top = np.argsort(-np.abs(features), axis=1, kind="stable")[:, :TOP_CONTRIBUTIONS]
        shown = np.take_along_axis(features, top, axis=1)
        other = features.sum(axis=1) - shown.sum(axis=1)
        rows = [{"bias": float(bias[r]), "other": float(other[r]),
                 "top": [{"feature": names[j], "contribution": float(features[r, j])} for j in top[r]]}
                for r in range(len(matrix))]
        unit = ("log-odds of the positive class: bias + top + other = the row's logit" if self.problem == "binary"
                else "the prediction's units: bias + top + other = the row's prediction")
        return {"available": True, "unit": unit, "rows": rows}


def scores_of(predictions: pd.DataFrame, schema: Schema) -> np.ndarray:
    """The scores (as the MOJO scorer gives them) back from a pyfunc answer (:meth:`ScoringModel.predict`):
    binary the ``probability``; multiclass the ``probability_<class>`` columns in the order of the schema's
    classes; regression the ``prediction``."""
    if schema.problem == "multiclass":
        return predictions[[f"probability_{c}" for c in schema.classes]].to_numpy(dtype=float)
    return predictions["probability" if schema.problem == "binary" else "prediction"].to_numpy(dtype=float)


def _typed_ids(values: pd.Series) -> list:
    """Ids from CSV text as numbers when they all are whole numbers, else as they were sent."""
    ids = whole_number_values(values)
    return values.tolist() if ids is None else ids
