"""`make bench`'s comparison with what a user would pick instead: ``mlflow models serve`` on the same champion
version (``--env-manager local``, as many workers as our API), and the native booster's own rate.

``mlflow models serve`` is measured on its ``/invocations``: single-row ``dataframe_split`` JSON p50 on one
kept-alive connection, and the same 100,000 rows as CSV (``text/csv``) and as ``dataframe_split`` JSON. When
it refuses the CSV, the figure is None and its answer is kept: MLflow's ``parse_csv_input`` reads CSV with
``pd.read_csv(dtype=schema.pandas_types())``, and ``Schema.pandas_types()`` raises for a signature with
``Any``-typed columns ("Failed to get pandas types as some of the inputs types are not DataType").
"""

from __future__ import annotations

import http.client
import json
import logging
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from tests.conftest import REPO, VENV_BIN, free_port, wait_http

log = logging.getLogger("bench")


def start_mlflow_serve(tracking_uri: str, model_uri: str, log_path: Path,
                       workers: int = 1) -> tuple[subprocess.Popen, str]:
    """``mlflow models serve -m model_uri --env-manager local`` on a free loopback port; (process, url)."""
    import os

    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=REPO, env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,  # it runs `uvicorn` from PATH
                       "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}, stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/ping", process, timeout=300)
    return process, url


def split_json(frame: pd.DataFrame) -> bytes:
    """``frame`` as MLflow's ``dataframe_split`` JSON (NaN as null)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return json.dumps({"dataframe_split": {"columns": list(frame.columns),
                                           "data": clean.values.tolist()}}).encode()


def mlflow_single_row(url: str, frame: pd.DataFrame, requests_count: int, warmup: int = 10) -> list[float]:
    """Milliseconds per single-row ``dataframe_split`` request to ``/invocations`` on one connection."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    body, headers = split_json(frame.head(1)), {"Content-Type": "application/json"}
    timings = []
    for i in range(warmup + requests_count):
        start = time.perf_counter()
        connection.request("POST", "/invocations", body, headers)
        answer = connection.getresponse()
        text = answer.read()
        elapsed = time.perf_counter() - start
        if answer.status != 200:
            raise RuntimeError(f"mlflow models serve answered {answer.status}: {text[:500]!r}")
        if i >= warmup:
            timings.append(elapsed * 1000)
    connection.close()
    return timings


def mlflow_batch(url: str, body: bytes, content_type: str, rows: int) -> tuple[float | None, str]:
    """Rows/s of one ``/invocations`` request of ``rows`` rows, or (None, MLflow's answer) when refused."""
    start = time.perf_counter()
    answer = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": content_type}, timeout=1800)
    answer.content  # noqa: B018 - read it all
    seconds = time.perf_counter() - start
    if answer.status_code != 200:
        try:
            message = answer.json().get("message", answer.text)
        except ValueError:
            message = answer.text
        return None, f"{answer.status_code}: {message[:600]}"
    return rows / seconds, ""


def mlflow_serve_figures(tracking_uri: str, model_uri: str, frame: pd.DataFrame, csv: bytes, workdir: Path,
                         requests_count: int, workers: int = 1) -> dict:
    """The ``mlflow_serve_*`` figures of ``model_uri`` served by ``mlflow models serve`` (stopped after)."""
    from tests.conftest import stop_process

    process, url = start_mlflow_serve(tracking_uri, model_uri, workdir / "mlflow-serve.log", workers)
    try:
        latency = mlflow_single_row(url, frame, requests_count)
        csv_rate, csv_refusal = mlflow_batch(url, csv, "text/csv", len(frame))
        json_rate, json_refusal = mlflow_batch(url, split_json(frame), "application/json", len(frame))
    finally:
        stop_process(process)
    log.info("mlflow models serve: p50 %.2f ms, CSV %s rows/s %s, JSON %s rows/s %s",
             statistics.median(latency), csv_rate, csv_refusal, json_rate, json_refusal)
    return {"mlflow_serve_single_row_p50_ms": statistics.median(latency),
            "mlflow_serve_single_row_p99_ms": float(np.percentile(latency, 99)),
            "mlflow_serve_workers": workers,
            "mlflow_serve_csv_100k_rows_per_s": csv_rate, "mlflow_serve_csv_refusal": csv_refusal,
            "mlflow_serve_json_100k_rows_per_s": json_rate, "mlflow_serve_json_refusal": json_refusal}


def native_booster_rate(scorer, matrix: np.ndarray, repeats: int = 3) -> float | None:
    """Rows/s of the champion's own booster (``inplace_predict`` on the one-hot encoded matrix, outside any
    server), best of ``repeats``; None when the model has no native booster."""
    native = getattr(scorer, "native", None)
    if native is None:
        return None
    encoded = native.one_hot(matrix)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        native.booster.inplace_predict(encoded, validate_features=False)
        best = min(best, time.perf_counter() - start)
    return len(matrix) / best
