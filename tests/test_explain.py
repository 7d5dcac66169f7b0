"""Per-customer explanations: SHAP contributions from the MOJO, served by the API (real GBM champion)."""

from __future__ import annotations


import pandas as pd
import pytest
import requests

from conftest import TEST_CSV, assert_explanations_add_up, run_training, start_api, stop_process

pytestmark = pytest.mark.integration

ALGOS = ["DeepLearning", "DRF", "XGBoost", "GLM", "GBM", "StackedEnsemble"]


def serve_one_algorithm(algo: str, mlflow_server: str, data, folder) -> tuple:
    """Train a one-model AutoML of ``algo`` on ``data`` as model ``explain-<algo>``; serve it with the API."""
    name = f"explain-{algo.lower()}"
    budget = ["-p", "max_runtime_secs", "60", "-p", "max_models", "1", "-p", "nfolds", "2", "-p", "seed", "1",
              "-p", "exclude_algos", f"[{', '.join(a for a in ALGOS if a != algo)}]", "-p", "tuned_xgboost", "False",
              "-p", "model_name", name, "-p", "experiment_name", name]
    result = run_training(mlflow_server, data, budget, folder)
    assert result.returncode == 0, result.stderr[-4000:]
    return start_api(mlflow_server, folder / "api.log", MODEL_NAME=name, POLL_SECONDS="0")


@pytest.fixture(scope="module")
def gbm_api(mlflow_server, sample_csv, tmp_path_factory):
    """The API serving a GBM (a tree model: it has contributions)."""
    process, url = serve_one_algorithm("GBM", mlflow_server, sample_csv, tmp_path_factory.mktemp("gbm"))
    yield url
    stop_process(process)


def test_explanations_name_the_top_features_and_add_up_to_the_logit(gbm_api):
    assert "Gbm" in requests.get(f"{gbm_api}/model", timeout=10).json()["algorithm"]
    customers = pd.read_csv(TEST_CSV, nrows=60)
    answer = requests.post(f"{gbm_api}/predict", params={"explain": "true", "rank": "true"}, timeout=60,
                           json={"records": customers.to_dict("records")})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["explain"]["available"] and "log-odds" in body["explain"]["unit"]
    schema = requests.get(f"{gbm_api}/model", timeout=10).json()["input_schema"]
    assert_explanations_add_up(body["predictions"], schema)
    # the same rows as CSV give the same explanations
    csv = requests.post(f"{gbm_api}/predict", params={"explain": "true"}, timeout=60,
                        files={"file": ("c.csv", customers.to_csv(index=False).encode())}).json()
    by_row = {p["row"]: p["explanation"] for p in body["predictions"]}
    assert all(p["explanation"] == by_row[p["row"]] for p in csv["predictions"])


def test_explaining_too_many_rows_is_a_413_and_plain_requests_carry_no_explanation(gbm_api):
    customers = pd.read_csv(TEST_CSV, nrows=1001)
    too_many = requests.post(f"{gbm_api}/predict", params={"explain": "true"}, timeout=60,
                             files={"file": ("c.csv", customers.to_csv(index=False).encode())})
    assert too_many.status_code == 413 and "1000 rows" in too_many.json()["detail"]
    plain = requests.post(f"{gbm_api}/predict", json={"records": customers.head(2).to_dict("records")}, timeout=30)
    assert "explain" not in plain.json() and "explanation" not in plain.json()["predictions"][0]


def test_a_model_without_contributions_says_so(mlflow_server, sample_csv, tmp_path):
    process, url = serve_one_algorithm("GLM", mlflow_server, sample_csv, tmp_path)
    try:
        algorithm = requests.get(f"{url}/model", timeout=10).json()["algorithm"]
        customers = pd.read_csv(TEST_CSV, nrows=3)
        body = requests.post(f"{url}/predict", params={"explain": "true"}, timeout=30,
                             json={"records": customers.to_dict("records")}).json()
    finally:
        stop_process(process)
    assert algorithm == "GlmMojoModel"
    assert body["explain"] == {"available": False, "message": "this model (Glm) has no per-feature contributions; "
                                                             "tree models (GBM, DRF, XGBoost) have them"}
    assert len(body["predictions"]) == 3 and "explanation" not in body["predictions"][0]
