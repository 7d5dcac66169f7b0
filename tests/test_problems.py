"""Any tabular target, end to end on data nobody here wrote: papermill training -> registry -> the API in a
real uvicorn -> the dashboard in Chromium, for a multiclass target of whole numbers (scikit-learn's bundled
wine data), a regression target (its diabetes data) and a table of mixed-case text with missing values and a
date column whose target is text classes. The data sets are read from the installed scikit-learn (no
download) and written to CSV with an id column. (The binary path is the shipped data's: test_training,
test_api, test_dashboard.)"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from automlkit.problems import METRIC_DIRECTIONS
from automlkit.schema import DATE_REASON
from conftest import copy_champion, run_training, start_api, start_dashboard, stop_process
from test_dashboard import open_dashboard, ranked_rows, upload

pytestmark = pytest.mark.integration

BUDGET = ["-p", "max_runtime_secs", "30", "-p", "max_models", "2", "-p", "nfolds", "3", "-p", "exclude_algos",
          "[DeepLearning]", "-p", "target_encoding", "[]", "-p", "target", "target", "-p", "seed", "1"]


def sklearn_table(name: str) -> pd.DataFrame:
    """A data set bundled with scikit-learn as a table with an ``id`` column and a ``target``."""
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    frame.insert(0, "id", range(1, len(frame) + 1))
    return frame


def mixed_table(rows: int = 600, seed: int = 3) -> pd.DataFrame:
    """Text of mixed case with missing values, a date column, numbers with gaps; a text target of 3 tiers."""
    random = np.random.default_rng(seed)
    spend = random.gamma(2.0, 50.0, rows)
    frame = pd.DataFrame({
        "id": np.arange(1, rows + 1),
        "Region": random.choice(["North", "north", "SOUTH", "East", None], rows),
        "signed_up": pd.Timestamp("2023-01-01") + pd.to_timedelta(random.integers(0, 700, rows), unit="D"),
        "visits": np.where(random.random(rows) < 0.1, np.nan, random.poisson(5, rows)),
        "spend": spend,
    })
    frame["signed_up"] = frame["signed_up"].dt.strftime("%Y-%m-%d")
    frame["target"] = np.select([spend < 60, spend < 140], ["Bronze", "Silver"], "Gold")
    return frame


CASES = {
    "wine": ("multiclass", lambda: sklearn_table("wine")),
    "diabetes": ("regression", lambda: sklearn_table("diabetes")),
    "mixed": ("multiclass", mixed_table),
}


#: The table whose champion the wine table's registered name starts from: a champion of another problem
#: type, which the multiclass run must replace without a comparison.
OTHER_PROBLEM_FIRST = {"wine": "diabetes"}


@pytest.fixture(scope="module")
def train_table(mlflow_server, tmp_path_factory):
    """Train a table of :data:`CASES` once per module (as ``problem-<name>``); returns (name, expected problem,
    the table, the tracking URI). The wine table's registered name first holds a copy of the diabetes
    champion, so its run is also the cross-problem scenario."""
    done: dict[str, tuple] = {}

    def train(name: str) -> tuple:
        if name in done:
            return done[name]
        problem, make = CASES[name]
        model = f"problem-{name}"
        if name in OTHER_PROBLEM_FIRST:
            other = f"problem-{OTHER_PROBLEM_FIRST[name]}"
            train(OTHER_PROBLEM_FIRST[name])
            version = MlflowClient(mlflow_server).get_model_version_by_alias(other, "champion").version
            assert copy_champion(mlflow_server, other, str(version), model) == "1"
        folder = tmp_path_factory.mktemp(f"problem-{name}")
        table = make()
        path = folder / f"{name}.csv"
        table.to_csv(path, index=False)
        result = run_training(mlflow_server, path, [*BUDGET, "-p", "model_name", model, "-p", "experiment_name",
                                                    model], folder, timeout=900)
        assert result.returncode == 0, result.stderr[-4000:]
        done[name] = (name, problem, table, mlflow_server)
        return done[name]

    return train


@pytest.fixture(scope="module", params=list(CASES))
def trained(request, train_table):
    """(name, expected problem, the table, the tracking URI) with a champion trained on the table."""
    return train_table(request.param)


@pytest.fixture(scope="module")
def api(trained, tmp_path_factory):
    name, _, _, tracking_uri = trained
    process, url = start_api(tracking_uri, tmp_path_factory.mktemp("problem-api") / "api.log",
                             MODEL_NAME=f"problem-{name}", POLL_SECONDS="0")
    yield url
    stop_process(process)


def test_training_decides_the_problem_and_logs_its_metrics_and_plots(trained):
    name, problem, table, tracking_uri = trained
    client = MlflowClient(tracking_uri)
    version = client.get_model_version_by_alias(f"problem-{name}", "champion")
    run = client.get_run(version.run_id)
    # the problem's usual sort metric, since the run named none
    assert run.data.params["problem"] == problem
    assert run.data.params["sort_metric"] == {"multiclass": "logloss", "regression": "RMSE"}[problem]
    holdout = {k.removeprefix("holdout_") for k in run.data.metrics if k.startswith("holdout_")}
    assert set(METRIC_DIRECTIONS[problem]) - {"macro_auc"} <= holdout  # macro AUC is NaN on a class-less fold
    # the MOJO the API serves reproduces H2O's own predictions on the holdout rows
    assert run.data.metrics["mojo_max_abs_diff_vs_h2o"] <= 1e-9
    plots = {a.path for a in client.list_artifacts(version.run_id, "plots")}
    expected = ({"plots/holdout_confusion_matrix.png", "plots/holdout_precision_recall_per_class.png"}
                if problem == "multiclass" else
                {"plots/holdout_predicted_vs_actual.png", "plots/holdout_residuals.png"})
    assert expected <= plots and "plots/holdout_roc.png" not in plots
    # the calibration map of estimated performance: the top class's probability (multiclass), none (regression)
    logged = {a.path for a in client.list_artifacts(version.run_id)}
    if problem == "regression":
        assert "calibration.json" not in logged
    else:
        calibration = json.loads(open(client.download_artifacts(version.run_id, "calibration.json")).read())
        assert calibration["problem"] == "multiclass" and calibration["method"] == "isotonic"
        assert 0 <= min(calibration["y"]) <= max(calibration["y"]) <= 1


def test_the_api_answers_as_the_problem_asks(trained, api):
    name, problem, table, _ = trained
    card = requests.get(f"{api}/model", timeout=30).json()
    assert card["problem"] == problem and card["threshold"] is None
    assert set(card["holdout_metrics"]) <= set(METRIC_DIRECTIONS[problem])
    rows = table.drop(columns=["target"]).head(40)
    answer = requests.post(f"{api}/predict", params={"rank": "true"}, timeout=60,
                           json={"records": rows.astype(object).where(rows.notna(), None).to_dict("records")})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["rank"] for p in predictions] == list(range(1, 41))
    csv = pd.read_csv(io.StringIO(requests.post(
        f"{api}/predict", files={"file": ("rows.csv", rows.to_csv(index=False).encode(), "text/csv")},
        headers={"Accept": "text/csv"}, timeout=60).text))
    assert list(csv.columns[:len(rows.columns)]) == list(rows.columns)
    by_row = {p["row"]: p for p in predictions}
    if problem == "regression":
        assert card["classes"] is None and list(csv.columns[len(rows.columns):]) == ["prediction"]
        values = [p["prediction"] for p in predictions]
        assert values == sorted(values, reverse=True)
        assert np.allclose(csv["prediction"], [by_row[r]["prediction"] for r in range(1, 41)], rtol=0, atol=1e-12)
    else:
        classes = card["classes"]
        assert classes == sorted(map(str, table["target"].unique()))
        assert list(csv.columns[len(rows.columns):]) == ["label", *[f"probability_{c}" for c in classes]]
        for p in predictions:
            assert list(p["probabilities"]) == classes and math.isclose(sum(p["probabilities"].values()), 1,
                                                                         abs_tol=1e-6)
            assert p["label"] == max(classes, key=p["probabilities"].get)
            assert p["probability"] == p["probabilities"][p["label"]]
        assert [p["probability"] for p in predictions] == sorted((p["probability"] for p in predictions),
                                                                 reverse=True)
        assert csv["label"].astype(str).tolist() == [by_row[r]["label"] for r in range(1, 41)]
    explain = requests.post(f"{api}/predict", params={"explain": "true"}, timeout=60,
                            json={"records": rows.head(2).astype(object).where(rows.head(2).notna(), None)
                                  .to_dict("records")}).json()["explain"]
    if problem == "multiclass":
        assert not explain["available"] and "multiclass" in explain["message"]
    if name == "mixed":  # the date column is no feature: it passes through, and the schema says why
        assert card["input_schema"]["ignored_columns"] == {"signed_up": DATE_REASON}
        assert "signed_up" not in {c["name"] for c in card["input_schema"]["columns"]}


@pytest.mark.browser
def test_the_dashboard_shows_the_problem_type_charts(trained, api, browser, tmp_path):
    name, problem, table, _ = trained
    process, url = start_dashboard(api, tmp_path / "voila.log")
    try:
        page = open_dashboard(browser, url)
        assert problem in page.inner_text(".model-card")
        path = tmp_path / f"{name}-upload.csv"
        table.head(60).to_csv(path, index=False)  # with the target: the page compares
        upload(page, path)
        page.wait_for_selector("text=60 rows", timeout=60_000)
        page.click("button:has-text('Predict')")
        page.wait_for_selector(".download-link", timeout=120_000)
        fit = page.inner_text(".fit")
        shown = ranked_rows(page)
        if problem == "multiclass":
            assert "Accuracy on this file" in fit and "60 rows with a known class" in fit
            assert {r["label"] for r in shown} <= set(map(str, table["target"].unique()))
        else:
            assert "RMSE on this file" in fit and "60 rows with a known actual value" in fit
            assert all(float(r["prediction"]) == float(r["prediction"]) for r in shown)
        assert "threshold" not in page.inner_text(".model-card").lower()
    finally:
        stop_process(process)


def test_a_champion_of_another_problem_does_not_compete(train_table):
    """A regression champion, then a multiclass version of the same registered name: the new one takes the
    alias without a comparison, and the decision says why."""
    name = "wine"
    _, _, _, tracking_uri = train_table(name)
    client = MlflowClient(tracking_uri)
    first = client.get_model_version(f"problem-{name}", "1")
    assert client.get_run(first.run_id).data.params["problem"] == "regression"
    champion = client.get_model_version_by_alias(f"problem-{name}", "champion")
    assert champion.version == "2"
    assert champion.tags["decision"] == ("champion v1 does not compete: it answers a regression problem, the new "
                                         "version a multiclass one")
