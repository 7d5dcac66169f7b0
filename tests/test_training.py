"""papermill runs train.ipynb against a real mlflow server: registry, child runs, MOJO pyfunc, champion.

The first run is the session's own (``api_training``: the small budget on the sample, ``api-model``); the
worse run competes with a copy of its version registered under another name, so that what the API tests do
with ``api-model``'s aliases never meets this module's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from automlkit.registry import alias_version
from automlkit.split import holdout_mask

from conftest import API_MODEL, copy_champion, run_training

pytestmark = pytest.mark.integration

#: The registered name the worse run competes in (v1: a copy of the first run's version).
MODEL = "cross-sell"
#: A deliberately worse budget: one random forest only (the small-data leader is a GLM or a boosted model);
#: max_models stops it after one model, max_runtime_secs is only a cap (30 s built nothing on a loaded machine).
WORSE = ["-p", "model_name", MODEL, "-p", "experiment_name", MODEL, "-p", "max_runtime_secs", "120", "-p", "max_models", "1", "-p", "nfolds", "3",
         "-p", "exclude_algos", "[DeepLearning, GLM, GBM, XGBoost, StackedEnsemble]",
         # on 6,000 rows the holdout's standard error (~0.014 AUC) puts the forest within noise of the
         # champion, and then speed would decide: only a strictly better version may take the alias here
         "-p", "promote_within_noise", "False"]


@pytest.fixture(scope="module")
def first_run(api_training):
    """The first training run of ``api-model``: it became the champion."""
    mlflow.set_tracking_uri(api_training.tracking_uri)
    return api_training


def parent_runs(client: MlflowClient, experiment_name: str):
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags], runs


def test_first_run_is_champion_with_children_and_artifacts(first_run):
    client = MlflowClient()
    assert first_run.champion_version == "1"
    parents, runs = parent_runs(client, API_MODEL)
    parent = parents[0]
    assert parent.info.run_id == first_run.run_id
    assert parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) >= 2
    for child in children:
        assert {"holdout_auc", "holdout_logloss", "holdout_aucpr", "cv_auc"} <= set(child.data.metrics)
        # what each candidate costs to serve, measured when it is logged
        assert child.data.metrics["serving_rows_per_s"] > 100 and child.data.metrics["serving_mojo_bytes"] > 1000
        assert child.data.metrics["serving_contributions"] in (0.0, 1.0)
    assert parent.data.params["data_sha256"] and int(parent.data.params["rows_used"]) == 6000
    assert parent.data.metrics["holdout_auc"] > 0.75
    assert parent.data.metrics["mojo_max_abs_diff_vs_h2o"] < 1e-9
    assert parent.data.metrics["served_max_abs_diff_vs_h2o"] <= 1e-6  # the native XGBoost path, if it serves
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"leaderboard.csv", "schema.json", "selection.json", "plots", "notebook"} <= artifacts
    # the leader was chosen within the noise band, and the run says which rule, which models and why
    selection = json.loads(open(client.download_artifacts(parent.info.run_id, "selection.json")).read())
    assert selection["rule"] == parent.data.tags["selection_rule"] == "within_noise"
    assert selection["winner"] in selection["inside"] and selection["band"] > 0
    assert "within one standard error" in parent.data.tags["selection_reason"]
    board = pd.read_csv(client.download_artifacts(parent.info.run_id, "leaderboard.csv"))
    assert {"cv_se", "serving_rows_per_s", "serving_mojo_bytes", "serving_contributions"} <= set(board.columns)
    winner = board.set_index("model_id").loc[selection["winner"]]
    inside = board[board["model_id"].isin(selection["inside"])]
    explaining = inside[inside["serving_contributions"]]
    assert winner["serving_rows_per_s"] == (explaining if len(explaining) else inside)["serving_rows_per_s"].max()
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/holdout_roc.png", "plots/holdout_cumulative_gains.png", "plots/leaderboard.png",
            "plots/holdout_precision_recall.png", "plots/holdout_calibration.png",
            "plots/holdout_confusion_at_threshold.png"} <= plots
    assert plots & {"plots/variable_importance.png", "plots/variable_importance_base_models.png"}
    # each child run with importances has its chart
    assert any(client.list_artifacts(c.info.run_id, "plots") for c in children)
    notebook = client.list_artifacts(parent.info.run_id, "notebook")
    assert notebook and notebook[0].path.endswith(".ipynb")
    assert "no champion yet" in parent.data.tags["decision"]
    schema = json.loads(open(client.download_artifacts(parent.info.run_id, "schema.json")).read())
    assert schema["target"] == "Response" and "Region_Code" in [c["name"] for c in schema["columns"]]


PREDICT_IN_FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import mlflow, pandas as pd
    frame = pd.read_csv(sys.argv[1])
    model = mlflow.pyfunc.load_model(sys.argv[2])
    out = model.predict(frame)
    assert "h2o" not in sys.modules, "the pyfunc model imported h2o"
    import psutil
    jvms = [p for p in psutil.Process().children(recursive=True) if "h2o.jar" in " ".join(p.cmdline())]
    assert not jvms, "the pyfunc model started an H2O JVM"
    meta = model.metadata.metadata
    print(json.dumps({"probability": out["probability"].tolist(), "label": out["label"].tolist(),
                      "columns": list(out.columns), "threshold": meta["threshold"]}))
""")


def test_champion_predicts_in_a_fresh_process_without_h2o_and_matches_h2o(first_run, sample_csv, tmp_path):
    import h2o

    frame = pd.read_csv(sample_csv)
    holdout = frame[holdout_mask(frame, "id", 0.2)].head(300).reset_index(drop=True)
    rows = tmp_path / "rows.csv"
    holdout.drop(columns=["Response"]).to_csv(rows, index=False)
    # no H2O anywhere for this prediction: the JVM the training started is gone, and the fresh process
    # starts none (it checks its own children)
    training_jvm = MlflowClient().get_run(first_run.run_id).data.tags["h2o_url"]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{training_jvm}/3/Cloud", timeout=5)
    uri = f"models:/{API_MODEL}/{first_run.champion_version}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()}
    result = subprocess.run([sys.executable, "-c", PREDICT_IN_FRESH_PROCESS, str(rows), uri], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["columns"] == ["probability", "label"]
    probability = np.array(answer["probability"])
    assert len(probability) == len(holdout) and ((probability > 0) & (probability < 1)).all()
    assert answer["label"] == (probability >= answer["threshold"]).astype(int).tolist()

    # H2O's own prediction of the same model, in a real H2O JVM
    from automlkit.h2o_cluster import H2OCluster

    mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "m"))
    mojo = next(p for p in (tmp_path / "m").rglob("*.zip"))
    with H2OCluster():
        model = h2o.import_mojo(str(mojo))
        schema = json.loads(next((tmp_path / "m").rglob("model_meta.json")).read_text())["schema"]
        from automlkit.schema import Schema
        from automlkit.training import h2o_scores, to_h2o_frame

        schema = Schema.from_dict(schema)
        reference = h2o_scores(model, to_h2o_frame(holdout, schema, with_target=False), schema)
    assert np.max(np.abs(reference - probability)) < 1e-6


def test_worse_run_does_not_take_the_champion_alias(first_run, sample_csv, tmp_path):
    assert copy_champion(first_run.tracking_uri, API_MODEL, first_run.champion_version, MODEL) == "1"
    result = run_training(first_run.tracking_uri, str(sample_csv), WORSE, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    client = MlflowClient()
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"
    # worse beyond the noise band (zero here): not even the challenger, so it is not scored in the shadow
    assert alias_version(client, MODEL, "challenger") is None
    parents, _ = parent_runs(client, MODEL)
    second = parents[-1]
    assert second.data.metrics["promoted"] == 0.0
    assert second.data.metrics["new_holdout_auc"] < second.data.metrics["champion_holdout_auc"]
    assert "does not beat champion v1 on holdout auc" in second.data.tags["decision"]
    assert second.data.metrics["decision_tolerance"] == 0.0
    first = client.get_run(first_run.run_id)
    # the champion's figure is re-measured on the same holdout rows: identical to its own run's
    assert second.data.metrics["champion_holdout_auc"] == pytest.approx(first.data.metrics["holdout_auc"], abs=1e-9)
    assert second.data.tags["alias"] == "none"


def test_failed_notebook_marks_the_run_failed(mlflow_server, tmp_path):
    result = run_training(mlflow_server, str(tmp_path / "missing.csv"), ["-p", "experiment_name", "failing"],
                          tmp_path)
    assert result.returncode == 1
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("failing")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert "no data file" in run.data.tags["error"]
    assert client.list_artifacts(run.info.run_id, "notebook")
