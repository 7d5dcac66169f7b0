"""Training with every default on tables the defaults were not written for, built from the shipped data: a
multiclass target (``Vehicle_Age``) and a regression target with a 200-level text column. Each trains once
on the cheapest budget (``QUICK_BUDGET``; nothing about the data or its encodings is set), and its log and
run say which columns got a target encoding and why; the log carries H2O's progress as one readable line per
job, no bar characters."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from mlflow import MlflowClient

from automlkit.features import AUTO_GROUPS

from conftest import QUICK_BUDGET, run_training

pytestmark = pytest.mark.integration


def _train(mlflow_server, frame, name: str, target: str, folder) -> tuple[str, "mlflow.entities.Run"]:
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    result = run_training(mlflow_server, path, ["-p", "target", target, *QUICK_BUDGET, "-p", "model_name", name,
                                                "-p", "experiment_name", name], folder, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    client = MlflowClient(mlflow_server)
    version = client.get_model_version_by_alias(name, "champion")
    return result.stderr, client.get_run(version.run_id)


def _assert_readable_progress(log: str) -> None:
    """H2O's jobs as one line each with percent and seconds, AutoML's own event lines, no bar characters."""
    assert "█" not in log and "|#" not in log
    assert re.search(r"H2O AutoML\S*: \d+% in \d+\.\d s", log), log[-3000:]
    jobs = [line for line in log.splitlines() if re.search(r"\bH2O [\w ]+: \d+%", line)]  # parse, AutoML, predictions
    assert len(jobs) >= 3 and all(re.search(r"\bH2O [\w ]+: \d+% in \d+\.\d s( \(\w+\))?$", j) for j in jobs), jobs
    assert "AutoML build started" in log and "AutoML build done" in log  # AutoML's own event lines, as before


def test_a_multiclass_target_trains_with_the_defaults_and_says_why_nothing_is_encoded(mlflow_server, train_frame,
                                                                                       tmp_path):
    frame = train_frame.sample(n=3000, random_state=5).sort_index()
    log, run = _train(mlflow_server, frame, "defaults-multiclass", "Vehicle_Age", tmp_path)
    assert run.data.params["problem"] == "multiclass" and run.data.params["target_encoding"] == "auto"
    assert run.data.params["target_encoded"] == "none"
    reason = run.data.tags["target_encoding_reason"]
    assert reason.startswith("auto: none, the target has 3 classes") and "one per class" in reason
    assert f"target encoding: {reason}" in log
    _assert_readable_progress(log)


def test_a_regression_target_with_a_200_level_text_column_gets_its_codes_encoded(mlflow_server, train_frame,
                                                                                 tmp_path):
    frame = train_frame.sample(n=4000, random_state=11).sort_index().reset_index(drop=True)
    random = np.random.default_rng(5)
    agent, effect = random.integers(0, 200, len(frame)), random.normal(0, 1, 200)
    frame["Agent"] = [f"agent-{a:03d}" for a in agent]  # a text column of 200 levels that moves the premium
    frame["Annual_Premium"] = (frame["Annual_Premium"] + 12000 * effect[agent]).round()
    log, run = _train(mlflow_server, frame, "defaults-regression", "Annual_Premium", tmp_path)
    assert run.data.params["problem"] == "regression"
    encoded = run.data.params["target_encoded"].split(", ")
    assert "Agent" in encoded and "Gender" not in encoded
    # the run's artifact: every feature with its choice and the figures behind it
    client = MlflowClient(mlflow_server)
    report = json.loads(open(client.download_artifacts(run.info.run_id, "target_encoding.json")).read())
    choices = {c["column"]: c for c in report["columns"]}
    features = [c for c in frame.columns if c not in ("id", "Annual_Premium")]
    assert sorted(choices) == sorted(features)
    assert choices["Agent"]["encoded"] and choices["Agent"]["levels"] == 200
    assert choices["Agent"]["explained_by_levels"] > choices["Agent"]["explained_by_groups"]
    assert not choices["Vehicle_Age"]["encoded"] and choices["Vehicle_Age"]["reason"].startswith("3 levels")
    assert sorted(c for c in choices if choices[c]["encoded"]) == sorted(encoded)
    # ... and the log says the same, column by column
    assert "target encoding: auto: " in log
    assert re.search(rf"Agent: encoded, its 200 levels explain [\d.]+ of the target's variance, {AUTO_GROUPS} "
                     r"frequent levels and the rest", log)
    assert "Vehicle_Age: not encoded, 3 levels" in log
    # the model serves what it was trained with: the encoded feature is in its schema
    schema = json.loads(open(client.download_artifacts(run.info.run_id, "schema.json")).read())
    assert {e["column"] for e in schema["target_encodings"]} == set(encoded)
    _assert_readable_progress(log)
