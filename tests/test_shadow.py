"""Shadow scoring and promotion on evidence (``automlkit.shadow``, ``automlkit.promotion``; issue 28).

In-process: the comparison's figures against a direct computation; a full queue skips rows and never waits;
the API (FastAPI's ``TestClient`` on the committed tiny models in a SQLite store) answers byte for byte the
same with a challenger in its shadow, and monitoring then holds the challenger's summaries (role ``shadow``)
and the comparison; ``automl promote``'s decisions. The real servers (uvicorn, ``mlflow server``, Chromium):
``test_shadow_live.py``.
"""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from scipy.stats import spearmanr

from api.main import create_app
from automlkit import monitoring, promotion, shadow
from automlkit.java_build import genmodel_jar
from automlkit.metrics import binary_metrics, bootstrap_standard_error
from automlkit.registry import alias_version, within_noise
from automlkit.scoring import ModelMeta, Scored, ScoringModel
from automlkit.settings import ApiSettings, TrainingSettings

from conftest import TRAIN_CSV
from route_fixtures import TINY_META, TINY_MOJO, TINY_XGBOOST_MOJO, log_tiny_version, restored_mlflow_uris

MODEL = "shadow-tiny"


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    """3,000 labelled rows of the shipped data (not the tiny models' 2,000 training rows' seed)."""
    return pd.read_csv(TRAIN_CSV, nrows=40_000).sample(n=3000, random_state=28).reset_index(drop=True)


@pytest.fixture(scope="module")
def models() -> dict[str, ScoringModel]:
    meta = ModelMeta.read(TINY_META)
    return {"gbm": ScoringModel(TINY_MOJO, genmodel_jar(), meta),
            "xgboost": ScoringModel(TINY_XGBOOST_MOJO, genmodel_jar(), meta)}


# ------------------------------------------------------------------------------------------ figures


def test_compare_counts_labels_positives_and_spearman_as_computed_directly(models, traffic):
    champion = models["gbm"].score_frame(traffic)
    challenger = models["xgboost"].score_frame(traffic)
    figures = shadow.compare(champion, challenger)
    ours, theirs = champion.columns["label"], challenger.columns["label"]
    assert figures["rows"] == len(traffic)
    assert figures["agree"] == (ours == theirs).sum() < len(traffic)  # two models: some rows differ
    assert figures["champion_positive"] == ours.sum() and figures["challenger_positive"] == theirs.sum()
    assert figures["both_positive"] == (ours & theirs).sum()
    assert figures["spearman"] == pytest.approx(spearmanr(champion.rank_by, challenger.rank_by).statistic, abs=1e-12)
    assert 0.5 < figures["spearman"] < 1


def test_spearman_skips_missing_scores_and_is_undefined_for_a_constant_side():
    value, rows = shadow.spearman(np.array([1.0, 2.0, np.nan, 4.0]), np.array([2.0, 1.0, 3.0, 5.0]))
    assert rows == 3 and value == pytest.approx(spearmanr([1, 2, 4], [2, 1, 5]).statistic)
    assert np.isnan(shadow.spearman(np.ones(5), np.arange(5.0))[0])


def test_sample_rows_draws_the_share():
    rng = np.random.default_rng(1)
    assert list(shadow.sample_rows(5, 1.0, rng)) == [0, 1, 2, 3, 4]
    drawn = shadow.sample_rows(100_000, 0.25, rng)
    assert abs(len(drawn) / 100_000 - 0.25) < 0.01 and np.all(np.diff(drawn) > 0)


def test_within_noise_is_the_band_both_decisions_use():
    assert within_noise(0.851, 0.855, True, 0.005) and not within_noise(0.849, 0.855, True, 0.005)
    assert within_noise(0.295, 0.29, False, 0.01) and not within_noise(0.31, 0.29, False, 0.01)


# ------------------------------------------------------------------------------------------ the worker


class _Loaded:
    def __init__(self, version: str, model: ScoringModel):
        self.version, self.model = version, model


def test_a_full_queue_skips_the_rows_and_never_waits(models, traffic):
    recorder = monitoring.MonitoringRecorder(None, 10, 60.0, enabled=False)
    scorer = shadow.ShadowScorer(recorder, 1.0, queue_size=1)  # not started: nothing drains the queue
    scored = models["gbm"].score_records(traffic.head(10).to_dict("records"))
    champion, challenger = _Loaded("1", models["gbm"]), _Loaded("2", models["xgboost"])
    assert scorer.submit(MODEL, champion, None, scored) is False  # no challenger: nothing offered
    started = time.perf_counter()
    assert scorer.submit(MODEL, champion, challenger, scored) is True
    assert scorer.submit(MODEL, champion, challenger, scored) is False
    assert time.perf_counter() - started < 0.05
    state = scorer.state("2")
    assert (state["offered_rows"], state["skipped_rows"], state["pending"]) == (20, 10, 1)
    scorer.stop()  # what is still queued is skipped, and counted
    assert scorer.state()["skipped_rows"] == 20


def test_rows_the_challenger_refuses_are_counted_not_raised(models, traffic):
    recorder = monitoring.MonitoringRecorder(None, 10, 60.0, enabled=False)
    scorer = shadow.ShadowScorer(recorder, 1.0, queue_size=4)
    scored = models["gbm"].score_records(traffic.head(3).to_dict("records"))
    scored.records = None  # an input the challenger cannot read again
    job = shadow.ShadowJob(MODEL, _Loaded("1", models["gbm"]), _Loaded("2", models["xgboost"]), scored, time.time())
    assert scorer.score(job) == 0
    assert scorer.state()["failed_rows"] == 3 and "kept no input" in scorer.state()["last_error"]


# ------------------------------------------------------------------------------------------ the API


@pytest.fixture(scope="module")
def store(tmp_path_factory, traffic, models) -> str:
    """A SQLite store: the tiny GBM as champion (v1), the tiny XGBoost (v2) with no alias yet, each run with
    the noise band training would log (a bootstrap standard error of its AUC on labelled rows apart from the
    traffic)."""
    root = tmp_path_factory.mktemp("shadow-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    apart = pd.read_csv(TRAIN_CSV, nrows=40_000).drop(traffic.index).sample(n=2000, random_state=3)
    bands = {name: bootstrap_standard_error(apart["Response"].to_numpy(), m.predict(apart)["probability"].to_numpy(),
                                            "auc") for name, m in models.items()}
    with restored_mlflow_uris():
        mlflow.set_tracking_uri(uri)
        mlflow.create_experiment(MODEL, artifact_location=(root / "artifacts").as_uri())
    assert log_tiny_version(uri, MODEL, TINY_MOJO, "champion", bands["gbm"]) == "1"
    assert log_tiny_version(uri, MODEL, TINY_XGBOOST_MOJO, None, bands["xgboost"]) == "2"
    return uri


def api_settings(uri: str, **overrides) -> ApiSettings:
    return ApiSettings(**{"MLFLOW_TRACKING_URI": uri, "MODEL_NAME": MODEL, "POLL_SECONDS": 0,
                          "MONITORING_FLUSH_SECONDS": 0.2, "MONITORING_CACHE_SECONDS": 0,
                          "RELOAD_TOKEN": "shadow-token", **overrides})


def reload(client: TestClient) -> dict:
    answer = client.post("/reload", headers={"Authorization": "Bearer shadow-token"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for(client: TestClient, done, timeout: float = 60.0) -> dict:
    deadline = time.time() + timeout
    while True:
        body = client.get("/monitoring", params={"every": "hour"}).json()
        if done(body) or time.time() > deadline:
            return body
        time.sleep(0.3)


def test_a_challenger_scores_in_the_shadow_without_changing_the_answers(store, traffic, models):
    records = traffic.to_dict("records")
    batch, single = {"records": records[:2000]}, {"records": records[2000:2001]}
    csv = traffic.iloc[2001:].to_csv(index=False).encode()
    sent = pd.concat([traffic, traffic.iloc[2001:]], ignore_index=True)  # the CSV goes twice (JSON, CSV answers)
    with restored_mlflow_uris(), TestClient(create_app(api_settings(store))) as client:
        def answers() -> list[bytes]:
            return [client.post("/predict", json=batch).content, client.post("/predict", json=single).content,
                    client.post("/predict", files={"file": ("c.csv", csv)}).content,
                    client.post("/predict", files={"file": ("c.csv", csv)}, headers={"Accept": "text/csv"}).content]

        alone = answers()
        assert client.app.state.store.challenger is None
        MlflowClient(store, store).set_registered_model_alias(MODEL, "challenger", "2")
        assert reload(client)["changed"] is False  # the champion stays; the challenger joins it
        assert client.app.state.store.challenger.version == "2"
        assert answers() == alone  # byte for byte: the answers are the champion's only
        body = wait_for(client, lambda b: sum(c["rows"] for c in b["comparisons"]) >= len(sent))
    assert body["shadow"]["challenger_version"] == "2" and body["shadow"]["scored_rows"] == len(sent)
    assert body["shadow"]["skipped_rows"] == 0 and body["shadow"]["failed_rows"] == 0
    roles = {(v["version"], v["role"]) for v in body["versions"]}
    assert {("1", "live"), ("2", "shadow")} <= roles
    shadowed = sum(p["rows"] for p in body["periods"] if p["role"] == "shadow" and p["version"] == "2")
    assert shadowed == len(sent)
    # the comparison against the two models scoring the same rows here
    [period] = [c for c in body["comparisons"] if c["challenger_version"] == "2"]
    ours = models["gbm"].score_frame(sent)
    theirs = models["xgboost"].score_frame(sent)
    agree = (ours.columns["label"] == theirs.columns["label"]).mean()
    assert period["champion_version"] == "1" and period["rows"] == len(sent)
    assert period["agreement"] == pytest.approx(agree) and period["decisions_changed"] == pytest.approx(1 - agree)
    assert period["spearman"] == pytest.approx(spearmanr(ours.rank_by, theirs.rank_by).statistic, abs=0.02)
    realised = period["realised"]
    y = sent["Response"].to_numpy()
    assert realised["rows"] == len(sent)
    assert realised["champion"]["auc"] == pytest.approx(binary_metrics(y, ours.rank_by)["auc"], abs=0.01)
    assert realised["challenger"]["auc"] == pytest.approx(binary_metrics(y, theirs.rank_by)["auc"], abs=0.01)


def test_promote_refuses_too_few_rows_then_promotes_an_equal_challenger(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MODEL_NAME", MODEL)
    monkeypatch.setenv("PROMOTE_MIN_ROWS", "100000")
    few = promotion.promote(TrainingSettings.load())
    assert not few.promoted and few.kind == "too_few_rows" and "fewer than the 100,000 required" in few.reason
    monkeypatch.setenv("PROMOTE_MIN_ROWS", "1000")
    decision = promotion.promote(TrainingSettings.load())
    e = decision.evidence
    assert e.metric == "auc" and e.labelled_rows >= 3999 and e.tolerance_source == "the challenger's training run"
    # the tiny GBM and XGBoost are within noise of each other on this traffic: promoted
    assert decision.promoted and decision.kind == "promoted", decision.reason
    client = MlflowClient(store, store)
    assert alias_version(client, MODEL, "champion") == "2" and alias_version(client, MODEL, "challenger") is None
    runs = client.search_runs([client.get_experiment_by_name("promotion").experiment_id],
                              order_by=["attributes.start_time DESC"])
    assert [r.data.tags["kind"] for r in runs] == ["promoted", "too_few_rows"]
    assert runs[0].data.metrics["promoted"] == 1.0
    assert runs[0].data.metrics["challenger_realised_auc"] == pytest.approx(e.challenger_value)
    assert runs[0].data.tags["decision"] == decision.reason
    assert client.get_model_version(MODEL, "2").tags["decision"] == decision.reason


def test_decide_refuses_worse_beyond_noise_and_without_labels_asks_for_an_estimate():
    def evidence(challenger, champion, labelled=5000):
        return promotion.Evidence(MODEL, "1", "2", "binary", "auc", True, 5000, labelled, champion, challenger,
                                  0.004, "the challenger's training run")

    worse = promotion.decide(evidence(0.840, 0.850), 1000)
    assert not worse.promoted and worse.kind == "worse" and "worse beyond noise" in worse.reason
    assert "auc 0.84000 vs 0.85000" in worse.reason and "noise band 0.00400" in worse.reason
    assert promotion.decide(evidence(0.847, 0.850), 1000).promoted  # within the band
    assert promotion.decide(evidence(0.851, 0.850), 1000).promoted
    blind = promotion.decide(evidence(None, None, labelled=0), 1000)
    assert not blind.promoted and blind.kind == "needs_estimate" and "an estimated metric is needed" in blind.reason


def test_the_schedule_runs_the_same_check_and_logs_a_refusal_once(store, monkeypatch):
    from automlkit.retrain import promote_on_evidence

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MODEL_NAME", MODEL)
    monkeypatch.setenv("PROMOTE_ON_EVIDENCE", "1")
    client = MlflowClient(store, store)
    champion = alias_version(client, MODEL, "champion")
    other = "1" if champion == "2" else "2"
    client.set_registered_model_alias(MODEL, "challenger", other)  # never scored in the champion's shadow
    settings, seen = TrainingSettings.load(), set()

    def runs() -> list:
        experiment = client.get_experiment_by_name("promotion")
        return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                                  filter_string=f"tags.model_version = '{other}' and tags.kind = 'too_few_rows'"
                                  ) if experiment else []

    before = len(runs())
    assert promote_on_evidence(settings, MODEL, seen) is False
    assert promote_on_evidence(settings, MODEL, seen) is False
    logged = runs()
    assert len(logged) == before + 1 and logged[0].data.tags["champion_version"] == champion
    assert alias_version(client, MODEL, "champion") == champion


def test_the_shadow_thread_waits_for_the_service_to_be_idle_at_most_max_defer(monkeypatch):
    recorder = monitoring.MonitoringRecorder(None, 10, 60.0, enabled=False)
    busy = [True]
    scorer = shadow.ShadowScorer(recorder, 1.0, queue_size=4, busy=lambda: busy[0])
    monkeypatch.setattr(shadow, "MAX_DEFER_SECONDS", 0.3)
    assert 0.3 <= scorer.wait_for_idle() < 1.0  # a batch is scored all along: it goes ahead after the limit
    busy[0] = False
    assert scorer.wait_for_idle() < 0.1  # idle: at once
