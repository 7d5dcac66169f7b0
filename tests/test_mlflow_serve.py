"""The registered champion stands alone: ``mlflow models serve`` builds a fresh environment from the model's
own requirements with MLflow's uv environment manager (packages from the registry, the package's code from
the model's ``code_paths``), serves it, and answers as the API does for the same rows."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from conftest import API_MODEL, REPO, TEST_CSV, free_port, stop_process, wait_http

pytestmark = pytest.mark.integration


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path


@pytest.fixture(scope="module")
def served(api_champion, tmp_path_factory) -> Server:
    """``mlflow models serve -m models:/api-model@champion --env-manager uv`` on a free loopback port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("mlflow-serve") / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": api_champion,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # uv from the venv
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", f"models:/{API_MODEL}@champion",
         "--env-manager", "uv", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", process, timeout=900)  # the first build downloads packages
    except Exception:
        stop_process(process)
        raise RuntimeError(f"mlflow models serve did not start: {log_path.read_text()[-3000:]}")
    yield Server(f"http://127.0.0.1:{port}", process, log_path)
    stop_process(process)


def test_the_model_carries_its_signature_example_code_and_requirements(api_champion, tmp_path):
    import mlflow

    mlflow.set_tracking_uri(api_champion)
    version = MlflowClient().get_model_version_by_alias(API_MODEL, "champion")
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{API_MODEL}/{version.version}", dst_path=str(tmp_path)))
    info = mlflow.models.get_model_info(str(local))
    inputs = info.signature.inputs.to_dict()
    assert {c["name"] for c in inputs} >= {"Age", "Gender", "Vehicle_Age"}
    assert next(c for c in inputs if c["name"] == "id")["required"] is False
    assert [c["name"] for c in info.signature.outputs.to_dict()] == ["probability", "label"]
    assert (local / "input_example.json").exists() and (local / "code" / "automlkit" / "scoring.py").exists()
    requirements = (local / "requirements.txt").read_text().split()
    assert not any(r.startswith("scikit-learn") for r in requirements)
    assert {r.split("==")[0] for r in requirements} >= {"mlflow", "pandas", "numpy", "JPype1", "pydantic-settings",
                                                        "xgboost-cpu"}


def test_mlflow_models_serve_answers_as_the_api_does(served, shared_api):
    rows = pd.read_csv(TEST_CSV, nrows=300)
    answer = requests.post(f"{served.url}/invocations", json={"dataframe_split": rows.to_dict(orient="split")},
                           timeout=120)
    assert answer.status_code == 200, answer.text[:2000]
    theirs = pd.DataFrame(answer.json()["predictions"])
    ours = requests.post(f"{shared_api.url}/predict", files={"file": ("rows.csv", rows.to_csv(index=False).encode())},
                         timeout=120).json()["predictions"]
    np.testing.assert_allclose(theirs["probability"], [p["probability"] for p in ours], rtol=0, atol=1e-12)
    assert theirs["label"].tolist() == [p["label"] for p in ours]


def test_mlflow_models_serve_stops_gracefully_on_sigterm(served):
    """The pyfunc's in-process JVM leaves SIGTERM to MLflow's uvicorn, which drains and shuts down (run last:
    it stops the module's server)."""
    assert requests.post(f"{served.url}/invocations", json={"dataframe_split": pd.read_csv(TEST_CSV, nrows=5)
                                                            .to_dict(orient="split")}, timeout=120).status_code == 200
    os.killpg(served.process.pid, signal.SIGTERM)
    served.process.wait(timeout=60)
    deadline = time.monotonic() + 60  # MLflow's command may end before the uvicorn it started has drained
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(served.process.pid, 0)
            time.sleep(0.2)
    log = served.log_path.read_text()
    for line in ("Shutting down", "Application shutdown complete", "Finished server process"):
        assert line in log, f"uvicorn's graceful shutdown did not run ({line!r} missing):\n{log[-3000:]}"
