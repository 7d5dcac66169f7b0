"""The compose stack built and run for real with `make up` / `make down` (Docker if it runs, else podman).

The tests run in file order on one stack of their own (project ``automl-stack-test``, free loopback ports,
a short training budget on a sample of the shipped data) and reach it only through its published ports and
the engine. Run by ``make test`` after everything else (``make test-containers`` alone).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from conftest import DATA_DIR, REPO, SCREENSHOTS, TEST_CSV, free_port, wait_http
from test_dashboard import open_dashboard, upload

pytestmark = pytest.mark.containers

PROJECT = "automl-stack-test"
MODEL = "containers-model"
STACK = REPO / "notebooks" / "containers" / "stack.sh"
#: What the test stack's first training gets: a minute at most, on a sample
TRAIN_PARAMS = ("{sample_rows: 20000, nfolds: 3, max_models: 3, exclude_algos: [DeepLearning, DRF], "
                "tuned_xgboost: false}")


class Stack:
    """The test stack's settings and the engine's view of it."""

    def __init__(self, env_file: Path, ports: dict[str, int]):
        self.env_file = env_file
        self.ports = ports
        self.env = {**os.environ, "ENV_FILE": str(env_file), "COMPOSE_PROJECT_NAME": PROJECT}
        self.engine = self.script("engine").stdout.split()[0]
        self.api = f"http://127.0.0.1:{ports['API_PORT']}"
        self.mlflow = f"http://127.0.0.1:{ports['MLFLOW_PORT']}"
        self.dashboard = f"http://127.0.0.1:{ports['DASHBOARD_PORT']}/"

    def script(self, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
        """``notebooks/containers/stack.sh ARGS`` for this stack; fails the test with its output when it fails."""
        result = subprocess.run([str(STACK), *args], env={**self.env, **env}, capture_output=True, text=True,
                                timeout=timeout, cwd=REPO)
        assert result.returncode == 0, f"stack.sh {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        return result

    def make(self, target: str, timeout: float = 1800, **variables: str) -> subprocess.CompletedProcess:
        """``make TARGET`` as a user runs it (the Makefile calls stack.sh), with this stack's settings."""
        result = subprocess.run(["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())],
                                env=self.env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        assert result.returncode == 0, f"make {target}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        return result

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """The engine's own command (``podman ...`` or ``docker ...``)."""
        result = subprocess.run([self.engine, *args], capture_output=True, text=True, timeout=timeout)
        assert not check or result.returncode == 0, f"{self.engine} {' '.join(args)}: {result.stderr[-2000:]}"
        return result

    def container(self, service: str) -> str:
        """Name of the service's container."""
        names = self.run("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "--filter",
                         f"label=com.docker.compose.service={service}", "--format", "{{.Names}}").stdout.split()
        assert len(names) == 1, (service, names)
        return names[0]

    def leftovers(self) -> dict[str, list[str]]:
        """The project's containers, networks and volumes that still exist."""
        label = f"label=com.docker.compose.project={PROJECT}"
        return {
            "containers": self.run("ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split(),
            "networks": [n for n in self.run("network", "ls", "--format", "{{.Name}}").stdout.split()
                         if n.startswith(PROJECT)],
            "volumes": [v for v in self.run("volume", "ls", "--format", "{{.Name}}").stdout.split()
                        if v.startswith(PROJECT)],
        }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The test stack's .env (free ports, fresh secrets, a short budget); removed with its volumes at the end."""
    ports = {name: free_port() for name in ("MLFLOW_PORT", "API_PORT", "DASHBOARD_PORT", "JUPYTER_PORT",
                                            "H2O_PORT")}
    env_file = tmp_path_factory.mktemp("stack") / ".env"
    settings = {"RELOAD_TOKEN": os.urandom(16).hex(), "JUPYTER_TOKEN": os.urandom(16).hex(),
                "DATA_DIR": str(DATA_DIR), "MODEL_NAME": MODEL, "FIRST_TRAIN_MAX_RUNTIME_SECS": "30",
                "FIRST_TRAIN_SAMPLE_ROWS": "20000",
                "TRAIN_PARAMS": TRAIN_PARAMS, "H2O_MEMORY": "2g", "POLL_SECONDS": "5",
                # no timed flush: what the API has queued is written only when it stops (`make down`)
                "MONITORING_FLUSH_SECONDS": "86400", **ports}
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    stack = Stack(env_file, ports)
    stack.script("down", VOLUMES="1")  # what an earlier, interrupted run left
    yield stack
    subprocess.run([str(STACK), "down"], env={**stack.env, "VOLUMES": "1"}, capture_output=True, timeout=600,
                   cwd=REPO)


def test_images_build_and_a_second_build_reuses_the_cache(stack):
    started = time.monotonic()
    stack.script("build", timeout=1800)
    first = time.monotonic() - started
    started = time.monotonic()
    stack.script("build")
    second = time.monotonic() - started
    print(f"\nimage build: {first:.0f} s (cold unless the engine had the layers), again: {second:.0f} s")
    assert second < 90, f"the second build took {second:.0f} s: the cache was not reused"


def test_make_up_trains_a_champion_and_every_service_is_healthy(stack):
    started = time.monotonic()
    result = stack.make("up")
    print(f"\nmake up with the first training: {time.monotonic() - started:.0f} s")
    for service in ("mlflow", "h2o", "trainer", "api", "dashboard"):
        assert f"{service} is healthy" in result.stderr
    # while it waits, make up says who is pending and what its check saw (the API: no model yet)
    assert re.search(r"pending: api \(GET http://127\.0\.0\.1:8000/ready: ", result.stderr), result.stderr[-3000:]
    assert stack.api in result.stdout + f"http://127.0.0.1:{stack.ports['API_PORT']}"
    version = MlflowClient(stack.mlflow).get_model_version_by_alias(MODEL, "champion")
    run = MlflowClient(stack.mlflow).get_run(version.run_id)
    assert run.data.tags["h2o_url"] == "http://h2o:54321" and run.data.tags["h2o_nodes"] == "1"
    assert 0.6 < run.data.metrics["holdout_auc"] <= 1.0
    assert requests.get(f"{stack.api}/model", timeout=10).json()["version"] == version.version


#: The check each service's container runs, timed inside the container (engine overhead left out)
TIMED_CHECK = ("import subprocess, sys, time; started = time.perf_counter(); code = subprocess.run(sys.argv[1:], "
               "capture_output=True).returncode; print(f'{time.perf_counter() - started:.3f}'); sys.exit(code)")


def _h2o_building(stack: Stack) -> bool:
    """True while the stack's H2O node (through its published port) runs a job building a model."""
    try:
        jobs = requests.get(f"http://127.0.0.1:{stack.ports['H2O_PORT']}/3/Jobs", timeout=5).json()["jobs"]
    except (requests.RequestException, ValueError, KeyError):
        return False
    return any(j["status"] == "RUNNING" and "Model" in (j.get("dest") or {}).get("type", "") for j in jobs)


def test_every_healthcheck_answers_within_a_second_while_a_training_runs(stack, tmp_path):
    """The checks are standard library only (``automlkit.healthcheck``): each answers within a second while a
    training loads the host, where the trainer's used to exceed its 10 s timeout on a busy host. Timed twice:
    the check's own command inside its container, and the engine's whole ``healthcheck run``."""
    log = open(tmp_path / "busy-training.log", "w")  # far more than a pipe holds unread
    busy = subprocess.Popen(
        [stack.engine, "exec", stack.container("trainer"), "automl", "train", "-p", "model_name", "busy-host",
         "-p", "experiment_name", "busy-host", "-p", "h2o_url", "http://h2o:54321", "-p", "sample_rows", "20000",
         "-p", "max_runtime_secs", "60", "-p", "nfolds", "2", "-p", "exclude_algos", "[DeepLearning]"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    own, walls = {}, {}
    try:
        deadline = time.monotonic() + 240
        while not _h2o_building(stack):
            assert busy.poll() is None, (tmp_path / "busy-training.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the training never started building a model"
            time.sleep(1)
        for service in ("mlflow", "h2o", "trainer", "api", "dashboard"):
            container = stack.container(service)
            test = stack.run("inspect", "--format", "{{json .Config.Healthcheck.Test}}", container)
            command = json.loads(test.stdout)[1:]
            timed = stack.run("exec", container, "python", "-c", TIMED_CHECK, *command, check=False)
            assert timed.returncode == 0, (service, timed.stdout, timed.stderr)
            own[service] = float(timed.stdout.split()[-1])
            started = time.monotonic()
            if stack.engine == "docker":  # Docker runs the checks itself: run the same command the same way
                result = stack.run("exec", container, *command, check=False)
            else:
                result = stack.run("healthcheck", "run", container, check=False)
            walls[service] = time.monotonic() - started
            assert result.returncode == 0, (service, result.stdout, result.stderr)
        assert _h2o_building(stack) or busy.poll() is None, "the training ended before the checks did"
    finally:
        busy.wait(timeout=600)
    print("\nhealthcheck while a training runs, own: " + ", ".join(f"{s} {t:.2f} s" for s, t in own.items())
          + "; with the engine: " + ", ".join(f"{s} {t:.2f} s" for s, t in walls.items()))
    assert busy.returncode == 0, (tmp_path / "busy-training.log").read_text()[-3000:]
    assert max(own.values()) < 1, own
    assert max(walls.values()) < 5, walls


def test_ports_are_published_on_loopback_only(stack):
    for service, port in (("mlflow", "MLFLOW_PORT"), ("api", "API_PORT"), ("dashboard", "DASHBOARD_PORT"),
                          ("h2o", "H2O_PORT")):
        published = stack.run("port", stack.container(service)).stdout
        assert f"127.0.0.1:{stack.ports[port]}" in published and "0.0.0.0" not in published, (service, published)
    assert not stack.run("port", stack.container("trainer")).stdout.strip()


def test_the_api_scores_real_rows_through_its_published_port(stack):
    rows = pd.read_csv(TEST_CSV, nrows=500)
    answer = requests.post(f"{stack.api}/predict", files={"file": ("test.csv", rows.to_csv(index=False))},
                           timeout=60)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["id"] for p in predictions] == rows["id"].tolist()
    assert all(0.0 <= p["probability"] <= 1.0 for p in predictions)
    records = rows.head(3).to_dict(orient="records")
    assert len(requests.post(f"{stack.api}/predict", json={"records": records}, timeout=30).json()["predictions"]) == 3
    bad = requests.post(f"{stack.api}/predict", json={"records": [{**records[0], "Age": "old"}]}, timeout=30)
    assert bad.status_code == 422 and bad.json()["problems"][0]["column"] == "Age"


@pytest.mark.browser
def test_the_dashboard_uploads_predicts_and_offers_the_download(stack, browser, tmp_path):
    customers = tmp_path / "customers.csv"
    pd.read_csv(TEST_CSV, nrows=200).to_csv(customers, index=False)
    page = open_dashboard(browser, stack.dashboard)
    assert "version" in page.inner_html(".model-card")
    upload(page, customers)
    page.wait_for_selector("text=200 rows", timeout=60_000)
    page.click("button:has-text('Predict')")
    page.wait_for_selector(".download-link", timeout=120_000)
    page.screenshot(path=str(SCREENSHOTS / "containers-dashboard.png"), full_page=True)
    with page.expect_download() as download:
        page.click(".download-link")
    scored = pd.read_csv(download.value.path())
    assert len(scored) == 200 and {"probability", "label"} <= set(scored.columns)


def test_images_java_17_no_tools_in_the_api_image_and_sizes(stack):
    for service in ("h2o", "trainer"):
        version = stack.run("exec", stack.container(service), "java", "-version").stderr
        assert re.search(r'version "17\.', version), (service, version)
    api = stack.container("api")
    for tool in ("javac", "gcc", "cc", "pytest", "h2o"):
        assert stack.run("exec", api, "sh", "-c", f"command -v {tool}", check=False).returncode != 0, tool
    for module in ("pytest", "h2o"):
        assert stack.run("exec", api, "python", "-c", f"import {module}", check=False).returncode != 0, module
    assert stack.run("exec", api, "id", "-un").stdout.strip() == "app"
    sizes = {image: int(stack.run("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())
             for image in ("automl-stack-api:latest", "automl-stack:latest")}
    print("\nimage sizes: " + ", ".join(f"{image} {size / 1e6:.0f} MB" for image, size in sizes.items()))
    assert sizes["automl-stack-api:latest"] < 1e9


def test_the_api_comes_back_after_its_main_process_is_killed(stack):
    api = stack.container("api")
    restarts = int(stack.run("inspect", "--format", "{{.RestartCount}}", api).stdout)
    pid = int(stack.run("inspect", "--format", "{{.State.Pid}}", api).stdout)
    os.kill(pid, 9)
    time.sleep(3)
    wait_http(f"{stack.api}/ready", None, timeout=180)
    assert int(stack.run("inspect", "--format", "{{.RestartCount}}", api).stdout) > restarts


def test_the_api_keeps_serving_while_mlflow_is_stopped(stack):
    stack.script("compose", "stop", "mlflow")
    try:
        with pytest.raises(requests.RequestException):
            requests.get(f"{stack.mlflow}/health", timeout=5)
        for _ in range(3):  # across a few of the API's registry polls (POLL_SECONDS=5)
            answer = requests.post(f"{stack.api}/predict", json={"records": pd.read_csv(TEST_CSV, nrows=2).to_dict(
                orient="records")}, timeout=30)
            assert answer.status_code == 200, answer.text
            time.sleep(5)
        assert requests.get(f"{stack.api}/ready", timeout=10).status_code == 200
    finally:
        stack.script("compose", "start", "mlflow")
    wait_http(f"{stack.mlflow}/health", None, timeout=300)


def monitored(url: str) -> tuple[int, dict]:
    """Rows ``GET /monitoring`` counts (written to MLflow) over every version, and the recorder's state."""
    report = requests.get(f"{url}/monitoring", timeout=60).json()
    return sum(version["rows"] for version in report["versions"]), report["recorder"]


def test_down_then_up_serves_the_same_champion_without_retraining(stack):
    client = MlflowClient(stack.mlflow)
    before = client.get_model_version_by_alias(MODEL, "champion").version
    runs = len(client.search_runs([client.get_experiment_by_name("cross-sell").experiment_id]))
    scored = pd.read_csv(TEST_CSV, nrows=1000)
    answer = requests.post(f"{stack.api}/predict", files={"file": ("test.csv", scored.to_csv(index=False))},
                           timeout=120)
    assert answer.status_code == 200, answer.text
    rows_before, recorder = monitored(stack.api)
    assert recorder["pending"] >= 1, recorder  # queued, not written: only the API's stop writes it
    started = time.monotonic()
    stack.make("down")
    print(f"\nmake down: {time.monotonic() - started:.0f} s")
    assert not stack.leftovers()["containers"] and stack.leftovers()["volumes"]
    stack.make("up", PROFILES="dev")  # with JupyterLab this time
    client = MlflowClient(stack.mlflow)
    assert client.get_model_version_by_alias(MODEL, "champion").version == before
    assert requests.get(f"{stack.api}/model", timeout=10).json()["version"] == before
    assert len(client.search_runs([client.get_experiment_by_name("cross-sell").experiment_id])) == runs
    rows_after, _ = monitored(stack.api)
    assert rows_after >= rows_before + len(scored), "make down lost monitoring summaries the API had queued"
    assert "training now" not in stack.run("logs", stack.container("trainer")).stderr
    jupyter = f"http://127.0.0.1:{stack.ports['JUPYTER_PORT']}/api/status"
    token = dict(line.split("=", 1) for line in stack.env_file.read_text().splitlines())["JUPYTER_TOKEN"]
    assert requests.get(jupyter, params={"token": token}, timeout=10).status_code == 200
    assert requests.get(jupyter, timeout=10).status_code == 403


def test_two_h2o_nodes_form_one_cloud_and_the_trainer_trains_on_it(stack):
    stack.make("down")
    two = "containers-two-node"  # a model without a champion: the trainer trains on the new cloud at once
    stack.env["MODEL_NAME"] = two
    try:
        stack.make("up", H2O_NODES="2")
    finally:
        stack.env.pop("MODEL_NAME")
    state = requests.get(f"http://127.0.0.1:{stack.ports['H2O_PORT']}/3/Cloud", timeout=10).json()
    assert state["cloud_size"] == 2 and state["cloud_healthy"]
    client = MlflowClient(stack.mlflow)
    run = client.get_run(client.get_model_version_by_alias(two, "champion").run_id)
    assert run.data.tags["h2o_nodes"] == "2"


def test_make_down_volumes_leaves_nothing_of_the_project(stack):
    stack.make("down", VOLUMES="1")
    assert stack.leftovers() == {"containers": [], "networks": [], "volumes": []}
