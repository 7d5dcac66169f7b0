"""The champion's answer latency with a challenger scoring in its shadow, and without (issue 28).

    python -m tests.bench.shadow [--requests 500] [--csv-rows 1000] [--seconds 20]   (from the top folder)

Registers the committed tiny models in a throw-away SQLite store (``tests/fixtures/tiny_model/``: the GBM as
champion, the XGBoost as challenger) and starts the API on it with ``SHADOW_SHARE=0`` (off) and ``1`` (on:
every row scored twice), in turns (``--turns``, default 2: off, on, off, on; the machine's other work weighs
on both alike). Each time: single-row JSON latency on one kept-alive connection (p50, p99), the best
and median of a CSV upload of ``--csv-rows`` rows of ``test.csv.gz``, and a short concurrent load (10 clients,
a fifth of the requests CSV uploads). Prints the figures as JSON, with what shadow scoring did (rows scored
and skipped).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import requests

from tests.conftest import ROW, TEST_CSV, start_api, stop_process
from tests.route_fixtures import TINY_MOJO, TINY_XGBOOST_MOJO, log_tiny_version, restored_mlflow_uris

from .load import run_load
from .run import csv_upload, single_row_latency

MODEL = "shadow-bench"


def measure(url: str, requests_count: int, csv: bytes, csv_rows: int, seconds: float) -> dict:
    """Latencies of one API: single rows, CSV uploads, a concurrent load; and its shadow counts."""
    single = single_row_latency(url, ROW, requests_count)
    uploads = [csv_upload(url, "/predict", csv, 1)[0] * 1000 for _ in range(7)]
    load = run_load(url, ROW, csv, csv_rows, clients=10, seconds=seconds).summary()
    time.sleep(2)  # the shadow queue drains
    state = requests.get(f"{url}/monitoring", timeout=60).json().get("shadow") or {}
    return {"single_p50_ms": float(np.percentile(single, 50)), "single_p99_ms": float(np.percentile(single, 99)),
            "csv_best_ms": min(uploads), "csv_median_ms": statistics.median(uploads),
            **{k: v for k, v in load.items() if k.endswith(("_ms", "requests_per_s", "errors"))},
            "shadow_scored_rows": state.get("scored_rows"), "shadow_skipped_rows": state.get("skipped_rows")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--csv-rows", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--turns", type=int, default=2)
    args = parser.parse_args(argv)
    csv = pd.read_csv(TEST_CSV, nrows=args.csv_rows).to_csv(index=False).encode()
    figures: dict[str, list[dict]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="shadow-bench-") as folder:
        root = Path(folder)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        with restored_mlflow_uris():
            mlflow.set_tracking_uri(uri)
            mlflow.create_experiment(MODEL, artifact_location=(root / "artifacts").as_uri())
        log_tiny_version(uri, MODEL, TINY_MOJO, "champion")
        log_tiny_version(uri, MODEL, TINY_XGBOOST_MOJO, "challenger")
        for turn in range(args.turns):
            for name, share in (("off", "0"), ("on", "1")):
                process, url = start_api(uri, root / f"api-{name}-{turn}.log", MODEL_NAME=MODEL, SHADOW_SHARE=share,
                                         POLL_SECONDS="0", MONITORING_FLUSH_SECONDS="5")
                try:
                    figures[name].append(measure(url, args.requests, csv, args.csv_rows, args.seconds))
                finally:
                    stop_process(process)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
