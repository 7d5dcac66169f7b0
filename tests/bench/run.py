"""`make bench`: the API's speed against the original H2O + FastAPI way and against a plain Java loop.

    python -m tests.bench.run [--rows 100000] [--requests 500]    (from the repository's top folder)

Uses the champion of ``MLFLOW_TRACKING_URI`` / ``MODEL_NAME`` (the embedded store and ``cross-sell`` by
default): the champion a user really gets. When there is none, it is trained first exactly as ``make run``
trains (``--train-params``, which ``make bench`` sets to the Makefile's ``RUN_PARAMS``) on all of
``train.csv.gz``; ``--selection best`` trains and measures the old rule's champion (a stacked ensemble)
under ``MODEL_NAME-best`` instead. Then, in this one process tree:

1. starts the API (``uvicorn api.main:app``) on loopback and measures single-row JSON latency (p50, p99)
   over HTTP and a CSV upload of the first ``--rows`` rows of ``../shared/data/test.csv.gz`` end to end;
2. starts the baseline (``baseline_app.py``: ``model.predict(h2o.H2OFrame(df))`` on an H2O JVM) and
   measures the same two things;
3. compiles ``MojoLoop.java`` with ``javac`` and scores the same rows with the same MOJO in a plain Java
   loop on 2 threads: the raw compute limit;
4. checks the API's probabilities against H2O's own, and reads the API process's peak RSS;
5. puts the API under load (``load.py``): ``--load-clients`` concurrent clients for ``--load-seconds``,
   mixing single-row JSON and 1,000-row CSV requests; errors and p50/p99 per kind;
6. starts a second API with ``MONITORING=0`` and measures both in turns: the monitoring recorder's cost;
7. starts ``mlflow models serve`` on the same version (``mlflow_serve.py``): single-row p50, 100k rows as CSV
   and as ``dataframe_split`` JSON; and times the native booster's ``inplace_predict`` on the same rows;
8. runs ``automl score`` over ``--batch-rows`` rows (test.csv.gz repeated; rows/s and peak RSS) and
   ``automl score-spark`` on ``local[2]`` over ``--spark-rows`` of them (``batch.py``).

Prints one table and writes ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import requests
from mlflow import MlflowClient

from automlkit.scoring import META_FILE, ModelMeta
from automlkit.schema import conform
from automlkit.log_config import configure_logging
from automlkit.settings import TrainingSettings
from tests.conftest import (REPO, TEST_CSV, TRAIN_CSV, free_port, run_training, start_api, stop_process,
                            wait_http)

from .batch import batch_figures, monitoring_overhead
from .load import run_load
from .mlflow_serve import mlflow_serve_figures, native_booster_rate

log = logging.getLogger("bench")
HERE = Path(__file__).resolve().parent
RESULTS = REPO / "bench" / "results.json"
def ensure_champion(settings: TrainingSettings, train_params: list[str], workdir: Path) -> None:
    """Train the champion into the configured store with ``train_params`` on all of train.csv.gz when it has
    none (as ``make run`` does: the figures are those of the model a user gets)."""
    client = MlflowClient(settings.tracking_uri)
    try:
        client.get_model_version_by_alias(settings.model_name, settings.champion_alias)
        return
    except Exception:  # noqa: BLE001 - no such model or alias
        pass
    log.info("no %s@%s in %s: training it first (%s)", settings.model_name, settings.champion_alias,
             settings.tracking_uri, " ".join(train_params))
    result = run_training(settings.tracking_uri, TRAIN_CSV, [*train_params, "-p", "model_name", settings.model_name,
                                                             "-p", "experiment_name", settings.model_name],
                          workdir, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"training the bench model failed:\n{result.stderr[-3000:]}")


def training_budget(settings: TrainingSettings) -> dict:
    """The champion's training run: its budget, rows, how it was selected and its holdout AUC."""
    client = MlflowClient(settings.tracking_uri)
    version = client.get_model_version_by_alias(settings.model_name, settings.champion_alias)
    run = client.get_run(version.run_id)
    params = run.data.params
    return {"max_runtime_secs": int(params.get("max_runtime_secs", 0)), "rows_used": int(params.get("rows_used", 0)),
            "exclude_algos": params.get("exclude_algos", ""), "selection": params.get("selection", "best"),
            "holdout_auc": run.data.metrics.get("holdout_auc")}


def explanation_check(url: str, record: dict) -> dict:
    """Whether ``?explain=true`` explains a row, and how far bias + contributions is from the row's logit."""
    answer = requests.post(f"{url}/predict?explain=true", json={"records": [record]}, timeout=60).json()
    if not answer.get("explain", {}).get("available"):
        return {"explain_available": False}
    prediction = answer["predictions"][0]
    parts = prediction["explanation"]
    total = parts["bias"] + parts["other"] + sum(t["contribution"] for t in parts["top"])
    logit = float(np.log(prediction["probability"] / (1 - prediction["probability"])))
    return {"explain_available": True, "explain_logit_abs_error": abs(total - logit)}


def champion_files(settings: TrainingSettings, workdir: Path) -> tuple[str, Path, Path, Path]:
    """(model id, MOJO, h2o-genmodel.jar, model_meta.json) of the champion, downloaded."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    version = MlflowClient().get_model_version_by_alias(settings.model_name, settings.champion_alias)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{settings.model_name}/{version.version}",
                                                     dst_path=str(workdir / "model")))
    mojo = next(p for p in local.rglob("*.zip"))
    jar = next(local.rglob("h2o-genmodel.jar"))
    meta = next(local.rglob(META_FILE))
    model_id = f"{settings.model_name} v{version.version} ({ModelMeta.read(meta).h2o_model_id})"
    return model_id, mojo, jar, meta


def single_row_latency(url: str, record: dict, requests_count: int, warmup: int = 20) -> list[float]:
    """Milliseconds per single-row JSON request on one kept-alive connection."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    body = json.dumps({"records": [record]}).encode()
    headers = {"Content-Type": "application/json"}
    timings = []
    for i in range(warmup + requests_count):
        start = time.perf_counter()
        connection.request("POST", "/predict", body, headers)
        answer = connection.getresponse()
        answer.read()
        elapsed = time.perf_counter() - start
        if answer.status != 200:
            raise RuntimeError(f"{url} answered {answer.status}")
        if i >= warmup:
            timings.append(elapsed * 1000)
    connection.close()
    return timings


def csv_upload(url: str, path: str, data: bytes, repeats: int) -> tuple[float, requests.Response]:
    """Best seconds for a CSV upload, request sent to full response read, and the last answer."""
    best, answer = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        answer = requests.post(f"{url}{path}", files={"file": ("customers.csv", data, "text/csv")}, timeout=1800)
        answer.content  # noqa: B018 - read it all
        best = min(best, time.perf_counter() - start)
        answer.raise_for_status()
    return best, answer


def java_loop(mojo: Path, jar: Path, matrix: np.ndarray, column: int, workdir: Path,
              threads: int = 2) -> tuple[float, np.ndarray]:
    """Rows/s of MojoLoop.java over ``matrix`` on ``threads`` threads, and its probabilities."""
    javac = shutil.which("javac")
    if not javac:
        raise SystemExit("javac not found: `make setup` installs a JDK (default-jdk-headless)")
    classes = workdir / "classes"
    classes.mkdir(exist_ok=True)
    subprocess.run([javac, "-nowarn", "-cp", str(jar), "-d", str(classes), str(HERE / "MojoLoop.java")], check=True)
    rows_file, out_file = workdir / "rows.f64", workdir / "out.f64"
    np.ascontiguousarray(matrix, dtype="<f8").tofile(rows_file)
    result = subprocess.run(
        ["java", "-Xmx2g", "-cp", f"{jar}{os.pathsep}{classes}", "MojoLoop", str(mojo), str(rows_file),
         str(matrix.shape[1]), str(threads), "5", str(column), str(out_file)],
        check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1]), np.fromfile(out_file, dtype=">f8")


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of test.csv.gz in the CSV upload")
    parser.add_argument("--requests", type=int, default=500, help="single-row requests timed (ours)")
    parser.add_argument("--baseline-requests", type=int, default=50, help="single-row requests timed (baseline)")
    parser.add_argument("--load-clients", type=int, default=50, help="concurrent clients of the load test")
    parser.add_argument("--load-seconds", type=float, default=60, help="length of the load test (0: skip it)")
    parser.add_argument("--batch-rows", type=int, default=5_000_000,
                        help="rows `automl score` scores (test.csv.gz repeated; 0: skip it)")
    parser.add_argument("--spark-rows", type=int, default=1_000_000,
                        help="rows `automl score-spark` scores on local[2] (0: skip it)")
    parser.add_argument("--output", default=str(RESULTS), help="where the JSON results go (default: %(default)s)")
    parser.add_argument("--train-params", default="-p max_runtime_secs 120 -p exclude_algos [DeepLearning]",
                        help="papermill parameters of the champion trained when there is none (make bench: the "
                             "Makefile's RUN_PARAMS, what make run trains with)")
    parser.add_argument("--selection", choices=["within_noise", "best"], default="within_noise",
                        help="the champion measured: the default rule's, or (best) the old rule's under "
                             "MODEL_NAME-best")
    args = parser.parse_args(argv)
    configure_logging()
    settings = TrainingSettings.load()
    if args.selection == "best":
        settings = TrainingSettings.load(model_name=f"{settings.model_name}-best")
    train_params = [*shlex.split(args.train_params), "-p", "selection", args.selection]
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    processes: list[subprocess.Popen] = []
    try:
        ensure_champion(settings, train_params, workdir)
        budget = training_budget(settings)
        model_id, mojo, jar, meta_path = champion_files(settings, workdir)
        meta = ModelMeta.read(meta_path)
        frame = pd.read_csv(TEST_CSV, nrows=args.rows)
        data = frame.to_csv(index=False).encode()
        record = {k: (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[0].to_dict().items()}
        log.info("model %s; %d rows, %.1f MB of CSV", model_id, len(frame), len(data) / 1e6)

        api, api_url = start_api(settings.tracking_uri, workdir / "api.log", MODEL_NAME=settings.model_name,
                                 POLL_SECONDS="0", MAX_UPLOAD_BYTES=str(max(len(data) * 2, 200 << 20)))
        processes.append(api)
        ours_latency = single_row_latency(api_url, record, args.requests)
        ours_seconds, ours_answer = csv_upload(api_url, "/predict", data, repeats=3)
        ours_probability = np.array([p["probability"] for p in ours_answer.json()["predictions"]])
        scorer_path = requests.get(f"{api_url}/model", timeout=30).json()["scorer"]
        rss = peak_rss_mb(api.pid)
        explained = explanation_check(api_url, record)
        log.info("ours: p50 %.2f ms, %d rows in %.2f s", statistics.median(ours_latency), len(frame), ours_seconds)
        load = {}
        if args.load_seconds > 0:
            log.info("load: %d clients for %.0f s", args.load_clients, args.load_seconds)
            load = run_load(api_url, record, frame.head(1000).to_csv(index=False).encode(), 1000,
                            args.load_clients, args.load_seconds).summary()
            load["api_peak_rss_mb_after_load"] = peak_rss_mb(api.pid)
            log.info("load: %s", load)
        unmonitored, unmonitored_url = start_api(settings.tracking_uri, workdir / "api-off.log",
                                                 MODEL_NAME=settings.model_name, POLL_SECONDS="0", MONITORING="0",
                                                 MAX_UPLOAD_BYTES=str(max(len(data) * 2, 200 << 20)))
        processes.append(unmonitored)
        monitoring = monitoring_overhead(api_url, unmonitored_url, record, data)
        log.info("monitoring: %s", monitoring)
        stop_process(unmonitored)
        stop_process(api)
        mojo_rate = None
        if scorer_path["batches"] != "mojo":  # the same upload on the MOJO path, for comparison
            api, api_url = start_api(settings.tracking_uri, workdir / "api-mojo.log", MODEL_NAME=settings.model_name,
                                     POLL_SECONDS="0", MAX_UPLOAD_BYTES=str(max(len(data) * 2, 200 << 20)),
                                     NATIVE_XGBOOST="0")
            processes.append(api)
            mojo_rate = len(frame) / csv_upload(api_url, "/predict", data, repeats=2)[0]
            stop_process(api)
            log.info("ours on the MOJO path: %.0f rows/s", mojo_rate)

        version = MlflowClient(settings.tracking_uri).get_model_version_by_alias(settings.model_name,
                                                                                 settings.champion_alias)
        mlflow_serve = mlflow_serve_figures(settings.tracking_uri, f"models:/{settings.model_name}/{version.version}",
                                            frame, data, workdir, args.baseline_requests * 4)

        port = free_port()
        env = {**os.environ, "BASELINE_MOJO": str(mojo), "BASELINE_META": str(meta_path)}
        baseline = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "baseline_app:app", "--app-dir", str(HERE), "--host", "127.0.0.1",
             "--port", str(port)], cwd=REPO, env=env, stdout=open(workdir / "baseline.log", "w"),
            stderr=subprocess.STDOUT, start_new_session=True)
        processes.append(baseline)
        baseline_url = f"http://127.0.0.1:{port}"
        wait_http(f"{baseline_url}/ready", baseline, timeout=180)
        base_latency = single_row_latency(baseline_url, record, args.baseline_requests, warmup=3)
        base_seconds, base_answer = csv_upload(baseline_url, "/predict_csv", data, repeats=1)
        h2o_probability = np.array(base_answer.json()["probability"])
        stop_process(baseline)
        log.info("baseline: p50 %.2f ms, %d rows in %.2f s", statistics.median(base_latency), len(frame),
                 base_seconds)

        from automlkit.mojo import MojoScorer

        scorer = MojoScorer(mojo, jar, meta.schema.positive_class)
        matrix = scorer.encode(conform(frame, meta.schema).features)
        native_rate = native_booster_rate(scorer, matrix)
        java_rate, java_probability = java_loop(mojo, jar, matrix, 1 + scorer.positive_index, workdir)
        batch = batch_figures({"MLFLOW_TRACKING_URI": settings.tracking_uri, "MODEL_NAME": settings.model_name},
                              workdir, args.batch_rows, args.spark_rows)
        if batch.get("batch_rows_per_s"):
            batch["batch_share_of_java_loop"] = batch["batch_rows_per_s"] / java_rate
    finally:
        for process in processes:
            stop_process(process)

    ours_rate, base_rate = len(frame) / ours_seconds, len(frame) / base_seconds
    results = {
        "model": model_id,
        "champion_algorithm": scorer.algo.removesuffix("MojoModel"),
        "training": budget,
        "rows": len(frame),
        "single_row_p50_ms": statistics.median(ours_latency),
        "single_row_p99_ms": float(np.percentile(ours_latency, 99)),
        "single_row_requests": len(ours_latency),
        "single_row_p50_ms_baseline": statistics.median(base_latency),
        "single_row_p99_ms_baseline": float(np.percentile(base_latency, 99)),
        "single_row_requests_baseline": len(base_latency),
        "csv_100k_rows_per_s": ours_rate,
        "csv_100k_rows_per_s_baseline": base_rate,
        "scorer": scorer_path,
        "csv_100k_rows_per_s_mojo_path": mojo_rate,
        "java_loop_rows_per_s": java_rate,
        "java_loop_threads": 2,
        "csv_share_of_java_loop": ours_rate / java_rate,
        "api_peak_rss_mb": rss,
        "max_abs_diff_vs_h2o": float(np.max(np.abs(ours_probability - h2o_probability))),
        "max_abs_diff_vs_java_loop": float(np.max(np.abs(ours_probability - java_probability))),
        "native_booster_rows_per_s": native_rate,
        **mlflow_serve,
        **explained,
        **load,
        **monitoring,
        **batch,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"written to {args.output}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def table(r: dict) -> str:
    """The results as a plain-text table with the targets of the speed issue."""
    speedup = r["single_row_p50_ms_baseline"] / r["single_row_p50_ms"]
    training = r.get("training", {})
    scorer = r.get("scorer") or {}
    rows = [
        ("model", r["model"], "", ""),
        ("champion", f"{r.get('champion_algorithm', '?')}", "",
         f"{training.get('selection', '?')}, {training.get('max_runtime_secs', '?')} s on "
         f"{training.get('rows_used', 0):,} rows, holdout AUC {training.get('holdout_auc') or float('nan'):.4f}"),
        ("single-row JSON p50 (ms)", f"{r['single_row_p50_ms']:.2f}", f"{r['single_row_p50_ms_baseline']:.1f}",
         f"{speedup:.0f}x faster (target <= 1 ms)"),
        ("single-row JSON p99 (ms)", f"{r['single_row_p99_ms']:.2f}", f"{r['single_row_p99_ms_baseline']:.1f}", ""),
        (f"CSV {r['rows']:,} rows end to end (rows/s)", f"{r['csv_100k_rows_per_s']:,.0f}",
         f"{r['csv_100k_rows_per_s_baseline']:,.0f}",
         f"{r['csv_100k_rows_per_s'] / r['csv_100k_rows_per_s_baseline']:.1f}x faster (target >= 5x)"),
    ]
    if r.get("csv_100k_rows_per_s_mojo_path"):
        rows.append(("  the same on the MOJO path (rows/s)", f"{r['csv_100k_rows_per_s_mojo_path']:,.0f}", "",
                     f"{r['csv_100k_rows_per_s_mojo_path'] / r['csv_100k_rows_per_s_baseline']:.1f}x; batches "
                     f"now: {scorer.get('batches')}"))
    if r.get("native_booster_rows_per_s"):
        rows.append(("native booster inplace_predict, same rows (rows/s)", f"{r['native_booster_rows_per_s']:,.0f}",
                     "", f"ours = {r['csv_100k_rows_per_s'] / r['native_booster_rows_per_s']:.0%} of it (target >= 40%)"))
    if "mlflow_serve_single_row_p50_ms" in r:
        csv_rate, json_rate = r.get("mlflow_serve_csv_100k_rows_per_s"), r.get("mlflow_serve_json_100k_rows_per_s")
        rows += [
            ("mlflow models serve: single-row p50 (ms)", f"{r['single_row_p50_ms']:.2f}",
             f"{r['mlflow_serve_single_row_p50_ms']:.2f}",
             f"ours {r['mlflow_serve_single_row_p50_ms'] / r['single_row_p50_ms']:.1f}x faster"),
            ("mlflow models serve: CSV 100k (rows/s)", f"{r['csv_100k_rows_per_s']:,.0f}",
             f"{csv_rate:,.0f}" if csv_rate else "refused",
             f"ours {r['csv_100k_rows_per_s'] / csv_rate:.1f}x" if csv_rate
             else r.get("mlflow_serve_csv_refusal", "")[:60]),
            ("mlflow models serve: dataframe_split JSON 100k (rows/s)", f"{r['csv_100k_rows_per_s']:,.0f}",
             f"{json_rate:,.0f}" if json_rate else "refused",
             f"ours (CSV) {r['csv_100k_rows_per_s'] / json_rate:.1f}x" if json_rate else ""),
        ]
    rows += [
        ("Java loop, same MOJO, 2 threads (rows/s)", f"{r['java_loop_rows_per_s']:,.0f}", "",
         f"ours = {r['csv_share_of_java_loop']:.0%} of it (target >= 80%)"),
        ("API peak RSS (MB)", f"{r['api_peak_rss_mb']:.0f}", "", "target <= 600"),
        ("max |ours - H2O|", f"{r['max_abs_diff_vs_h2o']:.1e}", "",
         f"target <= {scorer.get('equality_bound') or 1e-9:g} ({scorer.get('batches', 'mojo')} batches)"),
        ("?explain=true", "available" if r.get("explain_available") else "not available", "",
         f"|bias + contributions - logit| = {r['explain_logit_abs_error']:.1e}" if r.get("explain_available")
         else "target: available"),
    ]
    if "load_clients" in r:
        rows += [
            (f"load: {r['load_clients']} clients, {r['load_seconds']:.0f} s", f"{r['load_requests']:,} requests",
             "", f"{r['load_errors']} errors (target 0); {r['load_requests_per_s']:.0f} requests/s"),
            ("load: single-row JSON p50 / p99 (ms)",
             f"{r.get('load_json_p50_ms', float('nan')):.0f} / {r.get('load_json_p99_ms', float('nan')):.0f}", "",
             "target p99 <= 50 ms"),
            (f"load: {r['load_csv_rows_per_request']:,}-row CSV p50 / p99 (ms)",
             f"{r.get('load_csv_p50_ms', float('nan')):.0f} / {r.get('load_csv_p99_ms', float('nan')):.0f}", "", ""),
            ("API peak RSS after the load (MB)", f"{r['api_peak_rss_mb_after_load']:.0f}", "", "target <= 600"),
        ]
    if "monitoring_p50_overhead" in r:
        rows += [
            ("monitoring on / off: single-row p50 (ms)",
             f"{r['monitoring_single_row_p50_ms_on']:.2f} / {r['monitoring_single_row_p50_ms_off']:.2f}", "",
             f"{r['monitoring_p50_overhead']:+.1%} (target < 5%)"),
            ("monitoring on / off: CSV (rows/s)",
             f"{r['monitoring_csv_rows_per_s_on']:,.0f} / {r['monitoring_csv_rows_per_s_off']:,.0f}", "",
             f"{r['monitoring_csv_overhead']:+.1%} (target < 5%)"),
        ]
    if "batch_rows_per_s" in r:
        rows += [
            (f"automl score, {r['batch_rows']:,} rows (rows/s)", f"{r['batch_rows_per_s']:,.0f}", "",
             f"{r['batch_share_of_java_loop']:.0%} of the Java loop (target >= 90%)"),
            ("automl score peak RSS (MB)", f"{r['batch_peak_rss_mb']:.0f}", "", "flat: chunks of 50,000 rows"),
        ]
    if "spark_rows_per_s" in r:
        rows.append((f"automl score-spark, {r['spark_master']}, {r['spark_rows']:,} rows (rows/s)",
                     f"{r['spark_rows_per_s']:,.0f}", "",
                     f"{r['spark_wall_seconds']:.0f} s with Spark's start"))
    width = max(len(x[0]) for x in rows)
    lines = [f"{'':{width}}  {'ours':>14}  {'baseline':>12}  ratio", "-" * (width + 60)]
    lines += [f"{a:{width}}  {b:>14}  {c:>12}  {d}" for a, b, c, d in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
