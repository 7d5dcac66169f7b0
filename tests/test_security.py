"""Nothing is unpickled: not request data, not model artifacts. Models are MLflow models-from-code."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from conftest import API_MODEL, REPO

#: Calls that deserialize executable objects (or may, such as PyYAML's full loader).
UNSAFE = re.compile(r"\b(?:import pickle|from pickle|cloudpickle|joblib|dill|read_pickle|allow_pickle\s*=\s*True"
                    r"|torch\.load|yaml\.load\(|yaml\.unsafe_load|marshal\.loads|eval\(|exec\()")


def test_no_service_code_deserializes_objects():
    sources = [*REPO.glob("api/*.py"), *REPO.glob("notebooks/automlkit/*.py")]
    assert len(sources) > 20
    offenders = [f"{path.relative_to(REPO)}: {match.group(0)}" for path in sources
                 for match in UNSAFE.finditer(path.read_text())]
    assert offenders == []


@pytest.mark.integration
def test_the_registered_model_has_no_pickle_and_loads_from_code(api_champion, tmp_path):
    client = MlflowClient(api_champion)
    version = client.get_model_version_by_alias(API_MODEL, "champion")
    mlflow.set_tracking_uri(api_champion)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{API_MODEL}/{version.version}",
                                                     dst_path=str(tmp_path)))
    files = [p.name for p in local.rglob("*") if p.is_file()]
    assert not [name for name in files if name.endswith((".pkl", ".pickle", ".joblib"))], files
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor.get("model_code_path"), flavor  # models-from-code: MLflow runs our file, unpickles nothing
