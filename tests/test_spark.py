"""Scoring with Spark (``automlkit.spark_scoring``, ``automl score-spark``): ``mlflow.pyfunc.spark_udf`` on the
registered model, on ``local[2]``, checked against the API's own scores for the same rows.

The fast tests check the pyfunc's ``bad_rows="null"`` answer and the per-process model reuse without Spark;
the integration ones start Spark (a JVM and Python workers, each with the model's in-process JVM).
"""

from __future__ import annotations

import gzip
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from automlkit.errors import MAX_ROWS_REPORTED, DataContractError, Problem
from automlkit.score_command import load
from conftest import TEST_CSV, VENV_BIN
import route_fixtures
from route_fixtures import TINY_MODEL_NAME, restored_mlflow_uris

tiny_champion = route_fixtures.tiny_champion  # the fixture: the committed tiny model in a SQLite store
MODEL_URI = f"models:/{TINY_MODEL_NAME}/1"


@pytest.fixture(scope="module")
def model(tiny_champion):
    """``tiny-model`` v1's scoring model, loaded as the API and ``automl score`` load it."""
    with restored_mlflow_uris():
        return load(MODEL_URI, tiny_champion)


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """test.csv.gz as text cells, as a CSV reader without type inference gives them."""
    return pd.read_csv(TEST_CSV, dtype=str, keep_default_na=False)


def api_scores(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The API's answer for ``frame``'s rows sent as a CSV upload."""
    return pd.DataFrame(model.score_csv(frame.to_csv(index=False).encode()).columns)


# ------------------------------------------------------------------------------------ without Spark


def test_bad_rows_null_scores_the_good_rows_and_says_why_for_each_bad_one(model, customers):
    frame = customers.head(300).copy()
    bad = {7: "abc", 150: "40 years", 151: "twelve"}
    for row, value in bad.items():
        frame.loc[row, "Age"] = value
    answer = model.predict(frame, bad_rows="null")
    good = answer.drop(index=list(bad))
    expected = api_scores(model, frame.drop(index=list(bad)))
    np.testing.assert_array_equal(good["probability"].to_numpy(float), expected["probability"])
    assert (good["reason"] == "").all()
    assert answer.loc[list(bad), "probability"].isna().all() and answer.loc[list(bad), "label"].isna().all()
    assert all("column 'Age'" in answer.loc[row, "reason"] for row in (7, 151))
    assert "abc" in answer.loc[7, "reason"] and "twelve" in answer.loc[151, "reason"]
    with pytest.raises(DataContractError, match="Age"):
        model.predict(frame)  # the default stays the API's: the whole frame is refused


def test_more_bad_rows_than_a_problem_names_are_each_found(model, customers):
    frame = customers.head(200).copy()
    bad = list(range(10, 10 + 3 * MAX_ROWS_REPORTED))  # a problem lists only the first few of its rows
    frame.loc[bad, "Annual_Premium"] = "n/a"
    answer = model.predict(frame, bad_rows="null")
    assert answer.index[answer["reason"] != ""].tolist() == bad
    assert answer["probability"].notna().sum() == len(frame) - len(bad)


def test_a_missing_column_is_not_a_bad_row(model, customers):
    with pytest.raises(DataContractError, match="Gender"):
        model.predict(customers.head(20).drop(columns="Gender"), bad_rows="null")


def test_cuts_isolate_the_named_rows_or_halve():
    named = DataContractError([Problem("Age", "bad", rows=[3, 5], count=2)])
    assert named.cuts(first_row=1, size=8) == [0, 2, 3, 4, 5, 8]
    truncated = DataContractError([Problem("Age", "bad", rows=[3, 5], count=9)])
    assert truncated.cuts(first_row=1, size=8) == [0, 4, 8]
    assert named.reason() == "column 'Age': bad"


def test_a_process_loads_the_same_model_files_once(tiny_champion, tmp_path):
    """Spark's local mode loads the model for every task: a Python worker reuses the scoring model it has."""
    with restored_mlflow_uris():
        mlflow.set_tracking_uri(tiny_champion)
        mlflow.set_registry_uri(tiny_champion)
        local = mlflow.artifacts.download_artifacts(MODEL_URI, dst_path=str(tmp_path / "copy"))
        first = mlflow.pyfunc.load_model(local).unwrap_python_model().scoring_model
        again = mlflow.pyfunc.load_model(local).unwrap_python_model().scoring_model
        other = mlflow.pyfunc.load_model(MODEL_URI).unwrap_python_model().scoring_model  # another download
    assert again is first
    assert other is not first


# --------------------------------------------------------------------------------------- with Spark


@pytest.fixture(scope="module")
def spark():
    """A local[2] Spark session, stopped after the module's tests."""
    from automlkit.spark_scoring import session

    spark = session("local[2]", "test_spark")
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


@pytest.mark.integration
def test_spark_scores_a_partitioned_data_set_as_the_api_does_and_keeps_going_past_bad_rows(
        spark, tiny_champion, model, customers, tmp_path):
    from automlkit.spark_scoring import score_dataset

    rows = pd.concat([customers, customers], ignore_index=True)  # 254,074 rows
    rows["id"] = [str(i) for i in range(1, len(rows) + 1)]
    bad = {len(rows) // 2: ("Age", "forty"), len(rows) - 3: ("Annual_Premium", "lots")}
    for row, (column, value) in bad.items():
        rows.loc[row, column] = value
    source = tmp_path / "customers.parquet"
    source.mkdir()
    for part, start in enumerate(range(0, len(rows), 50_000)):  # a partitioned data set, 6 parts
        rows.iloc[start:start + 50_000].to_parquet(source / f"part-{part:05d}.parquet", index=False)

    with restored_mlflow_uris():
        mlflow.set_tracking_uri(tiny_champion)
        mlflow.set_registry_uri(tiny_champion)
        summary = score_dataset(spark, str(source), str(tmp_path / "scored.parquet"), MODEL_URI)
    assert (summary.rows, summary.rejected) == (len(rows), len(bad))

    scored = pd.read_parquet(tmp_path / "scored.parquet")
    scored = scored.assign(row=scored["id"].astype(int) - 1).set_index("row").sort_index()
    assert scored.index.tolist() == list(range(len(rows)))
    assert list(scored.columns) == [*customers.columns, "probability", "label", "reason"]
    for row, (column, value) in bad.items():
        assert pd.isna(scored.loc[row, "probability"]) and pd.isna(scored.loc[row, "label"])
        assert f"column '{column}'" in scored.loc[row, "reason"] and value in scored.loc[row, "reason"]
    good = scored.drop(index=list(bad))
    expected = api_scores(model, rows.drop(index=list(bad)))
    assert good["reason"].isna().all()
    np.testing.assert_allclose(good["probability"].to_numpy(float), expected["probability"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(good["label"].to_numpy(int), expected["label"])


@pytest.mark.integration
def test_spark_output_keeps_the_input_types_and_joins_back_on_id(spark, tiny_champion, model, tmp_path):
    from automlkit.spark_scoring import score_dataset

    typed = pd.read_csv(TEST_CSV, nrows=2000)  # whole numbers, decimals and text, as the data contract types them
    typed.to_parquet(tmp_path / "typed.parquet", index=False)
    typed.to_csv(tmp_path / "typed.csv", index=False)
    expected = api_scores(model, typed)["probability"]
    with restored_mlflow_uris():
        mlflow.set_tracking_uri(tiny_champion)
        mlflow.set_registry_uri(tiny_champion)
        for source in ("typed.parquet", "typed.csv"):
            score_dataset(spark, str(tmp_path / source), str(tmp_path / f"scored-{source}"), MODEL_URI)
            scored = pd.read_parquet(tmp_path / f"scored-{source}")
            assert scored[typed.columns].dtypes.to_dict() == typed.dtypes.to_dict(), source
            joined = typed.merge(scored[["id", "probability"]], on="id", validate="one_to_one")  # no cast
            assert len(joined) == len(typed), source
            np.testing.assert_allclose(joined["probability"], expected, rtol=0, atol=1e-9, err_msg=source)


@pytest.mark.integration
def test_automl_score_spark_reads_gzip_csv_and_writes_csv(tiny_champion, model, customers, tmp_path):
    rows = customers.head(3000)
    source = tmp_path / "customers.csv.gz"
    with gzip.open(source, "wt", newline="") as out:
        rows.to_csv(out, index=False)
    environment = {"MLFLOW_TRACKING_URI": tiny_champion, "MODEL_NAME": TINY_MODEL_NAME,
                   "AUTOML_ENV_FILE": str(tmp_path / "no.env")}
    run = subprocess.run([str(VENV_BIN / "automl"), "score-spark", str(source), str(tmp_path / "scored"),
                          "--output-format", "csv", "--master", "local[2]"],
                         env={**_environment(), **environment}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"scored 3,000 rows, rejected 0" in run.stderr and f"{TINY_MODEL_NAME} v1 (@champion)" in run.stderr
    scored = pd.concat([pd.read_csv(part, dtype={"id": str}) for part in sorted((tmp_path / "scored").glob("part-*"))])
    scored = scored.set_index("id").loc[rows["id"]]
    expected = api_scores(model, rows)
    np.testing.assert_allclose(scored["probability"].to_numpy(float), expected["probability"], rtol=0, atol=1e-9)
    # the passed-through cells are written as they came, as `automl score` writes them
    as_text = pd.concat([pd.read_csv(part, dtype=str, keep_default_na=False)
                         for part in sorted((tmp_path / "scored").glob("part-*"))]).set_index("id").loc[rows["id"]]
    pd.testing.assert_frame_equal(as_text[rows.columns.drop("id")].reset_index(drop=True),
                                  rows.drop(columns="id").reset_index(drop=True))

    missing = tmp_path / "no-gender.csv"
    rows.drop(columns="Gender").to_csv(missing, index=False)
    run = subprocess.run([str(VENV_BIN / "automl"), "score-spark", str(missing), str(tmp_path / "never"),
                          "--master", "local[2]"], env={**_environment(), **environment},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 1 and "column 'Gender'" in run.stderr, run.stderr[-3000:]
    assert not (tmp_path / "never").exists()


def _environment() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


@pytest.mark.integration
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_spark_job_leaves_no_output_and_no_process(tiny_champion, tmp_path, sent):
    """Ctrl-C or SIGTERM (a scheduler stopping the job) while Spark writes: PySpark cancels the job, the
    command says so and exits 130, the half-written folder is removed, and Spark's JVM and its Python workers
    (each holding the model's in-process JVM, which leaves the signals to its host) are gone."""
    import psutil

    environment = {"MLFLOW_TRACKING_URI": tiny_champion, "MODEL_NAME": TINY_MODEL_NAME,
                   "AUTOML_ENV_FILE": str(tmp_path / "no.env")}
    out = tmp_path / "scored"
    process = subprocess.Popen([str(VENV_BIN / "automl"), "score-spark", str(TEST_CSV), str(out), "--master",
                                "local[2]"], env={**_environment(), **environment}, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 180
    while not (out / "_temporary").exists():  # the job is writing its parts
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the job never started writing"
        time.sleep(0.2)
    children = psutil.Process(process.pid).children(recursive=True)
    assert any("java" in c.name() for c in children), [c.name() for c in children]
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert f"automl score-spark: interrupted; {out} not written" in stderr
    assert not out.exists()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [(c.pid, c.name()) for c in alive]
