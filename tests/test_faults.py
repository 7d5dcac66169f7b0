"""Faults: MLflow down, a training run killed halfway, the H2O JVM dying, a leaked token. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from automlkit.h2o_cluster import free_port_pair, key_tag
from conftest import (QUICK_BUDGET, REPO, ROW, SHIPPED_TARGET, SMALL_BUDGET, assert_still_serving, free_port,
                      run_training, start_api, start_h2o_node, start_mlflow, stop_process, wait_for_cloud, wait_http)

pytestmark = pytest.mark.integration



def predict_one(url: str) -> requests.Response:
    return requests.post(f"{url}/predict", json={"records": [ROW]}, timeout=30)


def wait_until(condition, timeout: float, every: float = 0.5, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what} not met within {timeout} s")


# ------------------------------------------------------------------------------------------- MLflow down


def test_api_retries_mlflow_until_it_returns_and_keeps_serving_when_it_goes(api_champion, mlflow_store, tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"  # nothing listens here yet
    process, url = start_api(uri, tmp_path / "api.log", wait_for="/health", RETRY_SECONDS="1", POLL_SECONDS="2")
    mlflow_process = None
    try:
        ready = requests.get(f"{url}/ready", timeout=10)
        assert ready.status_code == 503
        assert "cannot resolve" in ready.json()["detail"] and uri in ready.json()["detail"]
        refused = predict_one(url)
        assert refused.status_code == 503 and "no model is loaded" in refused.json()["detail"]

        mlflow_process = start_mlflow(mlflow_store, port)  # the same store, now reachable at that address
        wait_http(f"{uri}/health", mlflow_process, timeout=90)
        wait_until(lambda: requests.get(f"{url}/ready", timeout=10).status_code == 200, 120, what="ready")
        assert predict_one(url).status_code == 200

        stop_process(mlflow_process)  # MLflow goes away while the API serves
        failed_polls = set()  # each failed poll records its time in the card's load_error
        def two_failed_polls() -> bool:
            error = requests.get(f"{url}/model", timeout=10).json()["load_error"] or {}
            if "cannot resolve" in error.get("message", ""):
                failed_polls.add(error["at"])
            return len(failed_polls) >= 2
        wait_until(two_failed_polls, 60, what="two polls failing while MLflow is away")
        for _ in range(20):
            assert_still_serving(url)
        card = requests.get(f"{url}/model", timeout=10).json()
        assert card["version"] and "cannot resolve" in card["load_error"]["message"]
    finally:
        stop_process(process)
        stop_process(mlflow_process)


# ------------------------------------------------------------------------------------------ training runs


def _training(tracking_uri: str, data: Path, model: str, output_dir: Path, *extra: str) -> subprocess.Popen:
    """``run_training`` in its own process group; its log (the notebook's output streams into it, far more
    than a pipe holds unread) goes to a file, ``process.log_path``."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    log_path = output_dir / f"train-{model}-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "automlkit.run_training", "-p", "data_path", str(data), *SHIPPED_TARGET, *SMALL_BUDGET,
         "-p", "max_runtime_secs", "120", "-p", "model_name", model, "-p", "experiment_name", model, *extra,
         "--output-dir", str(output_dir)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"), text=True, start_new_session=True)
    process.log_path = log_path
    return process


def _building_models(h2o_url: str) -> bool:
    """True while the H2O JVM at ``h2o_url`` runs a job building a model (the tuned XGBoost or AutoML's)."""
    try:
        jobs = requests.get(f"{h2o_url}/3/Jobs", timeout=5).json()["jobs"]
    except (requests.RequestException, ValueError, KeyError):
        return False
    return any(j["status"] == "RUNNING" and "Model" in (j.get("dest") or {}).get("type", "") for j in jobs)


def _running_on_h2o(client: MlflowClient, experiment: str, process: subprocess.Popen, known: set[str]):
    """The newest parent run of ``experiment`` not in ``known`` once it is training on H2O."""
    def found():
        assert process.poll() is None, process.log_path.read_text()[-3000:]
        exp = client.get_experiment_by_name(experiment)
        runs = client.search_runs([exp.experiment_id]) if exp else []
        return next((r for r in runs if "h2o_url" in r.data.tags and r.info.run_id not in known), None)
    return wait_until(found, 240, every=1, what="AutoML under way")


def _port_is_closed(url: str) -> bool:
    try:
        requests.get(f"{url}/3/Cloud", timeout=2)
        return False
    except requests.RequestException:
        return True


def test_training_killed_halfway_registers_nothing_leaves_no_jvm_and_the_next_run_works(
        mlflow_server, sample_csv, tmp_path):
    model = "killed-halfway"
    client = MlflowClient(mlflow_server)
    seen: set[str] = set()
    for how in ("SIGTERM", "SIGKILL"):
        process = _training(mlflow_server, sample_csv, model, tmp_path)
        try:
            run = _running_on_h2o(client, model, process, seen)
            seen.add(run.info.run_id)
            jvm = run.data.tags["h2o_url"]
            wait_until(lambda: _building_models(jvm), 120, what="a model being built")
            if how == "SIGTERM":
                os.kill(process.pid, signal.SIGTERM)  # the papermill process only
            else:
                os.killpg(process.pid, signal.SIGKILL)  # papermill and everything in its group, at once
            process.wait(timeout=120)
        finally:
            stop_process(process)
        # the H2O JVM the run started is stopped too (its kernel's exit hook, or the watchdog)
        wait_until(lambda: _port_is_closed(jvm), 60, what=f"the JVM at {jvm} gone after {how}")
        status = client.get_run(run.info.run_id).info.status
        if how == "SIGTERM":
            assert status == "KILLED"
            assert "stopped by SIGTERM" in client.get_run(run.info.run_id).data.tags["error"]
        else:
            # nothing was left to close it: it stays RUNNING (KILLED if something closed it), never FINISHED
            assert status in ("RUNNING", "KILLED"), status
    assert client.search_model_versions(f"name='{model}'") == []

    result = run_training(mlflow_server, sample_csv, [*QUICK_BUDGET, "-p", "model_name", model,
                                                      "-p", "experiment_name", model], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert client.get_model_version_by_alias(model, "champion").version in ("1", 1)


def _jobs_of(h2o_url: str, run_id: str) -> dict[str, str]:
    """The status of each job on the node at ``h2o_url`` whose result belongs to the MLflow run ``run_id``."""
    jobs = requests.get(f"{h2o_url}/3/Jobs", timeout=5).json()["jobs"]
    tag = key_tag(run_id)
    return {j["dest"]["name"]: j["status"] for j in jobs if tag in ((j.get("dest") or {}).get("name") or "")}


def test_on_a_shared_cluster_a_stopped_run_cancels_its_jobs_and_a_dying_one_fails_with_the_reason(
        mlflow_server, sample_csv, tmp_path):
    """The compose trainer trains on a cluster it does not own (the ``h2o`` service). Stopped with SIGTERM (as
    ``podman stop`` does), a run exits well within the trainer's stop grace period, its kernel cancels the job
    it was waiting on (h2o-py cancels on the interrupt the kernel gets when it is shut down), and the node runs
    on. The same node dying under the next run marks that run FAILED with the reason."""
    port = free_port_pair()
    node = start_h2o_node(f"shared-{port}", port, tmp_path)
    url = f"http://127.0.0.1:{port}"
    client = MlflowClient(mlflow_server)
    try:
        wait_for_cloud(url, 1, [node])
        stopped = _training(mlflow_server, sample_csv, "h2o-stopped", tmp_path, "-p", "h2o_url", url)
        try:
            run = _running_on_h2o(client, "h2o-stopped", stopped, set())
            wait_until(lambda: "RUNNING" in _jobs_of(url, run.info.run_id).values(), 120, what="a model being built")
            started = time.monotonic()
            os.kill(stopped.pid, signal.SIGTERM)
            stopped.wait(timeout=60)
            exited = time.monotonic() - started
        finally:
            stop_process(stopped)
        assert stopped.returncode == 143 and exited < 30, exited  # the trainer's stop_grace_period in compose
        assert client.get_run(run.info.run_id).info.status == "KILLED"
        # H2O honours a cancel when the build next checks for one (a tuned XGBoost's folds: up to half a minute)
        jobs = wait_until(lambda: (lambda j: j if "RUNNING" not in j.values() else None)(_jobs_of(url, run.info.run_id)),
                          90, every=1, what="the stopped run's jobs ended")
        print(f"\nthe stopped run exited {exited:.1f} s after SIGTERM; its jobs ended "
              f"{time.monotonic() - started:.0f} s after it: {jobs}")
        assert "CANCELLED" in jobs.values() and "DONE" not in jobs.values(), jobs
        assert node.poll() is None and requests.get(f"{url}/3/Cloud", timeout=5).json()["cloud_healthy"]

        model = "h2o-dies"
        process = _training(mlflow_server, sample_csv, model, tmp_path, "-p", "h2o_url", url)
        try:
            run = _running_on_h2o(client, model, process, set())
            wait_until(lambda: _building_models(url), 120, what="a model being built")
            os.killpg(node.pid, signal.SIGKILL)  # the JVM dies under the running AutoML
            process.wait(timeout=300)
            stderr = process.log_path.read_text()
        finally:
            stop_process(process)
    finally:
        stop_process(node)
    assert process.returncode != 0
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FAILED"
    error = finished.data.tags["error"]
    assert error.startswith("cell [") and "H2OConnectionError" in error and str(port) in error, error
    assert "marked FAILED" in stderr
    assert client.search_model_versions(f"name='{model}'") == []


# ------------------------------------------------------------------------------------------------ access


def test_reload_token_never_reaches_the_log_or_the_answers(shared_api):
    token, url = shared_api.reload_token, shared_api.url
    assert requests.post(f"{url}/reload", timeout=10).status_code == 401
    assert requests.post(f"{url}/reload", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 403
    assert requests.post(f"{url}/reload", params={"token": token}, timeout=10).status_code == 401
    right = requests.post(f"{url}/reload", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert right.status_code == 200
    answers = [requests.get(f"{url}{path}", timeout=10).text for path in ("/model", "/openapi.json", "/ready")]
    answers.append(predict_one(url).text)
    assert all(token not in text for text in answers)
    logged = shared_api.log_path.read_text()
    assert "POST /reload" in logged and token not in logged
