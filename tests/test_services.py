"""The other services' own start commands as real processes: the scheduled trainer and JupyterLab."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests
from mlflow import MlflowClient

from conftest import API_MODEL, REPO, SHIPPED_TARGET, VENV_BIN, free_port, stop_process, wait_http

pytestmark = pytest.mark.integration


def test_scheduled_retraining_keeps_going_after_failures_and_leaves_the_champion(api_champion, tmp_path):
    client = MlflowClient(api_champion)
    champion = client.get_model_version_by_alias(API_MODEL, "champion").version
    env = {**os.environ, "MLFLOW_TRACKING_URI": api_champion}
    experiment = "retrain-failing"
    process = subprocess.Popen(
        [sys.executable, "-m", "automlkit.retrain", "--interval", "2", "-p", "model_name", API_MODEL,
         "-p", "experiment_name", experiment, "-p", "data_path", str(tmp_path / "missing.csv"), *SHIPPED_TARGET,
         "--output-dir", str(tmp_path / "notebooks")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.time() + 240
        runs = []
        while time.time() < deadline and len(runs) < 2:
            time.sleep(2)
            found = client.get_experiment_by_name(experiment)
            runs = client.search_runs([found.experiment_id]) if found else []
            runs = [r for r in runs if r.info.status == "FAILED"]
        assert process.poll() is None, "the schedule stopped after a failure"
    finally:
        stop_process(process)
    output = process.stdout.read()
    assert len(runs) >= 2, output[-3000:]
    assert all("no data file" in r.data.tags["error"] for r in runs)
    assert "retraining failed, the champion stays" in output
    assert client.get_model_version_by_alias(API_MODEL, "champion").version == champion


def test_jupyterlab_needs_its_token(tmp_path):
    port, token = free_port(), "test-token-123"
    process = subprocess.Popen(
        [str(VENV_BIN / "jupyter"), "lab", "--ip", "127.0.0.1", "--port", str(port), "--no-browser",
         "--notebook-dir", str(REPO / "notebooks"), f"--IdentityProvider.token={token}", "--allow-root"],
        cwd=REPO, env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", process, timeout=120)
        assert requests.get(f"http://127.0.0.1:{port}/api/contents", timeout=10).status_code == 403
        listing = requests.get(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10).json()
        assert {"train.ipynb", "explore.ipynb", "dashboard.ipynb"} <= {c["name"] for c in listing["content"]}
    finally:
        stop_process(process)
