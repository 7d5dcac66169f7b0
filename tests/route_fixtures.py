"""The committed tiny model (``tests/fixtures/tiny_model/``) registered in a throw-away SQLite MLflow store.

No server and no H2O JVM: the route tests (``test_routes.py``) serve it with FastAPI's ``TestClient``.
``tests/fixtures/make_tiny_model.py`` regenerates the model. ``conftest.py`` imports the fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

TINY_MODEL_DIR = Path(__file__).resolve().parent / "fixtures" / "tiny_model"
TINY_MOJO = TINY_MODEL_DIR / "tiny_gbm.zip"
TINY_META = TINY_MODEL_DIR / "model_meta.json"
#: A 10-tree XGBoost on the same rows and schema (the native fast path's tests).
TINY_XGBOOST_MOJO = TINY_MODEL_DIR / "tiny_xgboost.zip"
#: The registered name of the tiny model in the route tests' store.
TINY_MODEL_NAME = "tiny-model"
#: Holdout metrics logged on the tiny model's run (what ``GET /models`` reads back from the run).
RUN_METRICS = ("auc", "logloss", "aucpr")
DECISION = "no champion yet"
@contextlib.contextmanager
def restored_mlflow_uris():
    """Restore MLflow's global tracking and registry URIs (and their environment variables) on exit.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` (called here and by the API's ``ModelStore``) set
    module globals and ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``; other tests must not inherit them.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    environment = {name: os.environ.get(name) for name in names}
    tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)  # also resets what MLflow derived from the URI
        registry_utils._registry_uri = registry
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def register_tiny_model(root: Path, model_name: str = TINY_MODEL_NAME, alias: str = "champion") -> str:
    """A SQLite MLflow store under ``root`` holding the tiny model as version 1 of ``model_name`` with
    ``alias``, logged as the training notebook logs its leader; returns the tracking URI."""
    from automlkit.java_build import genmodel_jar
    from automlkit.scoring import ModelMeta
    from automlkit.training import log_mojo_model

    uri = f"sqlite:///{root / 'mlflow.db'}"
    meta = ModelMeta.read(TINY_META)
    with restored_mlflow_uris():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        experiment = mlflow.create_experiment(model_name, artifact_location=(root / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment, run_name="tiny-gbm"):
            mlflow.log_metrics({f"holdout_{m}": float(meta.holdout_metrics[m]) for m in RUN_METRICS})
            mlflow.log_metric("threshold", meta.threshold)
            info = log_mojo_model(TINY_MOJO, genmodel_jar(), meta, model_name)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        version = str(info.registered_model_version)
        client.set_registered_model_alias(model_name, alias, version)
        client.set_model_version_tag(model_name, version, "decision", DECISION)
    return uri


def log_tiny_version(uri: str, model_name: str, mojo: Path = TINY_MOJO, alias: str | None = None,
                     tolerance: float | None = None) -> str:
    """A tiny MOJO (``TINY_MOJO`` or ``TINY_XGBOOST_MOJO``, with the tiny model's meta) logged as a new version
    of ``model_name`` in ``uri`` (a store or a server), as training logs its leader, with ``alias``; ``tolerance``
    is logged as the run's ``decision_tolerance`` (the noise band training logs) when given. Returns the version."""
    from automlkit.java_build import genmodel_jar
    from automlkit.scoring import ModelMeta
    from automlkit.training import log_mojo_model

    meta = ModelMeta.read(TINY_META)
    with restored_mlflow_uris():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        mlflow.set_experiment(model_name)
        with mlflow.start_run(run_name=Path(mojo).stem):
            if tolerance is not None:
                mlflow.log_metric("decision_tolerance", tolerance)
            info = log_mojo_model(mojo, genmodel_jar(), meta, model_name)
    version = str(info.registered_model_version)
    if alias:
        MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(model_name, alias, version)
    return version


@pytest.fixture(scope="session")
def tiny_champion(tmp_path_factory) -> str:
    """The tiny GBM registered as ``tiny-model@champion`` (version 1) in a SQLite store; yields its URI."""
    missing = [p.name for p in (TINY_MOJO, TINY_META) if not p.exists()]
    if missing:
        pytest.fail(f"{missing} missing in {TINY_MODEL_DIR}: run `.venv/bin/python tests/fixtures/make_tiny_model.py`")
    return register_tiny_model(tmp_path_factory.mktemp("tiny-mlflow"))


def tiny_meta() -> dict:
    """The tiny model's ``model_meta.json`` as a dict."""
    return json.loads(TINY_META.read_text())
