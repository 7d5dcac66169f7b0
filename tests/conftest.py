"""Shared fixtures: the real data (sampled), free ports, and real servers started and stopped by PID."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
import requests

# A developer's .env (written by `make up`) must not change what the tests and the processes they start
# read: settings come from the environment the tests set, and from no file.
os.environ["AUTOML_ENV_FILE"] = os.devnull

from automlkit import h2o_cluster  # noqa: E402
from automlkit.h2o_cluster import cloud_state as h2o_cloud  # noqa: F401 - used by the tests
from automlkit.launch import stop_process  # noqa: E402 - shared: tests stop what they start by PID
from automlkit.settings import EXAMPLE_TARGET  # noqa: E402

#: The training parameter the shipped data's samples need (only a run that names no data has a default target).
SHIPPED_TARGET = ["-p", "target", EXAMPLE_TARGET]

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data"
TRAIN_CSV = DATA_DIR / "train.csv.gz"
TEST_CSV = DATA_DIR / "test.csv.gz"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen | None, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200, failing early if ``process`` (when given) exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def train_frame() -> pd.DataFrame:
    """The real labelled data (read once per session)."""
    if not TRAIN_CSV.exists():
        pytest.fail(f"the shared data set is missing: {TRAIN_CSV}")
    return pd.read_csv(TRAIN_CSV)


@pytest.fixture(scope="session")
def sample_csv(train_frame, tmp_path_factory) -> Path:
    """6,000 real rows as a gzip CSV (small enough for a quick AutoML)."""
    path = tmp_path_factory.mktemp("data") / "sample.csv.gz"
    train_frame.sample(n=6000, random_state=7).sort_index().to_csv(path, index=False)
    return path


@contextlib.contextmanager
def stand_in_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on a free loopback port from a thread (a stand-in for the API in the dashboard
    client's own tests); yields its URL and shuts it down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def start_mlflow(root: Path, port: int) -> subprocess.Popen:
    """``mlflow server`` on the SQLite store and artifacts under ``root``, on loopback ``port``."""
    with open(root / f"server-{port}.log", "w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> Path:
    """The folder of the session's MLflow store (SQLite database and artifacts)."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="session")
def mlflow_server(mlflow_store):
    """A real ``mlflow server`` on a SQLite backend, on a free loopback port; yields its URI."""
    port = free_port()
    process = start_mlflow(mlflow_store, port)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{uri}/health", process, timeout=90)
        yield uri
    finally:
        stop_process(process)


def run_training(tracking_uri: str, data: str | Path, extra: list[str], output_dir: Path,
                 timeout: int = 1200) -> subprocess.CompletedProcess:
    """``python -m automlkit.run_training`` (papermill on train.ipynb) against ``tracking_uri``; the target is
    the shipped data's unless ``extra`` names another."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    cmd = [sys.executable, "-m", "automlkit.run_training", "-p", "data_path", str(data), *SHIPPED_TARGET, *extra,
           "--output-dir", str(output_dir), "--timeout", str(timeout - 60)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


#: One real-looking customer of the shipped data set, as a JSON record (the API tests' "normal request").
ROW = {"id": 381110, "Gender": "Male", "Age": 25, "Driving_License": 1, "Region_Code": 11.0,
       "Previously_Insured": 1, "Vehicle_Age": "< 1 Year", "Vehicle_Damage": "No", "Annual_Premium": 35786.0,
       "Policy_Sales_Channel": 152.0, "Vintage": 53}


#: The small champion the API, dashboard and bench tests serve (its own model name in the session's server).
API_MODEL = "api-model"
SMALL_BUDGET = ["-p", "max_runtime_secs", "60", "-p", "max_models", "3", "-p", "nfolds", "3",
                "-p", "exclude_algos", "[DeepLearning, DRF]", "-p", "seed", "1"]
#: The cheapest training that still runs the whole notebook (one model of AutoML, no tuned XGBoost): for
#: tests whose point is that a run finishes, not what it learns. The tuned XGBoost is trained by the
#: session's champion (``api_training``).
QUICK_BUDGET = ["-p", "max_runtime_secs", "60", "-p", "max_models", "1", "-p", "nfolds", "2",
                "-p", "exclude_algos", "[DeepLearning, DRF, StackedEnsemble]", "-p", "tuned_xgboost", "False",
                "-p", "seed", "1"]


@dataclass(frozen=True)
class Training:
    """A finished training run of the session, and the registry as it stood right after it."""

    tracking_uri: str
    model_name: str
    run_id: str
    #: the version the champion alias pointed at when the run ended (later tests may move the alias)
    champion_version: str
    result: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def api_training(mlflow_server, sample_csv, tmp_path_factory) -> Training:
    """The session's first training: the small budget on the sample, registered as ``api-model`` (the
    champion the API, dashboard and bench tests serve, and the run test_training inspects)."""
    from mlflow import MlflowClient

    result = run_training(mlflow_server, sample_csv, [*SMALL_BUDGET, "-p", "model_name", API_MODEL,
                                                      "-p", "experiment_name", API_MODEL],
                          tmp_path_factory.mktemp("api-train"))
    assert result.returncode == 0, result.stderr[-4000:]
    champion = MlflowClient(mlflow_server).get_model_version_by_alias(API_MODEL, "champion")
    return Training(mlflow_server, API_MODEL, champion.run_id, str(champion.version), result)


@pytest.fixture(scope="session")
def api_champion(api_training) -> str:
    """The tracking URI of the session's server, where ``api-model@champion`` is the small champion."""
    return api_training.tracking_uri


def copy_champion(tracking_uri: str, source: str, version: str, target: str) -> str:
    """Version ``version`` of ``source`` copied into registered model ``target`` (created if needed) and given
    the champion alias there, as a first run of ``target`` would leave it; returns the new version number."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    copied = str(client.copy_model_version(f"models:/{source}/{version}", target).version)
    client.set_registered_model_alias(target, "champion", copied)
    return copied


def start_api(tracking_uri: str, log_path: Path, wait_for: str = "/ready",
              **env_overrides: str) -> tuple[subprocess.Popen, str]:
    """``uvicorn api.main:app`` on a free loopback port, as docs/api.md starts it; returns (process, url)
    once ``wait_for`` answers 200."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MODEL_NAME": API_MODEL, **env_overrides}
    log = open(log_path, "w")
    process = subprocess.Popen(
        [str(VENV_BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}{wait_for}", process, timeout=120)
    except Exception:
        stop_process(process)
        raise RuntimeError(f"the API did not become ready: {log_path.read_text()[-3000:]}")
    return process, url


@dataclass(frozen=True)
class RunningApi:
    """A started API: its URL, its log and its reload token."""

    url: str
    log_path: Path
    reload_token: str


@contextlib.contextmanager
def running_api(tracking_uri: str, log_path: Path, reload_token: str, **env: str) -> Iterator[RunningApi]:
    """:func:`start_api` with no polling and ``reload_token``, stopped by PID at the end."""
    process, url = start_api(tracking_uri, log_path, POLL_SECONDS="0", RELOAD_TOKEN=reload_token, **env)
    try:
        yield RunningApi(url, log_path, reload_token)
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def shared_api(api_champion, tmp_path_factory) -> Iterator[RunningApi]:
    """One API on the session's champion with the default limits, for the tests that only score and read
    (the load, the dashboard, the comparison with ``mlflow models serve``, the log's redaction): started once
    instead of once per file. Tests that move aliases or need other settings start their own."""
    with running_api(api_champion, tmp_path_factory.mktemp("shared-api") / "api.log",
                     "shared-reload-token") as api:
        yield api


#: The limits of :func:`strict_api` (the fuzz and contract tests send bodies past them).
STRICT_MAX_UPLOAD_BYTES, STRICT_MAX_ROWS = 1_000_000, 5000


@pytest.fixture(scope="session")
def strict_api(api_champion, tmp_path_factory) -> Iterator[RunningApi]:
    """One API on the session's champion with small limits, for the fuzz and OpenAPI contract tests."""
    with running_api(api_champion, tmp_path_factory.mktemp("strict-api") / "api.log", "strict-reload-token",
                     MAX_UPLOAD_BYTES=str(STRICT_MAX_UPLOAD_BYTES), MAX_ROWS=str(STRICT_MAX_ROWS)) as api:
        yield api


def assert_explanations_add_up(predictions: list[dict], schema: dict) -> None:
    """Each prediction's explanation: the 5 largest contributions of the model's features, largest first,
    and bias + top + other equal to the row's logit (``schema``: the model card's ``input_schema``)."""
    from automlkit.schema import Schema

    features = set(Schema.from_dict(schema).model_features)
    for prediction in predictions:
        explanation = prediction["explanation"]
        assert set(explanation) == {"bias", "other", "top"}
        top = explanation["top"]
        assert len(top) == 5 and {t["feature"] for t in top} <= features
        sizes = [abs(t["contribution"]) for t in top]
        assert sizes == sorted(sizes, reverse=True)
        logit = math.log(prediction["probability"] / (1 - prediction["probability"]))
        total = explanation["bias"] + explanation["other"] + sum(t["contribution"] for t in top)
        assert total == pytest.approx(logit, abs=1e-4)


def assert_still_serving(url: str) -> None:
    """The API at ``url`` is ready and scores a normal row (:data:`ROW`): checked after bad input or a fault."""
    ready = requests.get(f"{url}/ready", timeout=10)
    assert ready.status_code == 200, f"{ready.status_code}: {ready.text[:500]}"
    answer = requests.post(f"{url}/predict", json={"records": [ROW]}, timeout=30)
    assert answer.status_code == 200, f"{answer.status_code}: {answer.text[:500]}"
    assert 0 < answer.json()["predictions"][0]["probability"] < 1, answer.text[:500]


H2O_JAR = Path(__import__("h2o").__file__).parent / "backend" / "bin" / "h2o.jar"


def start_h2o_node(name: str, port: int, root: Path, flatfile: Path | None = None) -> subprocess.Popen:
    """One H2O node from the pinned jar, as the compose `h2o` service starts it (plus a flatfile if given)."""
    ice = root / f"ice-{port}"
    ice.mkdir()
    cluster = ["-flatfile", str(flatfile)] if flatfile else []
    with open(root / f"node-{port}.log", "w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(
            ["java", "-Xmx768m", "-jar", str(H2O_JAR), "-name", name, *cluster, "-ip", "127.0.0.1",
             "-port", str(port), "-ice_root", str(ice), "-nthreads", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_cloud(url: str, size: int, nodes: list[subprocess.Popen], timeout: float = 120) -> dict:
    """Wait until the node at ``url`` reports a healthy cloud of ``size`` nodes, failing if a node exits."""
    try:
        return h2o_cluster.wait_for_cloud(url, size, timeout, lambda: all(node.poll() is None for node in nodes))
    except TimeoutError:
        if any(node.poll() is not None for node in nodes):
            raise RuntimeError("an H2O node exited while the cloud was forming") from None
        raise


#: Where browser tests save what a user sees (ignored by git; named in docs/testing.md).
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def start_dashboard(api_url: str, log_path: Path, **env_overrides: str) -> tuple[subprocess.Popen, str]:
    """Voilà on the dashboard notebook (``python -m automlkit.dashboard_server``) on a free loopback port."""
    port = free_port()
    env = {**os.environ, "API_URL": api_url, **env_overrides}
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "-m", "automlkit.dashboard_server", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        # a static file, not the page: every GET of the page starts a kernel, and polling it on a busy
        # machine piled up dozens of them (each ~150 MB) until the wait timed out
        wait_http(f"{url}voila/static/favicon.ico", process, timeout=120)
    except Exception:
        stop_process(process)
        raise RuntimeError(f"Voilà did not start: {log_path.read_text()[-3000:]}")
    return process, url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; every request off loopback is refused (the page must work
    offline). Yields a factory of new pages and records what was refused."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `.ci/run` (or `make browser`) installs Debian's chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        refused: list[str] = []

        def new_page():
            context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)

            def route(route):
                if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
                    return route.continue_()
                refused.append(route.request.url)
                return route.abort()

            context.route("**/*", route)
            return context.new_page()

        new_page.refused = refused
        yield new_page
        chromium.close()
