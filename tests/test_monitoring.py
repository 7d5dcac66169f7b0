"""Monitoring over time (``automlkit.monitoring``, ``GET /monitoring``, docs/monitoring.md).

Unit tests: a real recorder writing into a real MLflow SQLite store under ``tmp_path``, the committed tiny model
scoring real rows of ``../shared/data``. Integration tests (``integration``): a real ``mlflow server`` and a real
uvicorn serving the tiny model: drift on a shifted feature and on no other, realised AUC of labelled rows near
the holdout figure, a restart of both servers losing nothing that was written, a flood against a tiny queue.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from automlkit import monitoring
from automlkit.drift import PSI_ALERT, psi
from automlkit.java_build import genmodel_jar
from automlkit.monitoring import MonitoringRecorder, MonitoringStore, Scoring
from automlkit.retrain import wait_for_next_run
from automlkit.scoring import ModelMeta, ScoringModel
from automlkit.settings import ApiSettings, TrainingSettings
from conftest import REPO, TEST_CSV, TRAIN_CSV, free_port, start_api, start_mlflow, stop_process, wait_http
from route_fixtures import TINY_META, TINY_MODEL_NAME, TINY_MOJO, register_tiny_model

EXPERIMENT = "monitoring"
#: Labelled rows for the realised metrics (rows the tiny model was not trained on are most of them).
LABELLED_ROWS = 6000


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    """The committed tiny GBM, scoring in this process."""
    return ScoringModel(TINY_MOJO, genmodel_jar(), ModelMeta.read(TINY_META))


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """Real unlabelled customers."""
    return pd.read_csv(TEST_CSV, nrows=20_000)


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    """Real labelled customers from the end of train.csv.gz (the tiny model's 2,000 rows are a sample of all)."""
    frame = pd.read_csv(TRAIN_CSV)
    return frame.tail(LABELLED_ROWS).reset_index(drop=True)


def store_in(tmp_path) -> MonitoringStore:
    return MonitoringStore(MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"), EXPERIMENT)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def settings(**overrides) -> ApiSettings:
    return ApiSettings(tracking_uri="sqlite:///unused.db", **overrides)


# ------------------------------------------------------------------------------------------ summaries


def test_bin_counts_of_frames_and_records_equal_the_references_own(model, customers):
    rows = customers.head(700)
    frame = model.score_csv(csv_bytes(rows))
    singles = [model.score_records([r]) for r in rows.head(300).to_dict("records")]
    for reference in model.schema.drift_reference:
        whole = reference.counts(frame.features[reference.column])
        assert np.array_equal(monitoring.bin_counts(reference, [frame.features[reference.column]]), whole)
        parts = [frame.features[reference.column].iloc[:400], frame.features[reference.column].iloc[400:]]
        assert np.array_equal(monitoring.bin_counts(reference, parts), whole)
        by_record = monitoring.bin_counts(reference, [s.features[reference.column] for s in singles])
        assert np.array_equal(by_record, reference.counts(model.score_records(
            rows.head(300).to_dict("records")).features[reference.column]))
        assert by_record.sum() == 300


def test_a_summary_holds_aggregates_only(model, customers):
    scored = model.score_records(customers.head(500).to_dict("records"))
    summary = monitoring.summarise([Scoring("m", "1", model, scored, time.time())])
    metrics = summary.metrics()
    assert metrics["rows"] == 500 and metrics["scorings"] == 1
    assert [metrics[k] for k in monitoring.DECILE_KEYS] == pytest.approx(
        np.quantile(scored.columns["probability"], np.linspace(0.1, 0.9, 9)))
    assert metrics["share_above_threshold"] == pytest.approx(
        np.mean(scored.columns["probability"] >= model.meta.threshold))
    assert summary.realised is None  # the rows carry no target
    allowed = {"rows", "scorings", "share_above_threshold", *monitoring.DECILE_KEYS}
    assert all(key in allowed or key.startswith(("bins.", "psi.")) for key in metrics), sorted(metrics)
    for i, reference in enumerate(model.schema.drift_reference):  # counts per bin, nothing per row
        assert sum(metrics[f"bins.{i}.{k}"] for k in range(len(reference.bins))) == 500


def test_realised_metrics_of_labelled_rows_and_the_target_is_no_warning(model, labelled):
    scored = model.score_csv(csv_bytes(labelled))
    assert not [w for w in scored.warnings if w.column == "Response"]
    records = model.score_records(labelled.head(2000).to_dict("records"))
    assert not [w for w in records.warnings if w.column == "Response"]
    summary = monitoring.summarise([Scoring("m", "1", model, scored, time.time()),
                                    Scoring("m", "1", model, records, time.time())])
    from automlkit.metrics import binary_metrics

    expected = binary_metrics(np.concatenate([labelled["Response"], labelled["Response"].head(2000)]),
                              np.concatenate([scored.columns["probability"], records.columns["probability"]]))
    assert summary.realised["rows"] == LABELLED_ROWS + 2000
    assert summary.realised["auc"] == pytest.approx(expected["auc"])
    assert summary.realised["logloss"] == pytest.approx(expected["logloss"])
    assert abs(summary.realised["auc"] - model.meta.holdout_metrics["auc"]) < 0.03


# ------------------------------------------------------------------------------------------ recorder


def test_a_full_queue_drops_counts_and_never_blocks(model, customers, tmp_path):
    recorder = MonitoringRecorder(store_in(tmp_path), queue_size=2, flush_seconds=3600)
    scored = model.score_records(customers.head(3).to_dict("records"))
    started = time.perf_counter()
    accepted = [recorder.record("m", "1", model, scored) for _ in range(5)]
    assert time.perf_counter() - started < 0.05
    assert accepted == [True, True, False, False, False]
    state = recorder.state()
    assert (state["pending"], state["written"], state["dropped"]) == (2, 0, 3)
    assert recorder.flush() == 2
    assert recorder.state()["written"] == 2 and recorder.state()["pending"] == 0
    history = monitoring.load_history(recorder.store.client, EXPERIMENT, "m")
    assert [h.version for h in history] == ["1"] and history[0].frame["rows"].sum() == 6


def test_recording_off_records_nothing(model, customers):
    recorder = MonitoringRecorder.from_settings(settings(monitoring=False))
    assert not recorder.record("m", "1", model, model.score_records(customers.head(1).to_dict("records")))
    assert recorder.state()["enabled"] is False and recorder.pending == 0


def test_a_store_that_is_down_keeps_the_summaries_for_the_next_flush(model, customers, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = MonitoringStore(MlflowClient(f"http://127.0.0.1:{free_port()}"), EXPERIMENT)  # nothing listens there
    recorder = MonitoringRecorder(down, queue_size=10, flush_seconds=3600)
    scored = model.score_records(customers.head(4).to_dict("records"))
    for _ in range(3):
        recorder.record("m", "1", model, scored)
    assert recorder.flush() == 0
    state = recorder.state()
    assert (state["errors"], state["pending"], state["written"]) == (1, 3, 0)
    recorder.store = store_in(tmp_path)  # the store is back
    assert recorder.flush() == 3 and recorder.pending == 0
    # past the queue's bound of unwritten scorings, the oldest summaries go (counted)
    recorder.store = down
    for _ in range(4):
        for _ in range(4):
            recorder.record("m", "1", model, scored)
        recorder.flush()
    assert recorder.errors == 5 and recorder.pending <= 10 and recorder.dropped == 16 - recorder.pending


# ------------------------------------------------------------------------------------------ reading


def test_periods_sum_counts_and_take_psi_of_the_summed_bins(model, customers, tmp_path):
    store = store_in(tmp_path)
    now = datetime.now(timezone.utc).replace(minute=30)
    normal = model.score_csv(csv_bytes(customers.head(3000)))
    shifted = model.score_csv(csv_bytes(customers.iloc[3000:4000].assign(Age=lambda f: f.Age + 20)))
    moments = [now - timedelta(hours=2), now - timedelta(hours=2, minutes=10), now]
    written = []
    for at, scored in zip(moments, [normal, shifted, normal]):
        scoring = Scoring("m", "4", model, scored, at.timestamp())
        summary = monitoring.summarise([scoring])
        store.write(summary, scoring)
        written.append(summary)
    histories = monitoring.load_history(store.client, EXPERIMENT, "m")
    answer = monitoring.report(histories, "m", now - timedelta(days=1), "hour", "4", settings(), None, now)
    assert [p["rows"] for p in answer["periods"]] == [4000, 3000]
    assert [p["summaries"] for p in answer["periods"]] == [2, 1]
    age = next(i for i, r in enumerate(model.schema.drift_reference) if r.column == "Age")
    first = written[0].bins[age] + written[1].bins[age]
    assert answer["periods"][0]["psi"]["Age"] == pytest.approx(
        psi(model.schema.drift_reference[age].shares, first / first.sum()), abs=1e-6)
    assert answer["periods"][1]["drifted"] == [] and answer["periods"][1]["psi"]["Age"] < 0.05
    # a day sums all three; the versions' switch-over is the first summary
    daily = monitoring.report(histories, "m", now - timedelta(days=2), "day", "4", settings(), None, now)
    assert sum(p["rows"] for p in daily["periods"]) == 7000
    assert daily["versions"][0]["first_scored"] == monitoring._iso(int(moments[1].timestamp() * 1000))
    assert daily["versions"][0]["holdout_metrics"]["auc"] == pytest.approx(model.meta.holdout_metrics["auc"])


def test_alerts_name_the_drifted_feature_and_realised_auc_behind_the_holdout(model, customers, labelled, tmp_path):
    store = store_in(tmp_path)
    shifted = model.score_csv(csv_bytes(customers.head(12_000).assign(Age=lambda f: f.Age + 20)))
    shuffled = labelled.assign(Response=labelled.Response.sample(frac=1, random_state=3).to_numpy())
    guessing = model.score_csv(csv_bytes(shuffled))  # the truth no longer follows the scores: AUC near 0.5
    for scored in (shifted, guessing):
        scoring = Scoring("m", "2", model, scored, time.time())
        store.write(monitoring.summarise([scoring]), scoring)
    histories = monitoring.load_history(store.client, EXPERIMENT, "m")
    found = monitoring.alerts(histories, "2", 3600, 0.02, 200)
    drift = [a for a in found if a["kind"] == "drift"]
    assert [a["feature"] for a in drift] == ["Age"] and drift[0]["psi"] > PSI_ALERT
    performance = [a for a in found if a["kind"] == "performance"]
    assert len(performance) == 1 and performance[0]["metric"] == "auc"
    assert performance[0]["realised"] < 0.6 and performance[0]["holdout"] == pytest.approx(0.8286, abs=1e-3)
    assert monitoring.alerts(histories, "2", 3600, 0.02, LABELLED_ROWS + 1) == drift  # too few labelled rows
    assert monitoring.alerts(histories, "1", 3600, 0.02, 200) == []  # another version: nothing


def test_retrain_on_alert_trains_once_per_alert(model, customers, tmp_path):
    uri = register_tiny_model(tmp_path)  # tiny-model v1 @champion
    store = MonitoringStore(MlflowClient(uri), EXPERIMENT)
    scoring = Scoring(TINY_MODEL_NAME, "1", model,
                      model.score_csv(csv_bytes(customers.head(2000).assign(Age=lambda f: f.Age + 20))), time.time())
    store.write(monitoring.summarise([scoring]), scoring)
    trainer = TrainingSettings.load(tracking_uri=uri, retrain_on_alert=True, alert_check_seconds=0.2)
    acted_on: set = set()
    reason = wait_for_next_run(trainer, TINY_MODEL_NAME, 30, threading.Event(), acted_on)
    assert reason.startswith("monitoring alert") and "Age drifted" in reason
    started = time.monotonic()  # the same alert again: the schedule's interval decides
    assert wait_for_next_run(trainer, TINY_MODEL_NAME, 1.5, threading.Event(), acted_on) == "the schedule"
    assert time.monotonic() - started >= 1.4
    quiet = TrainingSettings.load(tracking_uri=uri, retrain_on_alert=False)
    assert wait_for_next_run(quiet, TINY_MODEL_NAME, 0.5, threading.Event(), set()) == "the schedule"


# ------------------------------------------------------------------------------------------ integration


@pytest.fixture(scope="module")
def monitored_server(tmp_path_factory):
    """A real ``mlflow server`` on a SQLite store holding the tiny model as ``tiny-model@champion``; yields
    (root, port, a function that restarts it)."""
    root = tmp_path_factory.mktemp("monitoring-mlflow")
    register_tiny_model(root)
    port = free_port()
    state = {"process": start_mlflow(root, port)}
    wait_http(f"http://127.0.0.1:{port}/health", state["process"], timeout=90)

    def restart() -> None:
        stop_process(state["process"])
        state["process"] = start_mlflow(root, port)
        wait_http(f"http://127.0.0.1:{port}/health", state["process"], timeout=90)

    yield f"http://127.0.0.1:{port}", restart
    stop_process(state["process"])


def api_env(**overrides: str) -> dict[str, str]:
    return {"MODEL_NAME": TINY_MODEL_NAME, "POLL_SECONDS": "0", "MONITORING_FLUSH_SECONDS": "0.5",
            "MONITORING_CACHE_SECONDS": "0", **overrides}


def monitoring_answer(url: str, **params) -> dict:
    answer = requests.get(f"{url}/monitoring", params=params, timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    return answer.json()


def wait_written(url: str, scorings: int, timeout: float = 60) -> dict:
    """The monitoring answer once the recorder has written ``scorings`` scorings."""
    deadline = time.time() + timeout
    while True:
        answer = monitoring_answer(url)
        if answer["recorder"]["written"] >= scorings or time.time() > deadline:
            assert answer["recorder"]["written"] == scorings, answer["recorder"]
            return answer
        time.sleep(0.3)


def post_csv(url: str, frame: pd.DataFrame) -> None:
    answer = requests.post(f"{url}/predict", files={"file": ("rows.csv", csv_bytes(frame), "text/csv")}, timeout=120)
    assert answer.status_code == 200, answer.text[:1000]


@pytest.mark.integration
def test_the_api_records_drift_realised_auc_and_survives_restarts(monitored_server, customers, labelled, tmp_path):
    tracking, restart_mlflow = monitored_server
    process, url = start_api(tracking, tmp_path / "api.log", **api_env())
    try:
        for start in range(0, 6000, 2000):  # normal traffic: CSV uploads and JSON records
            post_csv(url, customers.iloc[start:start + 2000])
        for record in customers.iloc[6000:6020].to_dict("records"):
            answer = requests.post(f"{url}/predict", json={"records": [record]}, timeout=30)
            assert answer.status_code == 200
        answer = wait_written(url, 23)
        assert answer["periods"] and not any(p["drifted"] for p in answer["periods"]), answer["periods"]
        assert answer["alerts"] == []
        post_csv(url, customers.iloc[7000:17000].assign(Age=lambda f: f.Age + 20))  # the shift
        post_csv(url, labelled)  # rows that carry the truth
        answer = wait_written(url, 25)
    finally:
        stop_process(process)
    period = answer["periods"][-1]
    assert period["version"] == "1" and period["rows"] == 6020 + 10_000 + LABELLED_ROWS
    assert period["drifted"] == ["Age"], period["psi"]
    assert [a["feature"] for a in answer["alerts"] if a["kind"] == "drift"] == ["Age"]
    assert max(v for k, v in period["psi"].items() if k != "Age") < 0.05, period["psi"]
    realised = period["realised"]
    assert realised["rows"] == LABELLED_ROWS
    assert abs(realised["auc"] - answer["versions"][0]["holdout_metrics"]["auc"]) < 0.03, realised
    assert len(period["score_deciles"]) == 9 and period["score_deciles"] == sorted(period["score_deciles"])
    assert answer["versions"][0]["serving"] is True and answer["recorder"]["dropped"] == 0
    # restart the tracking server and the API: everything written is still there
    restart_mlflow()
    process, url = start_api(tracking, tmp_path / "api-again.log", **api_env())
    try:
        again = monitoring_answer(url)
    finally:
        stop_process(process)
    assert again["recorder"]["written"] == 0  # a new process...
    assert again["periods"] == answer["periods"]  # ...reads back everything the old one wrote
    assert again["versions"][0]["rows"] == period["rows"]


@pytest.mark.integration
def test_automl_score_records_its_run(monitored_server, customers, tmp_path):
    tracking, _ = monitored_server
    source = tmp_path / "in.csv"
    customers.head(5000).to_csv(source, index=False)
    before = sum(h.frame["rows"].sum() for h in monitoring.load_history(MlflowClient(tracking), EXPERIMENT,
                                                                       TINY_MODEL_NAME) if len(h.frame))
    env = {"MLFLOW_TRACKING_URI": tracking, "MODEL_NAME": TINY_MODEL_NAME, "AUTOML_ENV_FILE": "/dev/null",
           "PATH": str(REPO / ".venv" / "bin") + ":/usr/bin:/bin", "MONITORING_FLUSH_SECONDS": "0.5"}
    result = subprocess.run([sys.executable, "-m", "automlkit.cli", "score", str(source), str(tmp_path / "out.csv"),
                             "--chunk-rows", "2000"], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    after = sum(h.frame["rows"].sum() for h in monitoring.load_history(MlflowClient(tracking), EXPERIMENT,
                                                                      TINY_MODEL_NAME) if len(h.frame))
    assert after - before == 5000


@pytest.mark.integration
def test_a_flood_against_a_tiny_queue_drops_summaries_and_serves_every_request(monitored_server, customers,
                                                                               tmp_path):
    tracking, _ = monitored_server
    process, url = start_api(tracking, tmp_path / "api.log",
                             **api_env(MONITORING_QUEUE_SIZE="1", MONITORING_FLUSH_SECONDS="0.2"))
    records = customers.head(400).to_dict("records")
    try:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda r: requests.post(f"{url}/predict", json={"records": [r]},
                                                          timeout=60).status_code, records))
        assert codes == [200] * len(records)
        deadline = time.time() + 30
        while True:
            recorder = monitoring_answer(url)["recorder"]
            if recorder["pending"] == 0 or time.time() > deadline:
                break
            time.sleep(0.3)
    finally:
        stop_process(process)
    assert recorder["queue_size"] == 1 and recorder["dropped"] > 0, recorder
    assert recorder["written"] + recorder["dropped"] == len(records), recorder


def test_get_monitoring_in_process_refuses_a_bad_since_or_every(customers, labelled, tmp_path):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from route_fixtures import restored_mlflow_uris

    uri = register_tiny_model(tmp_path)
    api = ApiSettings(tracking_uri=uri, model_name=TINY_MODEL_NAME, poll_seconds=0, monitoring_flush_seconds=0.2,
                      monitoring_cache_seconds=0)
    with restored_mlflow_uris(), TestClient(create_app(api)) as client:
        for since in ("yesterday", "0.5", "0001-01-01T00:00:00+05:00"):
            answer = client.get("/monitoring", params={"since": since})
            assert answer.status_code == 422 and answer.json()["problems"][0]["column"] == "since", answer.text
        assert client.get("/monitoring", params={"every": "week"}).status_code == 422
        typo = client.get("/monitoring", params={"sinse": "2026-01-01"})  # never silently the default window
        assert typo.status_code == 422 and typo.json()["problems"][0]["column"] == "sinse", typo.text
        records = labelled.head(300).to_dict("records")  # JSON rows with the target: no warning, realised
        answer = client.post("/predict", json={"records": records})
        assert answer.status_code == 200, answer.text[:500]
        assert not [w for w in answer.json()["warnings"] if w["column"] == "Response"]
        deadline = time.time() + 30
        while client.get("/monitoring").json()["recorder"]["written"] < 1 and time.time() < deadline:
            time.sleep(0.2)
        body = client.get("/monitoring", params={"since": "2026-01-01", "every": "hour"}).json()
    (period,) = body["periods"]
    assert period["rows"] == 300 and period["realised"]["rows"] == 300 and 0.6 < period["realised"]["auc"] < 1
    assert body["versions"][0]["serving"] and body["since"] == "2026-01-01T00:00:00+00:00"
