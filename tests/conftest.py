"""Shared fixtures: the real data (sampled), free ports, and real servers started and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

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


def wait_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200, failing early if ``process`` exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop_process(process: subprocess.Popen) -> None:
    """Stop a process group started with ``start_new_session`` by PID: TERM, then KILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


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


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on a SQLite backend, on a free loopback port; yields its URI."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(root / "server.log", "w")
    process = subprocess.Popen(
        [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{uri}/health", process, timeout=90)
        yield uri
    finally:
        stop_process(process)
        log.close()
