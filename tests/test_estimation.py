"""Performance estimated before labels arrive (``automlkit.estimation``): the maths on synthetic calibrated
scores, where the estimate must equal the truth in expectation; the calibration map stored with a version; the
tiny model's periods through monitoring (no map: no estimate; a map: an estimate beside the realised figures).
The test against truth on a real trained champion is ``test_estimation_truth.py``."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score

from automlkit import estimation, monitoring
from automlkit.estimation import CalibrationMap, expected_auc, fit_calibration, period_estimate, summary_counts
from automlkit.java_build import genmodel_jar
from automlkit.monitoring import Scoring
from automlkit.scoring import ModelMeta, ScoringModel
from conftest import TRAIN_CSV
from route_fixtures import TINY_META, TINY_MOJO

THRESHOLD = 0.3


def draw(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores of an imbalanced problem (mean ~0.12) and outcomes drawn from them."""
    p = rng.beta(0.4, 3.0, rows)
    return p, (rng.random(rows) < p).astype(int)


@pytest.fixture(scope="module")
def identity_map() -> CalibrationMap:
    """The map of already calibrated scores, fitted on 200,000 synthetic holdout rows."""
    p, y = draw(np.random.default_rng(0), 200_000)
    return fit_calibration("binary", y, p)


def frame_of(*counts: dict) -> pd.DataFrame:
    """Summaries' metric keys as ``load_history`` gives them back: a row per summary."""
    return pd.DataFrame(list(counts))


# ------------------------------------------------------------------------------------------ the maths


def test_the_expected_auc_and_confusion_equal_the_truth_in_expectation(identity_map):
    rng = np.random.default_rng(1)
    estimated, realised, expected_tp, realised_tp, unbinned = [], [], [], [], []
    for _ in range(200):
        p, y = draw(rng, 5000)
        counts = summary_counts(identity_map, "binary", p, THRESHOLD)
        answer = period_estimate(frame_of(counts), "binary")
        estimated.append(answer["auc"])
        realised.append(roc_auc_score(y, p))
        expected_tp.append(answer["confusion"]["tp"])
        realised_tp.append(int(((p >= THRESHOLD) & (y == 1)).sum()))
        order = np.argsort(p)  # every row its own bin: the expected AUC without binning
        unbinned.append(expected_auc(np.ones(len(p)), identity_map.calibrate(p[order])))
    # the realised AUC's standard error over 200 draws is ~0.0005; the 20 bins cost ~0.002 at most
    assert abs(np.mean(estimated) - np.mean(realised)) < 0.004
    assert abs(np.mean(estimated) - np.mean(unbinned)) < 0.003
    assert np.std(np.array(estimated) - np.array(realised)) < 0.015  # each period, not just on average
    tp_se = np.std(realised_tp) / np.sqrt(len(realised_tp))
    assert abs(np.mean(expected_tp) - np.mean(realised_tp)) < 4 * tp_se


def test_certain_scores_estimate_exactly_and_a_wrong_map_is_wrong():
    y = np.array([0] * 60 + [1] * 40)
    certain = CalibrationMap("binary", [0.0, 1.0], [0.0, 1.0], [0.5], 100)
    answer = period_estimate(frame_of(summary_counts(certain, "binary", y.astype(float), 0.5)), "binary")
    assert answer["auc"] == pytest.approx(1.0)
    assert answer["confusion"] == {"tp": 40, "fp": 0, "fn": 0, "tn": 60}
    assert answer["positive_rate"] == pytest.approx(0.4) and answer["precision"] == pytest.approx(1.0)
    # a map that says one half for every score knows nothing: AUC 0.5, however well the scores rank
    flat = CalibrationMap("binary", [0.0, 1.0], [0.5, 0.5], [], 100)
    assert period_estimate(frame_of(summary_counts(flat, "binary", y.astype(float), 0.5)), "binary")["auc"] == 0.5


def test_summaries_add_up_to_the_whole(identity_map):
    p, y = draw(np.random.default_rng(2), 9000)
    whole = period_estimate(frame_of(summary_counts(identity_map, "binary", p, THRESHOLD)), "binary")
    parts = frame_of(*(summary_counts(identity_map, "binary", part, THRESHOLD) for part in np.array_split(p, 3)))
    split = period_estimate(parts, "binary")
    assert split["auc"] == pytest.approx(whole["auc"], abs=1e-12)
    assert split["confusion"] == pytest.approx(whole["confusion"], abs=0.01)
    assert split["rows"] == 9000


def test_the_realised_confusion_matrix_is_counted_beside_the_estimate(identity_map):
    p, y = draw(np.random.default_rng(3), 4000)
    counts = summary_counts(identity_map, "binary", p, THRESHOLD, labelled=(y, p))
    answer = period_estimate(frame_of(counts), "binary", {"rows": 4000, "auc": roc_auc_score(y, p)})
    tn, fp, fn, tp = confusion_matrix(y, (p >= THRESHOLD).astype(int)).ravel()
    assert answer["realised"]["confusion"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert answer["realised"]["positive_rate"] == pytest.approx(y.mean())
    assert answer["realised"]["auc"] == pytest.approx(roc_auc_score(y, p))
    assert abs(answer["positive_rate"] - y.mean()) < 0.02


def test_isotonic_calibration_corrects_overconfident_scores():
    rng = np.random.default_rng(4)
    p, y = draw(rng, 50_000)
    overconfident = p ** 0.5  # same ranking, probabilities too high
    calibration = fit_calibration("binary", y, overconfident)
    assert np.all(np.diff(calibration.y) >= 0)  # monotone: the model's ranking is kept
    test_p, test_y = draw(rng, 50_000)
    answer = period_estimate(frame_of(summary_counts(calibration, "binary", test_p ** 0.5, THRESHOLD)), "binary")
    assert abs(answer["positive_rate"] - test_y.mean()) < 0.005
    assert abs(answer["auc"] - roc_auc_score(test_y, test_p)) < 0.01
    assert np.mean(test_p ** 0.5) - test_y.mean() > 0.15  # uncalibrated, the positive rate would be far off


def test_multiclass_estimates_accuracy_from_the_top_class_probability():
    rng = np.random.default_rng(5)
    classes = ["a", "b", "c"]

    def sample(rows: int) -> tuple[np.ndarray, np.ndarray]:
        probabilities = rng.dirichlet([0.6, 0.6, 0.6], rows)
        truth = np.array([rng.choice(classes, p=row) for row in probabilities])
        return probabilities, truth

    holdout, truth = sample(20_000)
    calibration = fit_calibration("multiclass", truth, holdout ** 2 / (holdout ** 2).sum(1, keepdims=True), classes)
    assert calibration.problem == "multiclass"
    probabilities, truth = sample(20_000)
    sharpened = probabilities ** 2 / (probabilities ** 2).sum(1, keepdims=True)  # miscalibrated, same argmax
    _, top = estimation.top_class(sharpened)
    answer = period_estimate(frame_of(summary_counts(calibration, "multiclass", top, None)), "multiclass",
                             {"rows": 20_000, "accuracy": 0.0})
    realised = accuracy_score(truth, np.asarray(classes)[np.argmax(probabilities, axis=1)])
    assert answer["available"] and abs(answer["accuracy"] - realised) < 0.01
    assert np.mean(top) - realised > 0.05  # the raw top probability would overstate it


def test_regression_and_a_version_without_a_map_say_why_nothing_is_estimated():
    assert fit_calibration("regression", np.arange(10.0), np.arange(10.0)) is None
    assert summary_counts(None, "regression", np.arange(10.0), None) == {}
    assert period_estimate(frame_of({"rows": 10.0}), "regression") == {"available": False,
                                                                        "reason": estimation.NO_REGRESSION}
    assert period_estimate(frame_of({"rows": 10.0}), "binary") == {"available": False, "reason": estimation.NO_MAP}
    assert period_estimate(frame_of({"rows": 10.0}), "multiclass")["reason"] == estimation.NO_MAP
    assert estimation.NO_MAP.startswith("no estimate: no calibration map")


# ------------------------------------------------------------------------------------------ with the model


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    """Real labelled customers from the end of train.csv.gz (most of them unseen by the tiny model)."""
    return pd.read_csv(TRAIN_CSV).tail(8000).reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny() -> ScoringModel:
    """The committed tiny GBM, whose meta predates calibration maps."""
    return ScoringModel(TINY_MOJO, genmodel_jar(), ModelMeta.read(TINY_META))


def test_the_map_travels_in_the_model_meta_and_older_metas_load_without_one(tiny, labelled, tmp_path):
    assert tiny.meta.calibration is None  # the committed tiny model: trained before maps
    scored = tiny.score_csv(labelled.head(2000).to_csv(index=False).encode())
    calibration = fit_calibration("binary", labelled["Response"].head(2000).to_numpy(), scored.columns["probability"])
    meta = ModelMeta(tiny.meta.schema, tiny.meta.threshold, tiny.meta.holdout_metrics, calibration=calibration)
    path = tmp_path / "model_meta.json"
    path.write_text(json.dumps(meta.to_dict()))
    again = ModelMeta.read(path)
    assert again.calibration == calibration
    assert np.array_equal(again.calibration.calibrate(scored.columns["probability"]),
                          calibration.calibrate(scored.columns["probability"]))


def test_monitoring_estimates_beside_the_realised_figures_or_says_there_is_no_map(tiny, labelled):
    fit, rest = labelled.head(3000), labelled.iloc[3000:]
    fitted = tiny.score_csv(fit.to_csv(index=False).encode())
    calibration = fit_calibration("binary", fit["Response"].to_numpy(), fitted.columns["probability"])
    calibrated = ScoringModel(TINY_MOJO, genmodel_jar(),
                              ModelMeta(tiny.meta.schema, tiny.meta.threshold, tiny.meta.holdout_metrics,
                                        calibration=calibration))
    unlabelled = rest.drop(columns=["Response"])
    for model, expect in ((tiny, False), (calibrated, True)):
        scorings = [Scoring("m", "1", model, model.score_csv(rest.to_csv(index=False).encode()), time.time()),
                    Scoring("m", "1", model, model.score_csv(unlabelled.to_csv(index=False).encode()), time.time())]
        summary = monitoring.summarise(scorings)
        history = monitoring.VersionHistory("1", frame_of(summary.metrics()), [], [], {}, model.meta.threshold,
                                            "binary")
        period = monitoring.aggregate(history, history.frame)
        estimated = period["estimated"]
        assert estimated["available"] is expect
        labels = rest["Response"].to_numpy()
        predicted = (scorings[0].scored.columns["probability"] >= model.meta.threshold).astype(int)
        tn, fp, fn, tp = confusion_matrix(labels, predicted).ravel()
        assert estimated["realised"]["confusion"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
        assert estimated["realised"]["rows"] == len(rest)
        if not expect:
            assert estimated["reason"] == estimation.NO_MAP
            assert not [k for k in summary.metrics() if k.startswith("cbpe.n.")]
            continue
        assert estimated["rows"] == 2 * len(rest)  # labelled or not, every scored row is estimated
        assert abs(estimated["auc"] - period["realised"]["auc"]) < 0.03
        assert abs(estimated["positive_rate"] - labels.mean()) < 0.02


def test_get_monitoring_answers_the_estimate_of_a_version_with_a_map_and_why_not_without(tiny, labelled, tmp_path):
    import mlflow
    from fastapi.testclient import TestClient
    from mlflow import MlflowClient

    from api.main import create_app
    from automlkit.settings import ApiSettings
    from automlkit.training import log_mojo_model
    from route_fixtures import TINY_MODEL_NAME, register_tiny_model, restored_mlflow_uris

    uri = register_tiny_model(tmp_path)  # version 1: the committed meta, no map
    fit, rest = labelled.head(3000), labelled.iloc[3000:5000]
    fitted = tiny.score_csv(fit.to_csv(index=False).encode())
    meta = ModelMeta(tiny.meta.schema, tiny.meta.threshold, tiny.meta.holdout_metrics,
                     calibration=fit_calibration("binary", fit["Response"].to_numpy(), fitted.columns["probability"]))
    with restored_mlflow_uris():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name(TINY_MODEL_NAME).experiment_id):
            log_mojo_model(TINY_MOJO, genmodel_jar(), meta, TINY_MODEL_NAME)  # version 2: with its map
    settings = ApiSettings(tracking_uri=uri, model_name=TINY_MODEL_NAME, poll_seconds=0, reload_token="estimate-token",
                           monitoring_flush_seconds=0.2, monitoring_cache_seconds=0)
    records = rest.to_dict("records")
    with restored_mlflow_uris(), TestClient(create_app(settings)) as client:
        for version in ("1", "2"):
            MlflowClient(uri).set_registered_model_alias(TINY_MODEL_NAME, "champion", version)
            client.post("/reload", headers={"Authorization": "Bearer estimate-token"})
            answer = client.post("/predict", json={"records": records})
            assert answer.status_code == 200 and answer.json()["version"] == version, answer.text[:300]
            deadline = time.time() + 30
            while client.get("/monitoring").json()["recorder"]["written"] < int(version) and time.time() < deadline:
                time.sleep(0.2)
        body = client.get("/monitoring", params={"since": "2026-01-01", "every": "hour"}).json()
    periods = {p["version"]: p for p in body["periods"]}
    without, estimated = periods["1"]["estimated"], periods["2"]["estimated"]
    assert without["available"] is False and without["reason"] == estimation.NO_MAP
    assert without["realised"]["rows"] == len(rest)  # the realised confusion matrix needs no map
    assert estimated["available"] is True and estimated["rows"] == len(rest)
    assert set(estimated["confusion"]) == {"tp", "fp", "fn", "tn"}
    assert sum(estimated["confusion"].values()) == pytest.approx(len(rest), abs=0.1)
    assert abs(estimated["auc"] - periods["2"]["realised"]["auc"]) < 0.04
    assert estimated["realised"]["confusion"] == without["realised"]["confusion"]  # the same rows, same model


def test_promotion_without_labels_compares_the_estimated_aucs_on_the_same_traffic(identity_map):
    """``automl promote`` on shadowed rows that carry no label: each model's estimated AUC, from its own map,
    on the traffic both scored (the champion's live summaries before the shadow began are left out)."""
    from automlkit.promotion import Evidence, decide, estimated_pair
    from automlkit.shadow import SHADOW

    rng = np.random.default_rng(7)
    p, _ = draw(rng, 20_000)
    sharp, blunt = p, 0.5 * p + 0.5 * p.mean()  # the same rows; the blunt model ranks them with noise added
    blunt = np.clip(blunt + rng.normal(0, 0.05, len(p)), 0, 1)

    def history(version: str, role: str, parts: list[np.ndarray], start: int) -> monitoring.VersionHistory:
        frame = frame_of(*(summary_counts(identity_map, "binary", part, THRESHOLD) for part in parts))
        frame.insert(0, "time", [start + i for i in range(len(parts))])
        return monitoring.VersionHistory(version, frame, [], [], {}, THRESHOLD, "binary", role=role)

    earlier = np.full(5_000, 0.99)  # the champion's traffic before the challenger came: must not count
    champion = history("1", monitoring.LIVE, [earlier, *np.array_split(sharp, 2)], 1_000)
    challenger = history("2", SHADOW, np.array_split(blunt, 2), 1_001)
    ours, theirs = estimated_pair([challenger, champion], "1", "2", "binary", "auc")
    assert ours == pytest.approx(period_estimate(frame_of(summary_counts(identity_map, "binary", sharp, THRESHOLD)),
                                                 "binary")["auc"])
    assert ours == pytest.approx(roc_auc_score(rng.random(len(p)) < p, p), abs=0.02)  # the truth it estimates
    assert theirs < ours - 0.02

    def evidence(champion_value: float, challenger_value: float) -> Evidence:
        return Evidence("m", "1", "2", "binary", "auc", True, 20_000, 0, champion_value, challenger_value, 0.005,
                        "test", source="estimated")

    worse = decide(evidence(ours, theirs), 1_000)
    assert not worse.promoted and worse.kind == "worse" and "estimated auc" in worse.reason
    assert "without labels (CBPE)" in worse.reason
    assert decide(evidence(ours, ours), 1_000).promoted
    # nothing estimated: a metric CBPE does not give, no shadow summaries, a version without a map
    assert estimated_pair([challenger, champion], "1", "2", "multiclass", "logloss") is None
    assert estimated_pair([champion], "1", "2", "binary", "auc") is None
    unmapped = monitoring.VersionHistory("2", pd.DataFrame({"time": [1_001], "rows": [10.0]}), [], [], {},
                                         THRESHOLD, "binary", role=SHADOW)
    assert estimated_pair([unmapped, champion], "1", "2", "binary", "auc") is None
