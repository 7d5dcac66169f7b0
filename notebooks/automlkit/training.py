"""Training steps called by ``notebooks/train.ipynb``: data, AutoML, evaluation and MLflow logging."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal, Union

import h2o
import mlflow
import numpy as np
import pandas as pd
import yaml
from h2o.automl import H2OAutoML
from h2o.estimators import H2OStackedEnsembleEstimator, H2OXGBoostEstimator

import matplotlib.pyplot as plt
from pydantic import ConfigDict, ValidationError, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from . import plots
from .native_xgboost import EQUALITY_BOUND
from .scoring import META_FILE, ModelMeta, answer_columns, scores_of
from .selection import RULES, Candidate, Selection, candidates_frame, cv_standard_error, h2o_serving_cost, select
from .errors import DataContractError, ModelError, ParameterError, Problem
from .drift import fit_references
from .h2o_cluster import key_tag
from .estimation import CalibrationMap, fit_calibration
from .features import AUTO_GROUPS, EncodingChoice, choose_target_encodings, fit_target_encodings
from .metrics import max_f1_threshold, problem_metrics
from .problems import DECISION_METRIC, DEFAULT_SORT_METRIC, METRIC_DIRECTIONS, PROBLEMS
from .schema import Schema, canonical_levels, conform, csv_fingerprint, infer_schema, load_training_data
from .settings import DEFAULT_MODEL_NAME, TrainingSettings
from .split import holdout_mask

log = logging.getLogger(__name__)

#: What the logged pyfunc model imports (its code travels with it, ``code_paths``), at the versions
#: pyproject.toml pins: a fresh environment built by MLflow's environment managers can load and serve it.
#: (scikit-learn is not among them: only training imports it.) Java 17 must be on the machine (JPype).
PYFUNC_PACKAGES = ("mlflow", "pandas", "numpy", "JPype1", "pydantic-settings", "xgboost-cpu")
PYFUNC_REQUIREMENTS = [f"{name}=={importlib.metadata.version(name)}" for name in PYFUNC_PACKAGES]


def _yaml_text(value):
    """A list parameter given as text (papermill's ``-p`` passes text, ``make train`` and the schedule YAML):
    read as YAML, which JSON is too; an empty text is the empty list."""
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value) if value.strip() else []
    except yaml.YAMLError:
        raise ValueError("not YAML or JSON text") from None


#: Notebook parameters whose value is a list (of column or algorithm names), accepted as YAML/JSON text too.
LIST_PARAMETERS = ("categorical_columns", "exclude_algos")


@pydantic_dataclass(config=ConfigDict(coerce_numbers_to_str=True, extra="forbid"))
class TrainParams:
    """The notebook's parameters, validated: a value of the wrong shape or type is refused by name (see
    :meth:`read`); lists may be given as YAML/JSON text (``-p exclude_algos '[GLM]'``)."""

    data_path: str
    #: the column to predict (see :meth:`read` for the shipped example's default)
    target: str
    #: ``auto`` (decided from the target, ``automlkit.schema.decide_problem``), ``binary``, ``multiclass``,
    #: ``regression``
    problem: str = "auto"
    id_column: str = "id"
    categorical_columns: list[str] = field(default_factory=list)
    #: ``auto`` (``features.choose_target_encodings`` picks the columns from the data) or a list of columns
    target_encoding: Union[Literal["auto"], list[str]] = "auto"
    target_encoding_smoothing: float = 50.0
    tuned_xgboost: bool = True
    experiment_name: str = DEFAULT_MODEL_NAME
    model_name: str = DEFAULT_MODEL_NAME
    max_runtime_secs: int = 120
    max_models: int = 0
    nfolds: int = 5
    seed: int = 1
    holdout_fraction: float = 0.2
    #: leaderboard order and champion decision; empty: the problem's usual (``metrics.DEFAULT_SORT_METRIC``)
    sort_metric: str = ""
    #: how the leader is chosen among the leaderboard (``automlkit.selection``): ``best`` or ``within_noise``
    selection: str = "within_noise"
    #: a new version within one standard error of the champion's holdout metric and faster to score may take
    #: the alias (False: only a strictly better one)
    promote_within_noise: bool = True
    exclude_algos: list[str] = field(default_factory=list)
    h2o_url: str = ""
    h2o_nodes: int = 0
    sample_rows: int = 0
    run_id: str = ""

    @field_validator(*LIST_PARAMETERS, mode="before")
    @classmethod
    def _list_text(cls, value):
        return _yaml_text(value)

    @field_validator("target_encoding", mode="before")
    @classmethod
    def _auto_or_list(cls, value):
        value = value if isinstance(value, str) and value.strip() == "auto" else _yaml_text(value)
        if isinstance(value, str) and value.strip() == "auto":
            return "auto"
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected auto or a list of column names (YAML/JSON text such as '[a, b]'), "
                             f"got {value!r}")
        return value

    @field_validator("target")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name the column to predict (-p target NAME); only the shipped example (a run that "
                             "names no data_path) has a default")
        return value

    @field_validator("selection")
    @classmethod
    def _rule(cls, value: str) -> str:
        if value not in RULES:
            raise ValueError(f"must be one of {', '.join(RULES)}, got {value!r}")
        return value

    @field_validator("problem")
    @classmethod
    def _problem(cls, value: str) -> str:
        if value not in ("auto", *PROBLEMS):
            raise ValueError(f"must be auto or one of {', '.join(PROBLEMS)}, got {value!r}")
        return value

    @classmethod
    def read(cls, settings: TrainingSettings, **values) -> "TrainParams":
        """The parameters of a run from the notebook's values (text, or typed by YAML), the empty ones taken
        from ``settings``: no ``data_path`` trains the shipped example
        (:meth:`~automlkit.settings.TrainingSettings.training_data`); no ``experiment_name`` or ``model_name``, the settings'. Raises
        :class:`ParameterError` naming each parameter that is unknown or of the wrong shape or type."""
        values = dict(values)
        values["data_path"], values["target"] = settings.training_data(values.get("data_path") or "",
                                                                        values.get("target") or "")
        values["experiment_name"] = values.get("experiment_name") or settings.experiment_name
        values["model_name"] = values.get("model_name") or settings.model_name
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ParameterError("invalid parameters: " + "; ".join(_parameter_error(e) for e in exc.errors()))\
                from None


    def for_problem(self, problem: str) -> "TrainParams":
        """These parameters once the data decided the problem: the problem set, and the sort metric the
        problem's usual one when none was given."""
        return replace(self, problem=problem, sort_metric=self.sort_metric or DEFAULT_SORT_METRIC[problem])

    @property
    def decision_metric(self) -> str:
        """The holdout metric that decides champion vs challenger: the sort metric when it is one of the
        problem's holdout metrics, else the problem's usual one."""
        problem = "binary" if self.problem == "auto" else self.problem
        metric = self.sort_metric.lower()
        return metric if metric in METRIC_DIRECTIONS[problem] else DECISION_METRIC[problem]

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger :attr:`decision_metric` is better."""
        return METRIC_DIRECTIONS["binary" if self.problem == "auto" else self.problem][self.decision_metric]


def _parameter_error(error: dict) -> str:
    """One pydantic error as ``name: what is wrong, got VALUE``."""
    name = ".".join(str(part) for part in error.get("loc", ())) or "parameters"
    if error.get("type") == "unexpected_keyword_argument":
        return f"{name}: not a parameter of the training notebook"
    if error.get("type") in ("missing", "missing_argument"):
        return f"{name}: missing"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    shown = "" if "got " in message or "input" not in error else f", got {error['input']!r}"
    return f"{name}: {message}{shown}"


@dataclass
class PreparedData:
    """Training data split into the AutoML part and the fixed holdout, with its schema and fingerprint.

    ``train_encoded`` holds the training rows' out-of-fold target encodings (the holdout and new rows get
    the schema's full tables, through :func:`~automlkit.schema.conform`).
    """

    frame: pd.DataFrame
    schema: Schema
    holdout: np.ndarray
    fingerprint: dict
    train_encoded: pd.DataFrame | None = None
    #: which columns got a target encoding and why: one line, and (``target_encoding: auto``) per column
    encoding_reason: str = ""
    encoding_choices: list[EncodingChoice] = field(default_factory=list)

    @property
    def train_frame(self) -> pd.DataFrame:
        return self.frame[~self.holdout].reset_index(drop=True)

    @property
    def holdout_frame(self) -> pd.DataFrame:
        return self.frame[self.holdout].reset_index(drop=True)

    def input_example(self, rows: int = 5) -> pd.DataFrame:
        """A few holdout rows as a request carries them: the id (when there is one) and the features."""
        columns = ([self.schema.id_column] if self.schema.id_column else []) + self.schema.feature_names
        return self.holdout_frame[columns].head(rows)


def prepare_data(params: TrainParams) -> PreparedData:
    """Load, check and sample the data, learn its schema (deciding the problem type), and mark the hash-fixed
    holdout rows."""
    frame = load_training_data(params.data_path, params.target, params.id_column, params.sample_rows, params.seed)
    id_column = params.id_column if params.id_column in frame.columns else None
    holdout = holdout_mask(frame, id_column, params.holdout_fraction)
    # learned from the rows the model learns from: levels only the holdout has are unseen to the model
    schema = infer_schema(frame[~holdout], params.target, params.id_column, params.categorical_columns,
                          params.problem)
    schema.target_encodings, train_encoded, reason, choices = target_encodings(frame[~holdout], schema, params)
    schema.drift_reference = fit_references(conform(frame[~holdout], schema).features,
                                            {c.name: c.kind for c in schema.columns})
    fingerprint = {
        "data_path": str(params.data_path),
        "data_sha256": csv_fingerprint(params.data_path),
        "rows_used": int(len(frame)),
        "train_rows": int((~holdout).sum()),
        "holdout_rows": int(holdout.sum()),
        "columns": len(frame.columns),
        "ignored_columns": ", ".join(schema.ignored_columns) or "none",
        "target_encoded": ", ".join(e.column for e in schema.target_encodings) or "none",
    }
    if schema.is_binary:
        fingerprint["positive_rate"] = float(schema.is_positive(frame[schema.target]).mean())
    return PreparedData(frame=frame, schema=schema, holdout=holdout, fingerprint=fingerprint,
                        train_encoded=train_encoded, encoding_reason=reason, encoding_choices=choices)


def target_encodings(train: pd.DataFrame, schema: Schema, params: TrainParams
                     ) -> tuple[list, pd.DataFrame | None, str, list[EncodingChoice]]:
    """The target encodings of a run, learned from the training rows ``train``: the columns the user named
    (an error names each one that cannot have one), or under ``auto`` those
    :func:`~automlkit.features.choose_target_encodings` picks, none for a multiclass target. Returns the
    encodings, the training rows' out-of-fold values (None without encodings), why, and the per-column
    choices of ``auto``."""
    smoothing = params.target_encoding_smoothing
    if params.target_encoding == "auto":
        if schema.problem == "multiclass":
            return [], None, (f"auto: none, the target has {len(schema.classes)} classes: an encoding is a level's "
                              "rate of one class or its mean target, so a multiclass target would need one per "
                              "class and column; the model uses its categorical columns as they are"), []
        columns = {c.name: (canonical_levels(train[c.name]), train[c.name] if c.kind == "numeric" else None)
                   for c in schema.columns}
        encodings, encoded, choices = choose_target_encodings(columns, truth(train, schema), smoothing,
                                                              seed=params.seed)
        names = ", ".join(e.column for e in encodings)
        reason = (f"auto: {names}: their levels explain more of the target than {AUTO_GROUPS} groups of them do"
                  if encodings else f"auto: none, no column's levels explain more of the target than "
                                    f"{AUTO_GROUPS} groups of it do")
        return encodings, (encoded if encodings else None), reason, choices
    if not params.target_encoding:
        return [], None, "none: target_encoding is []", []
    unknown = sorted(set(params.target_encoding) - set(schema.feature_names))
    if unknown:
        raise DataContractError([Problem(c, "named for target encoding but not a feature") for c in unknown])
    if schema.problem == "multiclass":
        raise DataContractError([Problem(c, "target encoding needs a binary or numeric target; this one has "
                                            f"{len(schema.classes)} classes") for c in params.target_encoding])
    encodings, encoded = fit_target_encodings({c: canonical_levels(train[c]) for c in params.target_encoding},
                                              truth(train, schema), smoothing=smoothing, seed=params.seed)
    return encodings, encoded, f"named by target_encoding: {', '.join(params.target_encoding)}", []


def truth(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """The target in the form the problem's metrics take: binary 1 where it is the positive class, else 0;
    multiclass the class (canonical level text); regression the number."""
    if schema.problem == "binary":
        return schema.is_positive(frame[schema.target])
    if schema.problem == "multiclass":
        return canonical_levels(frame[schema.target]).to_numpy(dtype=object)
    return pd.to_numeric(frame[schema.target], errors="coerce").to_numpy(dtype=float)


def to_h2o_frame(frame: pd.DataFrame, schema: Schema, with_target: bool = True,
                 encoded: pd.DataFrame | None = None) -> h2o.H2OFrame:
    """An H2OFrame of the model's features (typed exactly as the scorer types them) and the target.

    ``encoded`` replaces the derived features (the training rows' out-of-fold target encodings).
    """
    features = conform(frame, schema).features
    if encoded is not None:
        for name in encoded.columns:
            features[name] = encoded[name].to_numpy()
    types = {c.name: ("enum" if c.kind == "categorical" else "real") for c in schema.columns}
    types.update({e.name: "real" for e in schema.target_encodings})
    if with_target and schema.problem == "regression":
        features[schema.target] = truth(frame, schema)
        types[schema.target] = "real"
    elif with_target:
        features[schema.target] = canonical_levels(frame[schema.target]).to_numpy()
        types[schema.target] = "enum"
    # H2OFrame writes a missing category as the text "nan": read it back as NA, as the scorer has it
    return h2o.H2OFrame(features, column_types=types, na_strings=["nan"])


#: A regularised XGBoost that does well on tabular data with a few strong features and target-encoded
#: codes (shallow trees, slow learning rate, row and column sampling, L2). AutoML's own XGBoost grid
#: rarely reaches it within a short budget; it is added to what AutoML stacks when ``tuned_xgboost`` is on.
TUNED_XGBOOST = dict(ntrees=600, learn_rate=0.03, max_depth=6, min_child_weight=20.0, sample_rate=0.8,
                     col_sample_rate_per_tree=0.6, reg_lambda=10.0, tree_method="hist")


def cv_settings(params: TrainParams, seed: int | None = None) -> dict:
    """Cross-validation of a model trained beside AutoML: the same folds, predictions kept for stacking."""
    return dict(nfolds=params.nfolds, fold_assignment="Modulo", keep_cross_validation_predictions=True,
                seed=params.seed if seed is None else seed)


def stack(base_models: list, train: h2o.H2OFrame, schema: Schema, params: TrainParams,
          model_id: str | None = None) -> H2OStackedEnsembleEstimator:
    """A stacked ensemble of cross-validated ``base_models`` (models or ids): a GLM on their logits (on their
    predictions for regression)."""
    stacked = H2OStackedEnsembleEstimator(model_id=model_id, base_models=base_models,
                                          metalearner_nfolds=params.nfolds, metalearner_fold_assignment="Modulo",
                                          metalearner_transform="NONE" if schema.problem == "regression" else "Logit",
                                          seed=params.seed)
    stacked.train(x=schema.model_features, y=schema.target, training_frame=train)
    return stacked


@dataclass
class Trained:
    """What training produced: every model ranked on cross-validated metrics (the leader is chosen from
    them by :func:`choose_leader`)."""

    board: pd.DataFrame
    automl: H2OAutoML


def run_automl(train: h2o.H2OFrame, schema: Schema, params: TrainParams) -> Trained:
    """H2O AutoML with cross-validation on the training part, within ``max_runtime_secs`` in all.

    With ``tuned_xgboost`` a regularised XGBoost (:data:`TUNED_XGBOOST`) is trained first with the same
    folds, AutoML gets the rest of the budget, and a stacked ensemble of AutoML's base models and that
    XGBoost joins the leaderboard, ranked on the cross-validated ``sort_metric``.
    """
    started = time.monotonic()
    tag = key_tag(params.run_id or (mlflow.active_run().info.run_id if mlflow.active_run() else ""))
    extra = []
    if params.tuned_xgboost and "XGBoost" not in params.exclude_algos and H2OXGBoostEstimator.available():
        tuned = H2OXGBoostEstimator(model_id=f"XGBoost_tuned_{tag}", **TUNED_XGBOOST,
                                    **cv_settings(params))
        tuned.train(x=schema.model_features, y=schema.target, training_frame=train)
        extra.append(tuned)
    budget = params.max_runtime_secs
    if budget and extra:
        budget = max(30, int(budget - (time.monotonic() - started)))
    aml = H2OAutoML(
        max_runtime_secs=budget or None,
        max_models=params.max_models or None,
        nfolds=params.nfolds,
        seed=params.seed,
        sort_metric=params.sort_metric,
        exclude_algos=params.exclude_algos or None,
        keep_cross_validation_predictions=bool(extra),  # the joint stack below needs them
        project_name=f"automl_{tag}",
        verbosity="info",  # its event log (models started and finished, time left) streams with the notebook
    )
    aml.train(x=schema.model_features, y=schema.target, training_frame=train)
    # AutoML may build nothing in what is left of the budget (a busy machine): H2O's make_leaderboard then
    # fails with a NullPointerException, so an empty AutoML is left out and the run goes on with the rest
    automl_ids = (aml.leaderboard.as_data_frame(use_multi_thread=False)["model_id"].tolist()
                  if aml.leaderboard.nrows else [])
    if not automl_ids:
        log.warning("AutoML built no model within %s s; the leaderboard has only %s", budget,
                    [m.model_id for m in extra] or "nothing")
    base = [m for m in automl_ids if not m.startswith("StackedEnsemble")] + [m.model_id for m in extra]
    if extra and len(base) >= 2:
        extra.append(stack(base, train, schema, params, model_id=f"StackedEnsemble_WithTuned_{tag}"))
    sources = ([aml] if automl_ids else []) + extra
    if not sources:
        raise ModelError(f"AutoML built no model within max_runtime_secs={params.max_runtime_secs}: give it more "
                         "time or fewer rows")
    board = h2o.make_leaderboard(sources, sort_metric=params.sort_metric,
                                 extra_columns=["algo", "training_time_ms"], scoring_data="xval")
    board = board.as_data_frame(use_multi_thread=False)
    return Trained(board=board, automl=aml)


def h2o_scores(model, frame: h2o.H2OFrame, schema: Schema) -> np.ndarray:
    """H2O's own scores (the reference for the MOJO scorer): binary the positive class's probability;
    multiclass the probabilities, a column per class of ``schema.classes``; regression the prediction."""
    predictions = model.predict(frame).as_data_frame(use_multi_thread=False)
    if schema.problem == "regression":
        return predictions["predict"].to_numpy(dtype=float)
    # after "predict", a probability column per class of the response domain, in its order
    domain = [str(c) for c in model._model_json["output"]["domains"][-1]]
    probabilities = predictions.iloc[:, 1:1 + len(domain)].to_numpy(dtype=float)
    if schema.problem == "binary":
        return probabilities[:, domain.index(schema.positive_class)]
    return probabilities[:, [domain.index(c) for c in schema.classes]]


def log_child_runs(board: pd.DataFrame, holdout: h2o.H2OFrame, y_holdout: np.ndarray, schema: Schema,
                   holdout_features: pd.DataFrame, sort_metric: str) -> tuple[pd.DataFrame, list[Candidate]]:
    """One nested MLflow run per leaderboard model: CV metrics with the standard error of ``sort_metric``,
    the problem's holdout metrics (``metrics.problem_metrics``), and what it costs to serve (its MOJO's size,
    the in-process scorer's rows/s on ``holdout_features``, whether it gives contributions).

    Returns the leaderboard with those columns, and the models as selection candidates.
    """
    rows, candidates = [], []
    cv_columns = [c for c in board.columns if c not in ("model_id", "algo")]
    metric = _board_metric(board, sort_metric, schema)
    for rank, record in enumerate(board.to_dict("records"), start=1):
        model = h2o.get_model(record["model_id"])
        holdout_metrics = problem_metrics(schema.problem, y_holdout, h2o_scores(model, holdout, schema), schema.classes)
        candidate = Candidate(record["model_id"], record["algo"], float(record[metric]),
                              cv_standard_error(model, metric),
                              h2o_serving_cost(model, holdout_features, schema.positive_class))
        with mlflow.start_run(run_name=record["model_id"], nested=True):
            mlflow.log_params({"model_id": record["model_id"], "algo": record["algo"], "rank": rank})
            mlflow.log_metrics({f"cv_{c}": float(record[c]) for c in cv_columns if _is_number(record[c])})
            if candidate.cv_se is not None:
                mlflow.log_metric(f"cv_{metric}_se", candidate.cv_se)
            mlflow.log_metrics({f"holdout_{k}": v for k, v in holdout_metrics.items()})
            mlflow.log_metrics(candidate.cost.as_metrics())
            importance = variable_importance(model)
            if importance is not None:
                figure = plots.variable_importance_chart(importance, f"Variable importance of {record['model_id']}")
                mlflow.log_figure(figure, "plots/variable_importance.png")
                plt.close(figure)
        rows.append({"model_id": record["model_id"], **{f"holdout_{k}": v for k, v in holdout_metrics.items()}})
        candidates.append(candidate)
    board = board.merge(pd.DataFrame(rows), on="model_id").merge(candidates_frame(candidates), on="model_id")
    return board, candidates


def _board_metric(board: pd.DataFrame, sort_metric: str, schema: Schema) -> str:
    """The leaderboard's column for ``sort_metric`` (the problem's usual one when the board has no such column)."""
    metric = sort_metric.lower()
    return metric if metric in board.columns else DEFAULT_SORT_METRIC[schema.problem].lower()


def choose_leader(candidates: list[Candidate], params: TrainParams) -> Selection:
    """The run's leader under ``params.selection``, logged on the active run (rule, band, reason, winner)."""
    chosen = select(candidates, params.selection, params.decision_metric, params.higher_is_better)
    mlflow.set_tags({"selection_rule": chosen.rule, "selection_winner": chosen.winner.model_id,
                     "selection_reason": chosen.reason[:5000]})
    mlflow.log_metrics({"selection_candidates_inside": float(len(chosen.inside)),
                        **({"selection_band": chosen.band} if chosen.band is not None else {}),
                        **{f"leader_{k}": v for k, v in chosen.winner.cost.as_metrics().items()}})
    mlflow.log_dict(chosen.as_dict(), "selection.json")
    return chosen


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and np.isfinite(value)


def log_leader_model(leader, meta: ModelMeta, model_name: str,
                     input_example: pd.DataFrame | None = None) -> mlflow.models.model.ModelInfo:
    """Log the leader as a MOJO-scoring pyfunc model and register it as a new version of ``model_name``."""
    with tempfile.TemporaryDirectory(prefix="mojo-") as folder:
        mojo_path = leader.download_mojo(path=folder, get_genmodel_jar=True, genmodel_name="h2o-genmodel.jar")
        return log_mojo_model(mojo_path, Path(folder) / "h2o-genmodel.jar", meta, model_name, input_example)


def model_signature(schema: Schema) -> "mlflow.models.ModelSignature":
    """The logged model's signature: every feature required, the id column optional, each of MLflow's type
    ``Any`` (MLflow's own conversion would turn ints into doubles and refuse text in numbers before the
    model's data contract could name the column and rows); the outputs of the problem type."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec
    from mlflow.types.schema import Schema as ColumnsSchema

    inputs = [ColSpec(AnyType(), name) for name in schema.feature_names]
    if schema.id_column:
        inputs.insert(0, ColSpec(AnyType(), schema.id_column, required=False))
    outputs = [ColSpec(kind, name) for name, kind in answer_columns(schema)]
    bad_rows = ParamSpec("bad_rows", "string", "raise")  # "null": ScoringModel.predict's per-row reasons
    return ModelSignature(ColumnsSchema(inputs), ColumnsSchema(outputs), ParamSchema([bad_rows]))


def log_mojo_model(mojo_path: str | Path, genmodel_jar: str | Path, meta: ModelMeta,
                   model_name: str | None, input_example: pd.DataFrame | None = None) -> mlflow.models.model.ModelInfo:
    """Log a MOJO (with its ``h2o-genmodel.jar`` and ``meta``) as a pyfunc model in the active run,
    registered as a new version of ``model_name`` (not registered when None): with its signature
    (:func:`model_signature`), an input example, the package's code and the requirements it imports, so
    that ``mlflow models serve`` and ``mlflow.pyfunc.load_model`` work outside this repository."""
    with tempfile.TemporaryDirectory(prefix="meta-") as folder:
        meta_path = Path(folder) / META_FILE
        meta_path.write_text(json.dumps(meta.to_dict()))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
            artifacts={"mojo": str(mojo_path), "genmodel_jar": str(genmodel_jar), "meta": str(meta_path)},
            code_paths=[str(Path(__file__).parent)],
            signature=model_signature(meta.schema),
            input_example=input_example,
            pip_requirements=PYFUNC_REQUIREMENTS,
            metadata={"threshold": meta.threshold, "holdout_metrics": meta.holdout_metrics,
                      "h2o_model_id": meta.h2o_model_id, "target": meta.schema.target,
                      "problem": meta.schema.problem, "classes": meta.schema.classes,
                      "positive_class": meta.schema.positive_class},
            registered_model_name=model_name,
        )


def setup_mlflow(settings: TrainingSettings, experiment_name: str) -> str:
    """Point MLflow at the configured store and make the experiment (created if needed) active; returns its id."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        location = Path(settings.artifact_root).as_uri() if settings.is_embedded else None
        if settings.is_embedded:
            Path(settings.artifact_root).mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(experiment_name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    # the active experiment: nested (child) runs are created in it, beside their parent
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def log_data_and_params(params: TrainParams, data: PreparedData) -> None:
    """Parameters, the data's fingerprint and the learned schema on the active run."""
    flat = {k: (json.dumps(v) if isinstance(v, list) else v) for k, v in asdict(params).items() if k != "run_id"}
    mlflow.log_params(flat)
    mlflow.log_params(data.fingerprint)
    mlflow.log_dict(data.schema.to_dict(), "schema.json")
    mlflow.set_tag("target_encoding_reason", data.encoding_reason[:5000])
    if data.encoding_choices:
        mlflow.log_dict({"reason": data.encoding_reason, "columns": [c.to_dict() for c in data.encoding_choices]},
                        "target_encoding.json")


#: Variables of the leader's importance kept in the model's metadata (``GET /model``, the dashboard's card).
TOP_IMPORTANCE = 15


@dataclass
class Evaluation:
    """The leader on the holdout: its metrics, its threshold (binary models; else None), the figures logged
    (artifact path -> figure, for the notebook to show), its variable importance (top rows, or []) and the
    calibration map of its scores (``automlkit.estimation``; None for regression)."""

    metrics: dict
    threshold: float | None
    figures: dict = field(default_factory=dict)
    importance: list[dict] = field(default_factory=list)
    calibration: CalibrationMap | None = None


def variable_importance(model) -> pd.DataFrame | None:
    """H2O's variable importance of ``model`` (``variable``, ``relative_importance``, ``scaled_importance``,
    ``percentage``), or None when it has none (stacked ensembles; some GLMs)."""
    try:
        table = model.varimp(use_pandas=True)
    except Exception:  # noqa: BLE001 - a model without importances
        return None
    return table if table is not None and len(table) else None


def importance_figures(leader) -> dict:
    """The variable-importance chart(s) of the leader: its own, or for a stacked ensemble its base models'."""
    own = variable_importance(leader)
    if own is not None:
        return {"plots/variable_importance.png": plots.variable_importance_chart(own, f"Variable importance of "
                                                                                     f"{leader.model_id}")}
    bases = [h2o.get_model(m) for m in (getattr(leader, "base_models", None) or [])]
    if not bases:
        return {}
    return {"plots/variable_importance_base_models.png": plots.ensemble_importance_chart(
        {m.model_id: variable_importance(m) for m in bases})}


def log_leader_evaluation(y_holdout: np.ndarray, scores: np.ndarray, board: pd.DataFrame, sort_metric: str,
                          leader, schema: Schema) -> Evaluation:
    """The leader's holdout metrics, the leaderboard, the problem's plots and the variable importance on the
    active run: binary models get the max-F1 threshold, ROC, gains, precision-recall, calibration and the
    confusion matrix at the threshold; multiclass a confusion matrix and per-class precision/recall;
    regression predicted-vs-actual and residuals. Classifiers also get the calibration map of their holdout
    scores (``calibration.json``), which the version carries for monitoring's estimated performance."""
    leader_id = leader.model_id
    metrics = problem_metrics(schema.problem, y_holdout, scores, schema.classes)
    mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items() if np.isfinite(v)})
    metric_column = _board_metric(board, sort_metric, schema)
    leader_cv = board.loc[board["model_id"] == leader_id, metric_column].iloc[0]
    mlflow.log_metric(f"leader_cv_{metric_column}", float(leader_cv))
    mlflow.log_text(board.to_csv(index=False), "leaderboard.csv")
    figures = {"plots/leaderboard.png": plots.leaderboard_chart(board, metric_column)}
    threshold = None
    if schema.problem == "binary":
        threshold, f1 = max_f1_threshold(y_holdout, scores)
        mlflow.log_metrics({"threshold": threshold, "holdout_f1_at_threshold": f1})
        figures["plots/holdout_roc.png"] = plots.roc_curve(y_holdout, scores)
        figures["plots/holdout_cumulative_gains.png"] = plots.gains_chart(y_holdout, scores)
        figures["plots/holdout_precision_recall.png"] = plots.precision_recall_chart(y_holdout, scores)
        figures["plots/holdout_calibration.png"] = plots.calibration_chart(y_holdout, scores)
        negative = next((c for c in schema.classes if c != schema.positive_class), "other")
        figures["plots/holdout_confusion_at_threshold.png"] = plots.confusion_at_threshold_chart(
            y_holdout, scores, threshold, (negative, schema.positive_class))
    elif schema.problem == "multiclass":
        predicted = np.asarray(schema.classes, dtype=object)[np.argmax(scores, axis=1)]
        figures["plots/holdout_confusion_matrix.png"] = plots.confusion_matrix_chart(y_holdout, predicted,
                                                                                     schema.classes)
        figures["plots/holdout_precision_recall_per_class.png"] = plots.per_class_precision_recall_chart(
            y_holdout, predicted, schema.classes)
    else:
        figures["plots/holdout_predicted_vs_actual.png"] = plots.predicted_vs_actual_chart(y_holdout, scores)
        figures["plots/holdout_residuals.png"] = plots.residuals_chart(y_holdout, scores)
    figures.update(importance_figures(leader))
    importance = variable_importance(leader)
    top = [] if importance is None else importance.head(TOP_IMPORTANCE)[["variable", "scaled_importance"]]
    if len(top):
        mlflow.log_text(importance.to_csv(index=False), "variable_importance.csv")
    for path, figure in figures.items():
        mlflow.log_figure(figure, path)
        plt.close(figure)
    calibration = fit_calibration(schema.problem, y_holdout, scores, schema.classes)
    if calibration is not None:
        mlflow.log_dict(calibration.to_dict(), "calibration.json")
    return Evaluation(metrics, threshold, figures, [] if not len(top) else top.to_dict("records"), calibration)


def check_mojo(model_uri: str, holdout: pd.DataFrame, reference: np.ndarray, schema: Schema,
               bound: float = 1e-6) -> float:
    """The logged pyfunc model's scores of the holdout rows against H2O's own (``reference``, from
    :func:`h2o_scores`): the MOJO's (``mojo_max_abs_diff_vs_h2o``, within ``bound``) and what the model
    serves (``served_max_abs_diff_vs_h2o``: the same unless batches take the native XGBoost booster, whose
    bound is ``native_xgboost.EQUALITY_BOUND``). Logs both, raises ``ModelError`` past a bound, returns the
    MOJO's."""
    model = mlflow.pyfunc.load_model(model_uri)
    if not len(holdout):
        return 0.0
    served = float(np.max(np.abs(scores_of(model.predict(holdout), schema) - reference)))
    scoring = model.unwrap_python_model().scoring_model
    matrix = scoring.scorer.encode(conform(holdout, schema).features, len(holdout))
    outputs = scoring.outputs(scoring.scorer.score_matrix(matrix, native=False))
    mojo = float(np.max(np.abs(scores_of(pd.DataFrame(outputs), schema) - reference)))
    mlflow.log_metrics({"mojo_max_abs_diff_vs_h2o": mojo, "served_max_abs_diff_vs_h2o": served})
    if not mojo <= bound:
        raise ModelError(f"the MOJO does not reproduce H2O's predictions (max |diff| {mojo:.2e})")
    if not served <= max(bound, EQUALITY_BOUND):
        raise ModelError(f"the served model does not reproduce H2O's predictions (max |diff| {served:.2e})")
    return mojo
