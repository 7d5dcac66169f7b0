"""Shadow scoring and promotion on evidence against the real servers (issue 28): ``mlflow server``, the API
under uvicorn, ``automl promote`` as a command, the dashboard's Monitoring tab in Chromium.

The models are copies of existing ones, no new training: the session's champion (``api_training``) copied as
``shadow-live`` v1, the committed tiny GBM (``tests/fixtures/tiny_model/``, trained on 2,000 rows: worse on
real traffic) as v2, and a second copy of the champion as v3 (equal, by construction).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from automlkit.java_build import genmodel_jar
from automlkit.metrics import bootstrap_standard_error
from automlkit.registry import alias_version
from automlkit.scoring import ModelMeta, ScoringModel

from conftest import API_MODEL, REPO, SCREENSHOTS, copy_champion, running_api, start_dashboard
from automlkit.launch import stop_process
from route_fixtures import TINY_META, TINY_MOJO, log_tiny_version

pytestmark = pytest.mark.integration

MODEL = "shadow-live"
#: The shadow rows ``automl promote`` asks for here.
MIN_ROWS = 2000


@pytest.fixture(scope="module")
def traffic(train_frame) -> pd.DataFrame:
    """3,000 labelled rows of the shipped data the session's champion was not trained on."""
    unseen = train_frame.drop(train_frame.sample(n=6000, random_state=7).index)  # conftest's sample_csv rows
    return unseen.sample(n=3000, random_state=28).reset_index(drop=True)


@pytest.fixture(scope="module")
def registry(api_training, train_frame, traffic) -> MlflowClient:
    """``shadow-live``: v1 the session's champion (champion alias), v2 the tiny GBM with the noise band its
    training would log (one bootstrap standard error of its AUC on 10,000 labelled rows apart from the traffic)."""
    uri = api_training.tracking_uri
    assert copy_champion(uri, API_MODEL, api_training.champion_version, MODEL) == "1"
    apart = train_frame.drop(traffic.index).sample(n=10_000, random_state=5)
    tiny = ScoringModel(TINY_MOJO, genmodel_jar(), ModelMeta.read(TINY_META))
    band = bootstrap_standard_error(apart["Response"].to_numpy(), tiny.predict(apart)["probability"].to_numpy(), "auc")
    assert log_tiny_version(uri, MODEL, TINY_MOJO, None, band) == "2"
    return MlflowClient(uri, uri)


@pytest.fixture(scope="module")
def api(registry, api_training, tmp_path_factory):
    with running_api(api_training.tracking_uri, tmp_path_factory.mktemp("shadow-api") / "api.log", "shadow-token",
                     MODEL_NAME=MODEL, MONITORING_FLUSH_SECONDS="0.5", MONITORING_CACHE_SECONDS="0") as running:
        yield running


def reload(api) -> dict:
    answer = requests.post(f"{api.url}/reload", headers={"Authorization": f"Bearer {api.reload_token}"}, timeout=300)
    assert answer.status_code == 200, answer.text
    return answer.json()


def send(api, frame: pd.DataFrame) -> list[bytes]:
    """``frame`` scored as JSON (in batches of 1,000 and one single row) and as a CSV upload: the answers."""
    records = json.loads(frame.to_json(orient="records"))
    answers = [requests.post(f"{api.url}/predict", json={"records": records[i:i + 1000]}, timeout=120)
               for i in range(1, len(records), 1000)]
    answers.append(requests.post(f"{api.url}/predict", json={"records": records[:1]}, timeout=60))
    answers.append(requests.post(f"{api.url}/predict", files={"file": ("t.csv", frame.to_csv(index=False))},
                                 timeout=120))
    assert all(a.status_code == 200 for a in answers), [a.text[:300] for a in answers]
    return [a.content for a in answers]


def compared(api, champion: str, challenger: str, rows: int, timeout: float = 180) -> dict:
    """``GET /monitoring`` once the comparison of the pair holds ``rows`` rows."""
    deadline = time.time() + timeout
    while True:
        body = requests.get(f"{api.url}/monitoring", params={"every": "day"}, timeout=60).json()
        pair = [c for c in body["comparisons"] if (c["champion_version"], c["challenger_version"]) == (champion,
                                                                                                        challenger)]
        if sum(c["rows"] for c in pair) >= rows:
            return body
        assert time.time() < deadline, f"the comparison of v{champion} and v{challenger} did not reach {rows} rows: {body}"
        time.sleep(0.5)


def promote(uri: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MODEL_NAME": MODEL, "PROMOTE_MIN_ROWS": str(MIN_ROWS)}
    return subprocess.run([sys.executable, "-m", "automlkit.cli", "promote"], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def said(done: subprocess.CompletedProcess) -> str:
    """The decision ``automl promote`` printed (its last line: MLflow prints the run's address before it)."""
    return done.stdout.strip().splitlines()[-1]


def promotion_runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("promotion")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.model_name = '{MODEL}'",
                              order_by=["attributes.start_time DESC"]) if experiment else []


def test_the_challenger_scores_in_the_shadow_and_the_answers_stay_the_champions(api, registry, traffic):
    alone = send(api, traffic)
    registry.set_registered_model_alias(MODEL, "challenger", "2")
    assert reload(api)["changed"] is False  # the champion stays; the challenger is loaded beside it
    assert send(api, traffic) == alone  # byte for byte, shadow on against off
    body = compared(api, "1", "2", 2 * len(traffic))
    assert body["shadow"]["challenger_version"] == "2" and body["shadow"]["skipped_rows"] == 0
    assert {("1", "live"), ("2", "shadow")} <= {(v["version"], v["role"]) for v in body["versions"]}
    [pair] = [c for c in body["comparisons"] if c["challenger_version"] == "2"]
    assert pair["rows"] == 2 * len(traffic) and 0.5 < pair["agreement"] < 1 and 0.5 < pair["spearman"] < 1
    realised = pair["realised"]
    assert realised["rows"] == 2 * len(traffic)
    assert realised["champion"]["auc"] > realised["challenger"]["auc"]  # the tiny model is the weaker one


@pytest.mark.browser
def test_the_monitoring_tab_shows_champion_and_challenger_side_by_side(api, browser, tmp_path):
    body = compared(api, "1", "2", 1)
    process, url = start_dashboard(api.url, tmp_path / "voila.log")
    try:
        page = browser()
        page.goto(url, timeout=120_000)
        page.wait_for_selector(".model-card", timeout=120_000)
        page.click(".lm-TabBar-tab:has-text('Monitoring')")
        page.wait_for_selector(".monitoring-shadow", timeout=120_000)
        row = page.locator("tr.shadow-period[data-champion='1'][data-challenger='2']")
        assert row.count() == 1
        cells = row.locator("td").all_inner_texts()
        [pair] = [c for c in body["comparisons"] if c["challenger_version"] == "2"]
        assert cells[1:4] == ["v1", "v2", f"{pair['rows']:,}"]
        assert cells[8] == f"{pair['realised']['champion']['auc']:.4f}"
        assert cells[9] == f"{pair['realised']['challenger']['auc']:.4f}"
        assert "Challenger v2 scores 100.0% of the rows" in page.inner_text(".shadow-state")
        roles = page.eval_on_selector_all("table.monitoring-versions tbody tr", "rows => rows.map(r => r.dataset.role)")
        assert "live" in roles and "shadow" in roles
        page.locator(".monitoring-shadow").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "19-monitoring-shadow.png"), full_page=True)
    finally:
        stop_process(process)


def test_automl_promote_refuses_the_worse_challenger_and_logs_why(api, registry, api_training):
    done = promote(api_training.tracking_uri)
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    assert "worse beyond noise" in done.stdout and "refused" in done.stdout
    assert alias_version(registry, MODEL, "champion") == "1" and alias_version(registry, MODEL, "challenger") == "2"
    run = promotion_runs(registry)[0]
    assert run.data.tags["kind"] == "worse" and run.data.tags["model_version"] == "2"
    assert run.data.tags["champion_version"] == "1" and run.data.tags["decision"] == said(done)
    metrics = run.data.metrics
    assert metrics["promoted"] == 0 and metrics["live_rows"] >= MIN_ROWS
    assert metrics["champion_realised_auc"] - metrics["challenger_realised_auc"] > metrics["decision_tolerance"] > 0
    assert registry.get_model_version(MODEL, "2").tags["decision"] == said(done)


def test_automl_promote_accepts_an_equal_challenger_and_the_api_follows(api, registry, api_training, traffic):
    copied = str(registry.copy_model_version(f"models:/{API_MODEL}/{api_training.champion_version}", MODEL).version)
    registry.set_registered_model_alias(MODEL, "challenger", copied)
    reload(api)
    send(api, traffic)
    compared(api, "1", copied, MIN_ROWS)
    done = promote(api_training.tracking_uri)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "not worse beyond noise" in done.stdout and "promoted" in done.stdout
    assert alias_version(registry, MODEL, "champion") == copied and alias_version(registry, MODEL, "challenger") is None
    run = promotion_runs(registry)[0]
    assert run.data.tags["kind"] == "promoted" and run.data.metrics["promoted"] == 1
    assert run.data.metrics["champion_realised_auc"] == pytest.approx(run.data.metrics["challenger_realised_auc"])
    assert reload(api)["version"] == copied  # the API serves the promoted version, with no challenger left
    assert requests.get(f"{api.url}/monitoring", timeout=60).json()["shadow"]["challenger_version"] is None
