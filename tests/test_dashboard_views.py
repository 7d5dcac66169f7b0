"""What the dashboard shows, computed without a browser: messages, model card, paging, sorting and search,
counts, the upload check, the single scoring call, progress, downloads and the page's script."""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import gzip
import io
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automlkit import dashboard_card as card_view
from automlkit import dashboard_charts as charts_view
from automlkit import dashboard_client as client_view
from automlkit import dashboard_fit as fit_view
from automlkit import dashboard_markup as markup_view
from automlkit import dashboard_table as table_view
from automlkit import dashboard_upload as upload_view
from automlkit.dashboard_server import (DOWNLOADS_PATH, DownloadFolder, content_disposition, download_handler_class,
                                        remove_orphaned_roots, safe_filename, sweep_downloads, tornado_settings,
                                        voila_arguments)
from automlkit.metrics import confusion_counts
from automlkit.settings import DashboardSettings
from automlkit.errors import DataContractError, Problem
from conftest import stand_in_http
from route_fixtures import tiny_meta


def test_problems_are_a_readable_list_naming_column_and_rows():
    text = markup_view.problems_html("", [Problem("Age", "expected a number, got ['old']", [3, 5], 7),
                                   Problem(None, "the file is empty")])
    assert "<b>Age</b> (rows 3, 5 and 5 more): expected a number" in text
    assert "<b>File</b>: the file is empty" in text and "{" not in text
    assert "cannot be scored" in markup_view.problems_html("the body is empty", [])


def test_model_card_shows_name_version_trained_at_auc_threshold():
    card = {"name": "cross-sell", "version": "3", "trained_at": "2026-11-25T10:00:00+00:00",
            "holdout_metrics": {"auc": 0.8612345}, "threshold": 0.271828}
    text = markup_view.card_html(card)
    assert all(s in text for s in ("cross-sell", ">version</b> 3", "2026-11-25 10:00:00", "0.8612", "0.2718"))
    assert "chosen by" not in text  # a model trained before the selection rule


def test_model_card_says_how_the_model_was_chosen():
    card = {"name": "cross-sell", "version": "4", "algorithm": "GbmMojoModel", "holdout_metrics": {"auc": 0.86},
            "threshold": 0.3, "selection": {"rule": "within_noise", "reason": "3 of 12 candidates <within> ...",
                                            "serving": {"rows_per_s": 61234.5, "contributions": True}}}
    text = markup_view.card_html(card)
    assert ">version</b> 4 (Gbm)" in text and "<b>chosen by</b> within_noise" in text
    assert "61,234 rows/s" in text and "explains its scores" in text and "&lt;within&gt;" in text


def test_preview_and_its_errors():
    head, rows = upload_view.preview(gzip.compress(b"a,b\n1,2\n3,4\n5,6\n"), max_bytes=10_000, rows=2)
    assert rows == 3 and head.to_dict("list") == {"a": ["1", "3"], "b": ["2", "4"]}
    with pytest.raises(DataContractError) as error:
        upload_view.preview(b"a,b\n1,2\n3,\xe94\n", max_bytes=10_000)
    assert error.value.problems[0].rows == [2]
    with pytest.raises(DataContractError):
        upload_view.preview(b"a,b\n" + b"1,2\n" * 100, max_bytes=50)


def _ranked_csv(rows: list[str], header: str) -> pd.DataFrame:
    """A ranked CSV answer of the API (text cells) from its lines."""
    return table_view.read_scored(io.StringIO("\n".join([header, *rows]) + "\n"))


def test_ranked_table_pages_and_threshold_count():
    scored = _ranked_csv(["11,0.9,1,1", "12,0.5,1,2", "10,0.2,0,3"], "id,probability,label,rank")
    table = table_view.ranked_table(scored, "id")
    assert table["id"].tolist() == ["11", "12", "10"] and table["rank"].tolist() == ["1", "2", "3"]
    assert list(table.columns) == ["rank", "id", "probability", "label"]
    assert "<th>rank</th>" in markup_view.table_html(table, "ranked")
    assert "table-box" in markup_view.table_html(table, "x")
    unranked = table_view.ranked_table(scored.drop(columns="rank"), "id")
    assert unranked["rank"].tolist() == ["1", "2", "3"] and unranked.columns[0] == "rank"
    long = pd.DataFrame({"x": range(45)})
    assert table_view.pages(long) == 3 and table_view.page(long, 2)["x"].tolist() == list(range(40, 45))
    assert table_view.page(long, 9)["x"].tolist() == list(range(40, 45)) and table_view.page(long, -1)["x"].iloc[0] == 0
    assert table_view.pages(0) == 1 and table_view.pages(np.arange(41)) == 3 and table_view.clamp_page(7, 41) == 2
    assert table_view.above(np.array([0.1, 0.5, 0.5, 0.9]), 0.5) == 3


def test_probabilities_show_four_significant_digits_and_the_rest_as_sent():
    assert [table_view.significant(v) for v in ("0.123456789", "0.5", "1", "0.000123456", "1.23456e-07", "0")] == [
        "0.1235", "0.5000", "1.000", "0.0001235", "1.235e-07", "0.000"]
    assert [table_view.significant(v) for v in ("", "n/a", "nan")] == ["", "n/a", "nan"]
    rows = pd.DataFrame({"probability": ["0.987654321"], "probability_setosa": ["0.0123456"], "label": ["0.5555555"],
                         "Age": ["0.33333333"], "probability_of_rain": ["0.11111111"]})
    shown = table_view.shown_rows(rows, ["setosa"])
    assert shown.iloc[0].tolist() == ["0.9877", "0.01235", "0.5555555", "0.33333333", "0.11111111"]
    assert rows["probability"].iat[0] == "0.987654321"  # the table itself keeps every digit (the download too)


TABLE = pd.DataFrame({"rank": ["1", "2", "3", "4", "5"], "id": ["7", "10", "9", "8", "11"],
                      "probability": ["0.9", "0.75", "0.75", "0.1", "0.05"],
                      "Gender": ["Male", "female", "", "Female", "male"],
                      "Age": ["25", "", "100", "3", "41.5"]})


def test_the_table_sorts_by_any_column_as_numbers_or_text_with_empty_cells_last():
    def ids(*args) -> list[str]:
        return TABLE["id"].iloc[table_view.arrange(TABLE, *args)].tolist()

    assert ids() == ["7", "10", "9", "8", "11"] and ids("rank") == ids() and ids("no such column") == ids()
    assert ids("id") == ["7", "8", "9", "10", "11"]  # as numbers: 10 after 9
    assert ids("id", True) == ["11", "10", "9", "8", "7"]
    assert ids("Age") == ["8", "7", "11", "9", "10"] and ids("Age", True) == ["9", "11", "7", "8", "10"]
    assert ids("Gender") == ["10", "8", "7", "11", "9"]  # text ignoring case, ties in rank order, empty last
    assert ids("Gender", True) == ["7", "11", "10", "8", "9"]
    assert ids("probability", True) == ["7", "10", "9", "8", "11"]  # ties keep the ranking
    assert table_view.sort_key(pd.Series(["2", "10", "x"])).tolist() == ["2", "10", "x"]  # text: one cell is no number


def test_the_search_filters_rows_on_any_cell_ignoring_case_and_pages_follow():
    assert TABLE["id"].iloc[table_view.arrange(TABLE, search="FEMALE")].tolist() == ["10", "8"]
    assert TABLE["id"].iloc[table_view.arrange(TABLE, "id", True, "male")].tolist() == ["11", "10", "8", "7"]
    assert len(table_view.arrange(TABLE, search="  ")) == 5 and len(table_view.arrange(TABLE, search="nobody")) == 0
    assert TABLE["id"].iloc[table_view.arrange(TABLE, search=".5")].tolist() == ["11"]  # text, not a pattern
    assert table_view.page_text(0, table_view.arrange(TABLE, search="male"), len(TABLE), "male") == (
        "page 1 of 1 · 4 of 5 rows match “male”")
    positions = table_view.arrange(pd.DataFrame({"x": [str(i) for i in range(45)]}), "x", True)
    frame = pd.DataFrame({"x": [str(i) for i in range(45)]})
    assert table_view.page(frame, 2, positions=positions)["x"].tolist() == ["4", "3", "2", "1", "0"]
    assert table_view.page_text(1, positions, 45) == "page 2 of 3"


def test_inline_download_link_carries_the_exact_bytes_and_the_served_one_a_plain_href():
    content = "id,probability,label\n1,0.25,0\n".encode()
    link = markup_view.inline_download_link(content, "customers-scored.csv")
    encoded = re.search(r"base64,([^']+)'", link).group(1)
    assert base64.b64decode(encoded) == content and "download='customers-scored.csv'" in link
    served = markup_view.download_link("/voila/downloads/k/t/a%20b.csv", "a b.csv", 3 * 1024 * 1024)
    assert "href='/voila/downloads/k/t/a%20b.csv'" in served and "data:" not in served and "(3.0 MB)" in served
    assert upload_view.scored_filename("batch.csv.gz") == "batch-scored.csv"


def test_charts_render_and_labels_come_from_the_target_column_when_present():
    probability = np.linspace(0, 1, 200)
    assert charts_view.histogram_png(probability, 0.3)[:8] == b"\x89PNG\r\n\x1a\n"
    assert charts_view.gains_png(probability, None)[:4] == b"\x89PNG"
    card = {"input_schema": {"target": "Response", "positive_class": "1"}}
    frame = pd.DataFrame({"Response": ["1", "0", "1.0"]})
    assert fit_view.upload_truth(frame, card, "binary").tolist() == [1, 0, 1]
    assert fit_view.upload_truth(frame.drop(columns="Response"), card, "binary") is None


def test_voila_is_started_with_culling_and_a_websocket_limit_from_the_upload_limit(monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(64 * 1024 * 1024))
    monkeypatch.setenv("DASHBOARD_CULL_IDLE_SECONDS", "300")
    settings = DashboardSettings.load(port=8870)
    arguments = voila_arguments(settings)
    assert "--MappingKernelManager.cull_idle_timeout=300" in arguments and "--no-browser" in arguments
    assert "--port=8870" in arguments and arguments[0].endswith("dashboard.ipynb")
    assert "--MappingKernelManager.cull_interval=60" in arguments
    assert "--MappingKernelManager.cull_interval=2" in voila_arguments(DashboardSettings.load(cull_idle_seconds=4))
    assert tornado_settings(settings)["websocket_max_message_size"] > 64 * 1024 * 1024


def test_unreachable_api_is_reported_plainly():
    client = client_view.ApiClient(DashboardSettings(api_url="http://127.0.0.1:9", timeout=2))
    with pytest.raises(client_view.ApiUnavailable, match="not reachable"):
        client.model_card()


def test_drift_is_a_warning_table_of_the_drifted_features_only():
    drift = [{"column": "Age", "psi": 1.234, "drifted": True, "rows": 9, "bin": "<= 25", "training_share": 0.2,
              "batch_share": 0.01},
             {"column": "Gender", "psi": 0.01, "drifted": False, "rows": 9, "bin": "Male", "training_share": 0.5,
              "batch_share": 0.51}]
    shown = markup_view.drift_html(drift)
    assert "drift-warning" in shown and "<b>Age</b>" in shown and "1.234" in shown and "Gender" not in shown
    assert "20.0%" in shown and "1.0%" in shown and "&lt;= 25" in shown
    calm = markup_view.drift_html(drift[1:])
    assert "drift-ok" in calm and "0.010" in calm
    assert markup_view.drift_html(None) == ""


def test_history_marks_the_champion_and_links_the_run():
    models = {"serving_version": "2", "versions": [
        {"version": "2", "aliases": ["champion"], "created_at": "2026-11-26T01:00:00+00:00", "run_id": "r2",
         "holdout_metrics": {"auc": 0.85, "logloss": 0.27}, "decision": "v2 beats champion v1",
         "run_url": "http://mlflow:5000/#/experiments/1/runs/r2"},
        {"version": "1", "aliases": [], "created_at": "2026-11-25T01:00:00+00:00", "run_id": None,
         "holdout_metrics": {}, "decision": "", "run_url": None}]}
    shown = markup_view.history_html(models)
    assert shown.index("v2") < shown.index("v1") and "(serving)" in shown
    assert "alias-champion" in shown and "0.8500" in shown and "v2 beats champion v1" in shown
    assert "href='http://mlflow:5000/#/experiments/1/runs/r2'" in shown
    assert markup_view.history_html({"versions": []}) == "<p>No registered versions yet.</p>"


EXPLAINED = {"predictions": [{"row": 1, "probability": 0.42, "explanation": {
    "bias": -2.0, "other": 0.1, "top": [{"feature": "Vehicle_Damage", "contribution": 1.5},
                                       {"feature": "Previously_Insured", "contribution": -0.7}]}}],
    "explain": {"available": True, "unit": "log-odds"}}


def test_reasons_list_the_top_features_with_their_direction_and_chart():
    shown = markup_view.reasons_html(EXPLAINED)
    assert "42.0%" in shown
    assert "<b>Vehicle_Damage</b> raises the score (+1.500)" in shown
    assert "<b>Previously_Insured</b> lowers the score (-0.700)" in shown
    assert charts_view.reasons_png(EXPLAINED).startswith(b"\x89PNG")
    none = {"predictions": [{"row": 1, "probability": 0.1}],
            "explain": {"available": False, "message": "this model (Glm) has no per-feature contributions"}}
    assert "no-reasons" in markup_view.reasons_html(none) and "(Glm)" in markup_view.reasons_html(none)


def test_customer_record_drops_the_score_columns():
    scored = pd.DataFrame({"id": ["7"], "Age": ["44"], "probability": ["0.3"], "label": ["1"], "rank": ["1"]})
    assert table_view.customer_record(scored, 0) == {"id": "7", "Age": "44"}


# ------------------------------------------------------------------ multiclass and regression models

CLASSES = ["setosa", "versicolor", "virginica"]
MULTICLASS_CARD = {
    "name": "flowers", "version": "2", "problem": "multiclass", "classes": CLASSES, "threshold": None,
    "trained_at": "2026-12-01T09:30:00+00:00", "algorithm": "GbmMojoModel",
    "holdout_metrics": {"logloss": 0.123456, "mean_per_class_error": 0.05, "macro_auc": 0.99, "accuracy": 0.956789},
    "input_schema": {"target": "species", "id_column": "id", "classes": CLASSES, "problem": "multiclass"}}
# four flowers; the third class wins twice; row 2 is predicted wrong, row 4's true class is unknown
MULTICLASS_CSV = (b"id,petal,species,label,probability_setosa,probability_versicolor,probability_virginica\n"
                  b"1,1.4,setosa,setosa,0.9,0.05,0.05\n"
                  b"2,4.5,versicolor,virginica,0.1,0.3,0.6\n"
                  b"3,5.9,virginica,virginica,0.0,0.2,0.8\n"
                  b"4,4.1,,versicolor,0.1,0.7,0.2\n")


def _multiclass_prediction(row: int, rank: int, label: str, probabilities: list[float]) -> dict:
    return {"row": row, "id": row, "label": label, "probability": max(probabilities),
            "probabilities": dict(zip(CLASSES, probabilities)), "rank": rank}


MULTICLASS_RANKED = {"model": "flowers", "version": "2", "threshold": None, "rows": 4, "warnings": [], "predictions": [
    _multiclass_prediction(1, 1, "setosa", [0.9, 0.05, 0.05]),
    _multiclass_prediction(3, 2, "virginica", [0.0, 0.2, 0.8]),
    _multiclass_prediction(4, 3, "versicolor", [0.1, 0.7, 0.2]),
    _multiclass_prediction(2, 4, "virginica", [0.1, 0.3, 0.6])]}

REGRESSION_CARD = {
    "name": "prices", "version": "5", "problem": "regression", "classes": [], "threshold": None,
    "trained_at": "2026-12-02T08:00:00+00:00",
    "holdout_metrics": {"rmse": 3.2109876, "mae": 2.5, "r2": 0.876543, "mean_residual_deviance": 10.31},
    "input_schema": {"target": "price", "id_column": "id", "classes": [], "problem": "regression"}}
# row 3's actual value is unknown; the known errors are -2 and +3: RMSE sqrt(6.5) = 2.5495, MAE 2.5
REGRESSION_CSV = b"id,size,price,prediction\n1,10,12.0,10.0\n2,20,18,21.0\n3,30,,30.5\n"
REGRESSION_RANKED = {"model": "prices", "version": "5", "threshold": None, "rows": 3, "warnings": [], "predictions": [
    {"row": 3, "id": 3, "prediction": 30.5, "rank": 1},
    {"row": 2, "id": 2, "prediction": 21.0, "rank": 2},
    {"row": 1, "id": 1, "prediction": 10.0, "rank": 3}]}


def _scored(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)


def _ranked_answer(content: bytes, ranked: dict) -> bytes:
    """The API's ranked CSV answer (``?rank=true``, ``Accept: text/csv``) for a scored CSV and its ranking."""
    lines = content.decode().splitlines()
    rows = [f"{lines[p['row']]},{p['rank']}" for p in ranked["predictions"]]
    return ("\n".join([lines[0] + ",rank", *rows]) + "\n").encode()


def test_problem_type_and_classes_come_from_the_card_and_default_to_binary():
    assert card_view.problem_of({"name": "old"}) == "binary" and card_view.problem_of(None) == "binary"
    assert card_view.problem_of(MULTICLASS_CARD) == "multiclass"
    assert card_view.problem_of(REGRESSION_CARD) == "regression"
    assert card_view.problem_of({"input_schema": {"problem": "regression"}}) == "regression"
    assert card_view.classes_of(MULTICLASS_CARD) == CLASSES and card_view.classes_of(REGRESSION_CARD) == []


def test_binary_model_card_keeps_auc_and_threshold_and_says_binary():
    card = {"name": "cross-sell", "version": "3", "holdout_metrics": {"auc": 0.8612345}, "threshold": 0.271828}
    text = markup_view.card_html(card)
    assert "<b>problem</b> binary" in text and "<b>holdout AUC</b> 0.8612" in text
    assert "<b>threshold</b> 0.2718" in text and "logloss" not in text and "RMSE" not in text


def test_multiclass_model_card_shows_logloss_and_accuracy_no_threshold():
    text = markup_view.card_html({**MULTICLASS_CARD, "classes": ["<a>", *CLASSES]})
    assert "<b>problem</b> multiclass, 4 classes: &lt;a&gt;, setosa, versicolor, virginica" in text
    assert "<b>holdout logloss</b> 0.1235" in text and "<b>holdout accuracy</b> 0.9568" in text
    assert "threshold" not in text and "AUC" not in text and "flowers" in text and "(Gbm)" in text


def test_regression_model_card_shows_rmse_and_r2_no_threshold():
    text = markup_view.card_html(REGRESSION_CARD)
    assert "<b>problem</b> regression" in text and "<b>holdout RMSE</b> 3.2110" in text
    assert "<b>holdout R²</b> 0.8765" in text and "threshold" not in text and "MAE" not in text
    assert "<b>holdout R²</b> n/a" in markup_view.card_html({**REGRESSION_CARD, "holdout_metrics": {"rmse": 1.0}})


def test_history_shows_the_metrics_of_the_problem_type():
    models = {"versions": [{"version": "1", "aliases": [], "created_at": "2026-12-01T00:00:00+00:00",
                            "holdout_metrics": {"rmse": 3.5, "r2": 0.75, "mae": 2.0}}]}
    shown = markup_view.history_html(models, "regression")
    assert "<th>holdout RMSE</th><th>MAE</th><th>R²</th><th>mean residual deviance</th>" in shown
    assert "<td>3.5000</td><td>2.0000</td><td>0.7500</td><td></td>" in shown and "AUC" not in shown
    assert "<th>holdout AUC</th><th>logloss</th><th>AUCPR</th>" in markup_view.history_html(models)


def test_multiclass_ranked_table_shows_the_predicted_class_and_its_probability():
    table = table_view.ranked_table(_scored(_ranked_answer(MULTICLASS_CSV, MULTICLASS_RANKED)), "id", "multiclass",
                                    CLASSES)
    assert list(table.columns[:4]) == ["rank", "id", "label", "probability"]
    assert table["id"].tolist() == ["1", "3", "4", "2"] and table["rank"].tolist() == ["1", "2", "3", "4"]
    assert table["label"].tolist() == ["setosa", "virginica", "versicolor", "virginica"]
    assert [float(p) for p in table["probability"]] == [0.9, 0.8, 0.7, 0.6]
    assert "probability_virginica" in table.columns and "petal" in table.columns
    assert markup_view.ranking_title("multiclass") != markup_view.ranking_title("binary")


def test_regression_ranked_table_shows_the_prediction_largest_first():
    table = table_view.ranked_table(_scored(_ranked_answer(REGRESSION_CSV, REGRESSION_RANKED)), "id", "regression")
    assert list(table.columns) == ["rank", "id", "prediction", "size", "price"]
    assert table["prediction"].tolist() == ["30.5", "21.0", "10.0"] and table["id"].tolist() == ["3", "2", "1"]
    assert "probability" not in table.columns and "label" not in table.columns


def test_customer_record_drops_the_score_columns_of_every_problem_type():
    multiclass = _scored(MULTICLASS_CSV)
    assert table_view.customer_record(multiclass, 1) == {"id": "2", "petal": "4.5", "species": "versicolor"}
    assert table_view.customer_record(multiclass, 1, CLASSES) == {"id": "2", "petal": "4.5", "species": "versicolor"}
    assert table_view.customer_record(_scored(REGRESSION_CSV), 0) == {"id": "1", "size": "10", "price": "12.0"}
    # with the classes known, an input column that only looks like a class probability stays
    own = pd.DataFrame({"probability_of_rain": ["0.2"], "label": ["setosa"], "probability_setosa": ["1.0"]})
    assert table_view.customer_record(own, 0, CLASSES) == {"probability_of_rain": "0.2"}
    assert table_view.customer_record(own, 0) == {}


def test_class_counts_keep_the_model_order_and_zero_counts():
    counts = fit_view.class_counts([p["label"] for p in MULTICLASS_RANKED["predictions"]], CLASSES)
    assert counts.to_dict() == {"setosa": 1, "versicolor": 1, "virginica": 2}
    assert list(counts.index) == CLASSES
    assert fit_view.class_counts(["virginica", "other"], CLASSES).to_dict() == {
        "setosa": 0, "versicolor": 0, "virginica": 1, "other": 1}
    assert charts_view.class_counts_png(counts).startswith(b"\x89PNG")


def test_confusion_matrix_and_accuracy_over_the_rows_with_a_known_class():
    ordered = _scored(MULTICLASS_CSV).iloc[[p["row"] - 1 for p in MULTICLASS_RANKED["predictions"]]]
    truth = fit_view.upload_truth(ordered, MULTICLASS_CARD, "multiclass")
    assert [None if pd.isna(c) else c for c in truth] == ["setosa", "virginica", None, "versicolor"]
    matrix = confusion_counts(truth, [p["label"] for p in MULTICLASS_RANKED["predictions"]], CLASSES)
    assert list(matrix.index) == CLASSES and list(matrix.columns) == CLASSES
    assert matrix.to_numpy().tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    text = markup_view.accuracy_html(matrix)
    assert "66.7%" in text and "(2 of 3 rows" in text
    assert charts_view.confusion_png(matrix).startswith(b"\x89PNG")
    assert fit_view.upload_truth(ordered.drop(columns="species"), MULTICLASS_CARD, "multiclass") is None
    assert "no accuracy" in markup_view.accuracy_html(confusion_counts([None], ["setosa"], CLASSES))
    # whole-number classes compare as training compares them: "2.0" is the class "2"
    truth = fit_view.upload_truth(pd.DataFrame({"y": ["2.0", "1"]}), {"input_schema": {"target": "y"}}, "multiclass")
    assert confusion_counts(truth, ["2", "2"], ["1", "2"]).to_numpy().tolist() == [[0, 1], [0, 1]]


def test_regression_errors_and_charts_over_the_rows_with_a_known_value():
    ordered = _scored(REGRESSION_CSV).iloc[[p["row"] - 1 for p in REGRESSION_RANKED["predictions"]]]
    actual = fit_view.upload_truth(ordered, REGRESSION_CARD, "regression")
    predicted = np.array([p["prediction"] for p in REGRESSION_RANKED["predictions"]])
    assert np.isnan(actual[0]) and actual[1:].tolist() == [18.0, 12.0]
    metrics = fit_view.residual_metrics(actual, predicted)
    assert metrics["rows"] == 2 and metrics["rmse"] == pytest.approx(np.sqrt(6.5)) and metrics["mae"] == 2.5
    text = markup_view.residuals_html(metrics)
    assert "<b>RMSE on this file</b> 2.5495" in text and "<b>MAE</b> 2.5000" in text and "2 rows" in text
    assert "no RMSE" in markup_view.residuals_html(fit_view.residual_metrics(np.array([np.nan]), np.array([1.0])))
    assert fit_view.upload_truth(ordered.drop(columns="price"), REGRESSION_CARD, "regression") is None
    assert charts_view.prediction_histogram_png(predicted).startswith(b"\x89PNG")
    assert charts_view.actual_vs_predicted_png(actual, predicted).startswith(b"\x89PNG")


# ------------------------------------------------------------------ the widget app, without a browser or an API


@pytest.fixture
def app(tmp_path):
    """The dashboard against an address nothing listens on: the card fails to load; tests set it. Its
    downloads go to a served folder under ``tmp_path``."""
    from automlkit.dashboard_app import Dashboard
    dashboard = Dashboard(DashboardSettings(api_url="http://127.0.0.1:9", timeout=2),
                          DownloadFolder(tmp_path / "downloads", session="kernel-1"))
    assert dashboard.card is None and "unavailable" in dashboard.card_box.value
    dashboard.upload_name = "upload.csv"
    return dashboard


def _answer_file(app, content: bytes) -> Path:
    """The API's answer written where the app writes it."""
    path = app.downloads.new_file(upload_view.scored_filename(app.upload_name))
    path.write_bytes(content)
    return path


def _summary(rows: int) -> dict:
    return {"rows": rows, "model": "m", "version": "1", "warnings": [], "drift": None}


def _shown(widget) -> bool:
    return widget.layout.display != "none"


def test_app_shows_class_counts_confusion_and_accuracy_for_a_multiclass_model(app):
    app.card = MULTICLASS_CARD
    app.show_results(_answer_file(app, _ranked_answer(MULTICLASS_CSV, MULTICLASS_RANKED)), _summary(4))
    assert _shown(app.results) and _shown(app.problem_charts) and _shown(app.truth_chart)
    assert not _shown(app.threshold_row) and not _shown(app.binary_charts) and not _shown(app.reasons_section)
    assert _shown(app.reasons_note) and app.customer.options == ()
    assert bytes(app.distribution.value).startswith(b"\x89PNG")
    assert bytes(app.truth_chart.value).startswith(b"\x89PNG")
    assert "66.7%" in app.fit_box.value and "probability of their predicted class" in app.ranking_title.value
    assert "<th>label</th>" in app.table_box.value and "download-link" in app.download_box.value
    assert "<td>0.9000</td>" in app.table_box.value and "<td>0.05000</td>" in app.table_box.value


def test_app_shows_the_prediction_histogram_and_hides_the_fit_without_a_target(app):
    app.card = REGRESSION_CARD
    app.show_results(_answer_file(app, _ranked_answer(REGRESSION_CSV, REGRESSION_RANKED)), _summary(3))
    assert "2.5495" in app.fit_box.value and _shown(app.truth_chart)
    without_target = b"id,size,prediction\n1,10,10.0\n2,20,21.0\n3,30,30.5\n"
    app.show_results(_answer_file(app, _ranked_answer(without_target, REGRESSION_RANKED)), _summary(3))
    assert not _shown(app.truth_chart) and app.fit_box.value == "" and not _shown(app.threshold_row)
    assert bytes(app.distribution.value).startswith(b"\x89PNG") and "<th>prediction</th>" in app.table_box.value
    assert "<td>30.5</td>" in app.table_box.value  # predictions are not probabilities: shown as sent


BINARY_CARD = {"name": "cross-sell", "version": "3", "threshold": 0.5,
               "input_schema": {"target": "y", "id_column": "id"}}
BINARY_ANSWER = b"id,y,probability,label,rank\n1,1,0.912345678,1,1\n3,1,0.6,1,2\n2,0,0.2,0,3\n"


def test_app_keeps_the_threshold_gains_and_reasons_for_a_binary_model(app):
    app.card = BINARY_CARD
    app.show_results(_answer_file(app, BINARY_ANSWER), _summary(3))
    assert _shown(app.threshold_row) and _shown(app.binary_charts) and _shown(app.reasons_section)
    assert not _shown(app.problem_charts) and not _shown(app.fit_box) and not _shown(app.reasons_note)
    assert "<span class='above-count'>2</span> of 3" in app.above_label.value
    assert len(app.customer.options) == 3 and bytes(app.gains.value).startswith(b"\x89PNG")
    assert app.customer.options[0][0] == "#1 · id 1 · 91.2%"
    assert "Customers ranked by probability" in app.ranking_title.value
    assert "No explanation" in app.reasons_box.value  # the first customer's reasons were asked of the (absent) API
    assert "<td>0.9123</td>" in app.table_box.value and "0.912345678" not in app.table_box.value


def test_app_sorts_searches_and_jumps_to_a_page_of_the_ranked_table(app):
    app.card = BINARY_CARD
    rows = [f"{i},{i % 2},{1 - i / 100:.6f},{int(i < 30)},{i}" for i in range(1, 46)]
    app.show_results(_answer_file(app, ("id,y,probability,label,rank\n" + "\n".join(rows) + "\n").encode()),
                     _summary(45))
    assert app.sort_by.options == ("rank", "id", "probability", "label", "y") and app.sort_by.value == "rank"

    def shown_ids() -> list[int]:
        return [int(i) for i in re.findall(r"<tr>\s*<td>\d+</td>\s*<td>(\d+)</td>", app.table_box.value)]

    assert shown_ids() == list(range(1, 21)) and app.page_label.value == "page 1 of 3" and app.page_input.max == 3
    app.page_input.value = 3  # the page number box jumps
    assert shown_ids() == list(range(41, 46)) and app.page_label.value == "page 3 of 3"
    assert app.next_button.disabled and not app.prev_button.disabled
    app.sort_order.value = True  # descending rank, back to the first page
    assert shown_ids() == list(range(45, 25, -1)) and app.page_input.value == 1
    app.sort_by.value = "id"
    assert shown_ids() == list(range(45, 25, -1))
    app.search.value = "0.6"  # ids 31-40 hold 0.6x, and id 40 also 0.600000
    assert shown_ids() == list(range(40, 30, -1)) and app.page_input.max == 1
    assert app.page_label.value == "page 1 of 1 · 10 of 45 rows match “0.6”"
    app.search.value = "nobody has this"
    assert "No row matches" in app.table_box.value and app.next_button.disabled and app.prev_button.disabled
    app.search.value = ""
    assert len(shown_ids()) == 20 and app.page_label.value == "page 1 of 3"


def test_app_served_download_is_a_plain_link_to_the_answer_file(app):
    app.card = BINARY_CARD
    path = _answer_file(app, BINARY_ANSWER)
    app.show_results(path, _summary(3))
    href = re.search(r"href='([^']+)'", app.download_box.value).group(1)
    assert href.startswith(f"/{DOWNLOADS_PATH}kernel-1/") and href.endswith("/upload-scored.csv")
    assert (app.downloads.root / href.removeprefix(f"/{DOWNLOADS_PATH}")).read_bytes() == BINARY_ANSWER
    assert "data:" not in app.download_box.value


def test_app_outside_the_server_carries_small_files_in_the_link_and_refuses_large_ones(tmp_path, monkeypatch):
    from automlkit.dashboard_app import Dashboard
    monkeypatch.delenv("AUTOML_DASHBOARD_DOWNLOADS", raising=False)
    app = Dashboard(DashboardSettings(api_url="http://127.0.0.1:9", timeout=2))
    assert not app.downloads.served
    app.upload_name, app.card = "upload.csv", BINARY_CARD
    app.show_results(_answer_file(app, BINARY_ANSWER), _summary(3))
    assert "data:text/csv;base64," in app.download_box.value
    monkeypatch.setattr(markup_view, "INLINE_DOWNLOAD_BYTES", 10)
    app.show_results(_answer_file(app, BINARY_ANSWER), _summary(3))
    assert "needs the dashboard server" in app.download_box.value and "data:" not in app.download_box.value


# ------------------------------------------------------------------ one scoring call, followed as it goes


class FakeApi(BaseHTTPRequestHandler):
    """The prediction API as the dashboard sees it: the model card, and ``POST /predict`` answering a ranked
    CSV (the rows as sent plus probability, label and rank); every request is recorded."""

    requests: list[dict] = []
    card: dict = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._send(200, json.dumps(self.card).encode(), "application/json")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append({"path": self.path, "accept": self.headers.get("Accept"), "body": body,
                              "type": self.headers["Content-Type"]})
        if self.headers["Content-Type"] == "application/json":  # a customer's reasons
            answer = {"predictions": [{"row": 1, "probability": 0.5}],
                      "explain": {"available": False, "message": "none"}}
            return self._send(200, json.dumps(answer).encode(), "application/json")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        part = next(message.iter_parts())
        lines = part.get_payload(decode=True).decode().splitlines()
        answer = [lines[0] + ",probability,label,rank"] + [
            f"{line},{0.5 + k / 1e6:.9f},1,{k}" for k, line in enumerate(lines[1:], start=1)]
        warnings = [{"column": "Gender", "message": "unseen category 'X' scored as missing", "rows": [2], "count": 1}]
        self._send(200, ("\n".join(answer) + "\n").encode(), "text/csv", {
            "X-Model-Name": "fake", "X-Model-Version": "7", "X-Drift": "Age=0.512", "X-Warnings": json.dumps(warnings)})

    def _send(self, status: int, body: bytes, kind: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake_api():
    FakeApi.requests = []
    with stand_in_http(FakeApi) as url:
        yield url


def test_a_file_is_sent_once_streamed_and_its_ranked_csv_answer_written_to_disk(fake_api, tmp_path):
    content = ("id,Age\n" + "".join(f"{i},{20 + i % 50}\n" for i in range(200_000))).encode()
    sent, received = [], []
    client = client_view.ApiClient(DashboardSettings(api_url=fake_api, timeout=30))
    answer = client.predict('big "file".csv', content, tmp_path / "out.csv", drift=True,
                            sent=lambda done, total: sent.append((done, total)),
                            received=lambda done, total: received.append((done, total)))
    assert len(FakeApi.requests) == 1  # scored once
    request = FakeApi.requests[0]
    assert request["path"] == "/predict?rank=true&drift=true" and request["accept"] == "text/csv"
    assert request["type"].startswith("multipart/form-data; boundary=")
    assert len(sent) > 1 and sent[-1][0] == sent[-1][1] == len(request["body"])  # counted as it went
    assert [d for d, _ in sent] == sorted(d for d, _ in sent)
    written = (tmp_path / "out.csv").read_bytes()
    assert answer.size == len(written) == received[-1][0] == received[-1][1]
    assert written.startswith(b"id,Age,probability,label,rank\n0,20,0.500001000,1,1\n")
    assert written.count(b"\n") == 200_001
    assert (answer.model, answer.version, answer.drift) == ("fake", "7", [{"column": "Age", "psi": 0.512,
                                                                          "drifted": True}])
    assert [(w.column, w.rows) for w in answer.warnings] == [("Gender", [2])]  # from X-Warnings
    assert client_view.warnings_from_header(None) == [] and client_view.warnings_from_header("not json") == []


def test_the_upload_body_is_one_multipart_file_field_with_the_exact_bytes():
    content = bytes(range(256)) * 5000
    reads = []
    body = client_view.UploadBody('a"b ä.csv', content, lambda done, total: reads.append(done))
    raw = b"".join(body)
    assert len(raw) == len(body) and reads[-1] == len(body) and len(reads) > 1
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + raw)
    parts = list(message.iter_parts())
    assert len(parts) == 1 and parts[0].get_param("name", header="content-disposition") == "file"
    assert parts[0].get_payload(decode=True) == content
    assert body.read() == b""  # read to the end


def test_drift_from_the_api_header_names_the_features_and_their_psi():
    assert client_view.drift_from_header("none") == []
    assert client_view.drift_from_header("Age=1.234,Vehicle_Age=0.300") == [
        {"column": "Age", "psi": 1.234, "drifted": True}, {"column": "Vehicle_Age", "psi": 0.3, "drifted": True}]
    shown = markup_view.drift_html(client_view.drift_from_header("Age=1.234"))
    assert "<b>Age</b></td><td>1.234</td><td></td><td></td>" in shown
    assert "drift-ok" in markup_view.drift_html([]) and "largest PSI" not in markup_view.drift_html([])


TINY_CARD = {"name": "tiny", "version": "1", "input_schema": tiny_meta()["schema"]}
TINY_ROWS = ("id,Gender,Age,Driving_License,Region_Code,Previously_Insured,Vehicle_Age,Vehicle_Damage,"
             "Annual_Premium,Policy_Sales_Channel,Vintage\n"
             "1,Male,44,1,28.0,0,> 2 Years,Yes,40454.0,26.0,217\n"
             "2,Male,76,1,3.0,0,1-2 Year,No,33536.0,26.0,183\n"
             "3,Martian,47,1,28.0,0,> 2 Years,Yes,38294.0,26.0,27\n")


def test_the_upload_is_checked_with_the_apis_rules_before_it_is_sent():
    steps = []
    checked = upload_view.check_upload(TINY_ROWS.encode(), TINY_CARD, 10_000, step=lambda f, what: steps.append(f))
    assert checked.rows == 3 and steps == sorted(steps) and len(steps) == 3 and checked.schema_checked
    assert [(w.column, w.rows) for w in checked.warnings] == [("Gender", [3])]
    assert "unseen category" in checked.warnings[0].message
    assert {r["column"] for r in checked.drift} == {c["name"] for c in TINY_CARD["input_schema"]["columns"]}
    with pytest.raises(DataContractError) as error:
        upload_view.check_upload(TINY_ROWS.replace(",47,", ",old,").encode(), TINY_CARD, 10_000)
    assert [(p.column, p.rows) for p in error.value.problems] == [("Age", [3])]
    assert "expected a number" in error.value.problems[0].message
    with pytest.raises(DataContractError, match="required column is missing|Vintage"):
        upload_view.check_upload(TINY_ROWS.replace(",Vintage", ",Other").encode(), TINY_CARD, 10_000)
    # a card without a readable schema: only the CSV itself is checked here (the API checks the rest)
    assert upload_view.check_upload(b"a,b\n1,2\n", {"input_schema": {"target": "y"}}, 10_000) == upload_view.Checked(1)
    with pytest.raises(DataContractError):
        upload_view.check_upload(b"a,b\n1,2,3\n", None, 10_000)


def test_predict_checks_sends_once_and_moves_the_progress_bar_through_every_stage(app, fake_api):
    app.client = client_view.ApiClient(DashboardSettings(api_url=fake_api, timeout=30))
    app.card = {**TINY_CARD, "threshold": 0.5}
    lines = TINY_ROWS.splitlines()
    app.upload_name, app.upload_content = "big.csv", ("\n".join([lines[0], *lines[1:3] * 30_000]) + "\n").encode()
    percents, stages = [], []
    app.progress.observe(lambda change: percents.append(change["new"]), names="value")
    app.stage.observe(lambda change: stages.append(re.search(r"data-stage='(\w+)'", change["new"]).group(1)),
                      names="value")
    app._predict()
    scoring = [r for r in FakeApi.requests if r["type"].startswith("multipart/")]
    assert len(scoring) == 1 and "drift=true" not in scoring[0]["path"]  # scored once; drift was computed here
    assert [r["path"] for r in FakeApi.requests if r not in scoring] == ["/predict?explain=true"]  # one customer
    assert list(dict.fromkeys(stages)) == ["check", "send", "score", "receive", "table", "charts", "done"]
    assert percents == sorted(percents) and percents[-1] == 100 and len(set(percents)) > 10
    assert app.progress.bar_style == "success" and "60,000 rows scored" in app.stage.value
    assert "Scored 60,000 customers with fake v7" in app.messages.value
    # two customers repeated drift, and the page has the bins and shares (computed here, not the API's header)
    assert "drift-warning" in app.drift_box.value and "%</td>" in app.drift_box.value
    assert "download-link" in app.download_box.value and len(app.table) == 60_000 and app.table["rank"].iat[0] == "1"


def test_predict_without_a_schema_on_the_card_shows_the_apis_warnings_and_drift_headers(app, fake_api):
    app.client = client_view.ApiClient(DashboardSettings(api_url=fake_api, timeout=30))
    app.card = BINARY_CARD  # no columns: nothing to check here beyond the CSV
    app.upload_content = TINY_ROWS.encode()
    app._predict()
    scoring = [r for r in FakeApi.requests if r["type"].startswith("multipart/")]
    assert len(scoring) == 1 and "drift=true" in scoring[0]["path"]
    assert "Scored, with warnings" in app.messages.value and "unseen category" in app.messages.value
    assert "drift-warning" in app.drift_box.value and "<b>Age</b></td><td>0.512</td>" in app.drift_box.value
    assert app.progress.value == 100


def test_predict_shows_the_apis_own_messages_when_the_file_breaks_the_contract(app, fake_api):
    app.client = client_view.ApiClient(DashboardSettings(api_url=fake_api, timeout=30))
    app.card = TINY_CARD
    app.upload_content = TINY_ROWS.replace(",47,", ",old,").encode()
    app._predict()
    assert FakeApi.requests == []  # refused before anything was sent
    assert "<b>Age</b> (row 3): expected a number" in app.messages.value and app.progress.bar_style == "danger"
    assert "Stopped: the file cannot be scored" in app.stage.value and app.progress.value < 15  # where it stopped
    app.client = client_view.ApiClient(DashboardSettings(api_url="http://127.0.0.1:9", timeout=2))
    app.upload_content = TINY_ROWS.encode()
    app._predict()
    assert "Stopped: the prediction service is unavailable" in app.stage.value and "not reachable" in app.messages.value


# ------------------------------------------------------------------ text is text: nothing uploaded becomes markup


def test_alerts_errors_and_tables_escape_what_they_show():
    script = "<script>alert(1)</script>"
    for shown in (markup_view.alert_html("Scoring failed:", ValueError(f"column {script} broke")),
                  markup_view.alert_html(script, "x"),
                  markup_view.problems_html("", [Problem(script, f"bad {script}", [1], 1)]),
                  markup_view.problems_html(script, []),
                  markup_view.upload_status_html(f"{script}.csv", 3, 2),
                  markup_view.reading_html(f"{script}.csv", 10),
                  markup_view.scored_html({"rows": 1, "model": script, "version": script, "warnings": [
                      {"column": script, "message": script, "rows": [1], "count": 1}]}),
                  markup_view.drift_html([{"column": script, "psi": 1.0, "drifted": True, "bin": script,
                                    "training_share": 0.1, "batch_share": 0.2}]),
                  markup_view.table_html(pd.DataFrame({script: [script]}), "ranked"),
                  markup_view.download_link(f"/x/{script}", f"{script}.csv", 1),
                  markup_view.stage_html("send", 0.5, script),
                  markup_view.card_html({"name": script, "version": script, "trained_at": script, "algorithm": script,
                                  "holdout_metrics": {}, "selection": {"rule": script, "reason": script}}),
                  markup_view.history_html({"versions": [{"version": script, "aliases": [script], "created_at": script,
                                                   "decision": script, "run_url": "javascript:alert(1)"}]})):
        assert "<script" not in shown and "&lt;script&gt;" in shown, shown
        assert "javascript:" not in shown


def test_the_app_shows_a_column_named_script_as_text(app, tmp_path):
    app.card = BINARY_CARD
    app.on_upload({"new": ({"name": "<b>x</b>.csv", "content": memoryview(b"id,<script>\n1,<i>2</i>\n")},)})
    assert "&lt;script&gt;" in app.preview_box.value and "<script>" not in app.preview_box.value
    assert "<b>&lt;b&gt;x&lt;/b&gt;.csv</b>: 1 rows" in app.status.value and app.upload.value == ()
    answer = b"id,<script>,probability,label,rank\n1,<i>2</i>,0.5,1,1\n"
    app.show_results(_answer_file(app, answer), _summary(1))
    assert "<th>&lt;script&gt;</th>" in app.table_box.value and "<td>&lt;i&gt;2&lt;/i&gt;</td>" in app.table_box.value
    assert "<script" not in app.table_box.value and "<script>" in app.sort_by.options  # a dropdown shows text
    app.on_upload({"new": ({"name": "<img src=x>.csv", "content": memoryview(b"")},)})
    assert "<img" not in app.status.value + app.messages.value


# ------------------------------------------------------------------ the page's script


def test_the_page_script_watches_its_kernel_and_the_upload():
    script = markup_view.page_script(600)
    assert "api/kernels/" in script and "answer.status === 404" in script and "setInterval(check, 30000)" in script
    assert "visibilitychange" in script and "window.location.reload()" in script
    assert "not used for 10 minutes" in script and "WebSocket.prototype.send" in script
    assert "bufferedAmount" in script and ".upload-progress" in script
    assert "setInterval(check, 1000)" in markup_view.page_script(4) and "4 seconds" in markup_view.page_script(4)
    assert "__" not in script  # every placeholder filled
    assert [markup_view.duration_text(s) for s in (1, 4, 60, 600, 3600, 5400)] == [
        "1 second", "4 seconds", "1 minute", "10 minutes", "1 hour", "1.5 hours"]


def test_stages_move_forward_and_say_where_predict_is():
    names = [n for n in markup_view.PREDICT_STAGES]
    percents = [markup_view.stage_percent(n, f) for n in names for f in (0, 0.5, 1)]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert markup_view.stage_percent("send", 2) == markup_view.stage_percent("send", 1)  # clamped
    shown = markup_view.stage_html("send", 0.5, markup_view.sent_text(12 * 1024 * 1024, 50 * 1024 * 1024))
    assert "2/6 Sending the file to the prediction service: 12.0 of 50.0 MB" in shown and "data-percent='30'" in shown
    assert markup_view.sent_text(3 * 1024 * 1024, 0) == "3.0 MB"


# ------------------------------------------------------------------ downloads served by the dashboard server


def test_download_folders_keep_one_file_per_page_and_name_it_safely(tmp_path):
    folder = DownloadFolder(tmp_path, session="abc", server_url="/base")
    first = folder.new_file("a b/c.csv")
    first.write_text("1")
    assert first.name == "a b_c.csv" and first.parent.parent == tmp_path / "abc" and folder.served
    assert folder.href(first) == f"/base/{DOWNLOADS_PATH}abc/{first.parent.name}/a%20b_c.csv"
    second = folder.new_file("c.csv")
    assert not first.exists() and second.parent != first.parent  # only the newest, at a new address
    folder.remove()
    assert not (tmp_path / "abc").exists()
    assert safe_filename('..\x00<a>:"b".csv') == '__a___b_.csv' and safe_filename("...") == "download"
    assert content_disposition("ä b.csv") == "attachment; filename=\"__b.csv\"; filename*=UTF-8''%C3%A4%20b.csv"


def test_the_folders_of_closed_pages_and_stopped_servers_are_removed(tmp_path):
    for name in ("live", "gone", "new"):
        (tmp_path / name / "t").mkdir(parents=True)
    old = time.time() - 3600
    for name in ("live", "gone"):
        os.utime(tmp_path / name, (old, old))
    assert sweep_downloads(tmp_path, {"live"}) == ["gone"]  # "new" is within its grace
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live", "new"]
    assert sorted(sweep_downloads(tmp_path, set(), grace_seconds=0)) == ["live", "new"]
    dead = tmp_path / "automl-dashboard-downloads-999999999-x"
    mine = tmp_path / f"automl-dashboard-downloads-{os.getpid()}-y"
    dead.mkdir()
    mine.mkdir()
    assert remove_orphaned_roots(tmp_path) == [dead] and mine.exists()


def test_the_download_handler_serves_files_as_attachments_and_nothing_else(tmp_path):
    import tornado.httpclient
    import tornado.web

    folder = DownloadFolder(tmp_path, session="k")
    path = folder.new_file("big ä-scored.csv")
    path.write_bytes(b"id,probability\n1,0.5\n" * 50_000)
    (tmp_path / "secret.txt").write_text("no")

    async def fetch(paths: list[str]) -> list:
        app = tornado.web.Application([(rf"/{DOWNLOADS_PATH}(.*)", download_handler_class(), {"path": str(tmp_path)})])
        server = app.listen(0, "127.0.0.1")
        port = next(iter(server._sockets.values())).getsockname()[1]
        client = tornado.httpclient.AsyncHTTPClient()
        try:
            return [await client.fetch(f"http://127.0.0.1:{port}{p}", raise_error=False) for p in paths]
        finally:
            server.stop()

    href = folder.href(path)
    # on a thread of its own: after the browser tests, Playwright's sync API keeps an event loop running in
    # this thread, where asyncio.run refuses to start another
    answers: list = []
    worker = threading.Thread(target=lambda: answers.extend(asyncio.run(
        fetch([href, f"/{DOWNLOADS_PATH}k/", f"/{DOWNLOADS_PATH}../secret.txt"]))))
    worker.start()
    worker.join(timeout=60)
    ok, folder_listing, outside = answers
    assert ok.code == 200 and ok.body == path.read_bytes()
    assert ok.headers["Content-Disposition"] == content_disposition("big ä-scored.csv")
    assert ok.headers["Content-Type"] == "text/csv; charset=utf-8" and ok.headers["Cache-Control"] == "no-store"
    assert folder_listing.code == 403 and outside.code in (403, 404) and b"no" != outside.body


def test_the_card_links_the_training_run_and_charts_the_variable_importance():
    card = {"name": "m", "version": "3", "alias": "champion", "problem": "binary", "threshold": 0.3,
            "holdout_metrics": {"auc": 0.8}, "variable_importance": [
                {"variable": "Age", "scaled_importance": 1.0}, {"variable": "<b>x</b>", "scaled_importance": 0.4}]}
    shown = markup_view.card_html(card, "http://mlflow:5000/#/experiments/1/runs/abc?a=1&b=2")
    assert "href='http://mlflow:5000/#/experiments/1/runs/abc?a=1&amp;b=2'" in shown
    png = shown.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert "<b>x</b>" not in shown  # names only inside the image
    bare = markup_view.card_html({**card, "variable_importance": []})
    assert "run-link" not in bare and "importance" not in bare
