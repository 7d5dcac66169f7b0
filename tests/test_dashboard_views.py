"""What the dashboard shows, computed without a browser: messages, model card, paging, counts, download."""

from __future__ import annotations

import base64
import gzip
import io
import re

import numpy as np
import pandas as pd
import pytest

from automlkit import dashboard as view
from automlkit.dashboard_server import tornado_settings, voila_arguments
from automlkit.settings import DashboardSettings
from automlkit.errors import DataContractError, Problem


def test_problems_are_a_readable_list_naming_column_and_rows():
    text = view.problems_html("", [Problem("Age", "expected a number, got ['old']", [3, 5], 7),
                                   Problem(None, "the file is empty")])
    assert "<b>Age</b> (rows 3, 5 and 5 more): expected a number" in text
    assert "<b>File</b>: the file is empty" in text and "{" not in text
    assert "cannot be scored" in view.problems_html("the body is empty", [])


def test_model_card_shows_name_version_trained_at_auc_threshold():
    card = {"name": "cross-sell", "version": "3", "trained_at": "2026-11-25T10:00:00+00:00",
            "holdout_metrics": {"auc": 0.8612345}, "threshold": 0.271828}
    text = view.card_html(card)
    assert all(s in text for s in ("cross-sell", ">version</b> 3", "2026-11-25 10:00:00", "0.8612", "0.2718"))
    assert "chosen by" not in text  # a model trained before the selection rule


def test_model_card_says_how_the_model_was_chosen():
    card = {"name": "cross-sell", "version": "4", "algorithm": "GbmMojoModel", "holdout_metrics": {"auc": 0.86},
            "threshold": 0.3, "selection": {"rule": "within_noise", "reason": "3 of 12 candidates <within> ...",
                                            "serving": {"rows_per_s": 61234.5, "contributions": True}}}
    text = view.card_html(card)
    assert ">version</b> 4 (Gbm)" in text and "<b>chosen by</b> within_noise" in text
    assert "61,234 rows/s" in text and "explains its scores" in text and "&lt;within&gt;" in text


def test_preview_and_its_errors():
    head, rows = view.preview(gzip.compress(b"a,b\n1,2\n3,4\n5,6\n"), max_bytes=10_000, rows=2)
    assert rows == 3 and head.to_dict("list") == {"a": ["1", "3"], "b": ["2", "4"]}
    with pytest.raises(DataContractError) as error:
        view.preview(b"a,b\n1,2\n3,\xe94\n", max_bytes=10_000)
    assert error.value.problems[0].rows == [2]
    with pytest.raises(DataContractError):
        view.preview(b"a,b\n" + b"1,2\n" * 100, max_bytes=50)


def test_ranked_table_pages_and_threshold_count():
    scored = pd.DataFrame({"id": ["10", "11", "12"], "probability": ["0.2", "0.9", "0.5"], "label": ["0", "1", "1"]})
    ranked = {"predictions": [{"row": 2, "rank": 1}, {"row": 3, "rank": 2}, {"row": 1, "rank": 3}]}
    table = view.ranked_table(ranked, scored, "id")
    assert table["id"].tolist() == ["11", "12", "10"] and table["rank"].tolist() == [1, 2, 3]
    assert list(table.columns) == ["rank", "id", "probability", "label"]
    assert "<th>rank</th>" in view.table_html(table, "ranked") and "table-box" in view.table_html(table, "x")
    long = pd.DataFrame({"x": range(45)})
    assert view.pages(long) == 3 and view.page(long, 2)["x"].tolist() == list(range(40, 45))
    assert view.page(long, 9)["x"].tolist() == list(range(40, 45)) and view.page(long, -1)["x"].iloc[0] == 0
    assert view.above(np.array([0.1, 0.5, 0.5, 0.9]), 0.5) == 3


def test_download_link_carries_the_exact_bytes():
    content = "id,probability,label\n1,0.25,0\n".encode()
    link = view.download_link(content, "customers-scored.csv")
    encoded = re.search(r"base64,([^']+)'", link).group(1)
    assert base64.b64decode(encoded) == content and "download='customers-scored.csv'" in link
    assert view.scored_filename("batch.csv.gz") == "batch-scored.csv"


def test_charts_render_and_labels_come_from_the_target_column_when_present():
    probability = np.linspace(0, 1, 200)
    assert view.histogram_png(probability, 0.3)[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.gains_png(probability, None)[:4] == b"\x89PNG"
    card = {"input_schema": {"target": "Response", "positive_class": "1"}}
    frame = pd.DataFrame({"Response": ["1", "0", "1.0"]})
    assert view.target_labels(frame, card).tolist() == [1, 0, 1]
    assert view.target_labels(frame.drop(columns="Response"), card) is None


def test_voila_is_started_with_culling_and_a_websocket_limit_from_the_upload_limit(monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(64 * 1024 * 1024))
    monkeypatch.setenv("DASHBOARD_CULL_IDLE_SECONDS", "300")
    settings = DashboardSettings.load(port=8870)
    arguments = voila_arguments(settings)
    assert "--MappingKernelManager.cull_idle_timeout=300" in arguments and "--no-browser" in arguments
    assert "--port=8870" in arguments and arguments[0].endswith("dashboard.ipynb")
    assert tornado_settings(settings)["websocket_max_message_size"] > 64 * 1024 * 1024


def test_unreachable_api_is_reported_plainly():
    client = view.ApiClient(DashboardSettings(api_url="http://127.0.0.1:9", timeout=2))
    with pytest.raises(view.ApiUnavailable, match="not reachable"):
        client.model_card()


def test_drift_is_a_warning_table_of_the_drifted_features_only():
    drift = [{"column": "Age", "psi": 1.234, "drifted": True, "rows": 9, "bin": "<= 25", "training_share": 0.2,
              "batch_share": 0.01},
             {"column": "Gender", "psi": 0.01, "drifted": False, "rows": 9, "bin": "Male", "training_share": 0.5,
              "batch_share": 0.51}]
    shown = view.drift_html(drift)
    assert "drift-warning" in shown and "<b>Age</b>" in shown and "1.234" in shown and "Gender" not in shown
    assert "20.0%" in shown and "1.0%" in shown and "&lt;= 25" in shown
    calm = view.drift_html(drift[1:])
    assert "drift-ok" in calm and "0.010" in calm
    assert view.drift_html(None) == ""


def test_history_marks_the_champion_and_links_the_run():
    models = {"serving_version": "2", "versions": [
        {"version": "2", "aliases": ["champion"], "created_at": "2026-11-26T01:00:00+00:00", "run_id": "r2",
         "holdout_metrics": {"auc": 0.85, "logloss": 0.27}, "decision": "v2 beats champion v1",
         "run_url": "http://mlflow:5000/#/experiments/1/runs/r2"},
        {"version": "1", "aliases": [], "created_at": "2026-11-25T01:00:00+00:00", "run_id": None,
         "holdout_metrics": {}, "decision": "", "run_url": None}]}
    shown = view.history_html(models)
    assert shown.index("v2") < shown.index("v1") and "(serving)" in shown
    assert "alias-champion" in shown and "0.8500" in shown and "v2 beats champion v1" in shown
    assert "href='http://mlflow:5000/#/experiments/1/runs/r2'" in shown
    assert view.history_html({"versions": []}) == "<p>No registered versions yet.</p>"


EXPLAINED = {"predictions": [{"row": 1, "probability": 0.42, "explanation": {
    "bias": -2.0, "other": 0.1, "top": [{"feature": "Vehicle_Damage", "contribution": 1.5},
                                       {"feature": "Previously_Insured", "contribution": -0.7}]}}],
    "explain": {"available": True, "unit": "log-odds"}}


def test_reasons_list_the_top_features_with_their_direction_and_chart():
    shown = view.reasons_html(EXPLAINED)
    assert "42.0%" in shown
    assert "<b>Vehicle_Damage</b> raises the score (+1.500)" in shown
    assert "<b>Previously_Insured</b> lowers the score (-0.700)" in shown
    assert view.reasons_png(EXPLAINED).startswith(b"\x89PNG")
    none = {"predictions": [{"row": 1, "probability": 0.1}],
            "explain": {"available": False, "message": "this model (Glm) has no per-feature contributions"}}
    assert "no-reasons" in view.reasons_html(none) and "(Glm)" in view.reasons_html(none)


def test_customer_record_drops_the_score_columns():
    scored = pd.DataFrame({"id": ["7"], "Age": ["44"], "probability": ["0.3"], "label": ["1"], "rank": ["1"]})
    assert view.customer_record(scored, 0) == {"id": "7", "Age": "44"}


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


def test_problem_type_and_classes_come_from_the_card_and_default_to_binary():
    assert view.problem_of({"name": "old"}) == "binary" and view.problem_of(None) == "binary"
    assert view.problem_of(MULTICLASS_CARD) == "multiclass" and view.problem_of(REGRESSION_CARD) == "regression"
    assert view.problem_of({"input_schema": {"problem": "regression"}}) == "regression"
    assert view.classes_of(MULTICLASS_CARD) == CLASSES and view.classes_of(REGRESSION_CARD) == []


def test_binary_model_card_keeps_auc_and_threshold_and_says_binary():
    card = {"name": "cross-sell", "version": "3", "holdout_metrics": {"auc": 0.8612345}, "threshold": 0.271828}
    text = view.card_html(card)
    assert "<b>problem</b> binary" in text and "<b>holdout AUC</b> 0.8612" in text
    assert "<b>threshold</b> 0.2718" in text and "logloss" not in text and "RMSE" not in text


def test_multiclass_model_card_shows_logloss_and_accuracy_no_threshold():
    text = view.card_html({**MULTICLASS_CARD, "classes": ["<a>", *CLASSES]})
    assert "<b>problem</b> multiclass, 4 classes: &lt;a&gt;, setosa, versicolor, virginica" in text
    assert "<b>holdout logloss</b> 0.1235" in text and "<b>holdout accuracy</b> 0.9568" in text
    assert "threshold" not in text and "AUC" not in text and "flowers" in text and "(Gbm)" in text


def test_regression_model_card_shows_rmse_and_r2_no_threshold():
    text = view.card_html(REGRESSION_CARD)
    assert "<b>problem</b> regression" in text and "<b>holdout RMSE</b> 3.2110" in text
    assert "<b>holdout R²</b> 0.8765" in text and "threshold" not in text and "MAE" not in text
    assert "<b>holdout R²</b> n/a" in view.card_html({**REGRESSION_CARD, "holdout_metrics": {"rmse": 1.0}})


def test_history_shows_the_metrics_of_the_problem_type():
    models = {"versions": [{"version": "1", "aliases": [], "created_at": "2026-12-01T00:00:00+00:00",
                            "holdout_metrics": {"rmse": 3.5, "r2": 0.75, "mae": 2.0}}]}
    shown = view.history_html(models, "regression")
    assert "<th>holdout RMSE</th><th>MAE</th><th>R²</th><th>mean residual deviance</th>" in shown
    assert "<td>3.5000</td><td>2.0000</td><td>0.7500</td><td></td>" in shown and "AUC" not in shown
    assert "<th>holdout AUC</th><th>logloss</th><th>AUCPR</th>" in view.history_html(models)


def test_multiclass_ranked_table_shows_the_predicted_class_and_its_probability():
    table = view.ranked_table(MULTICLASS_RANKED, _scored(MULTICLASS_CSV), "id", "multiclass")
    assert list(table.columns[:4]) == ["rank", "id", "label", "probability"]
    assert table["id"].tolist() == ["1", "3", "4", "2"] and table["rank"].tolist() == [1, 2, 3, 4]
    assert table["label"].tolist() == ["setosa", "virginica", "versicolor", "virginica"]
    assert [float(p) for p in table["probability"]] == [0.9, 0.8, 0.7, 0.6]
    assert "probability_virginica" in table.columns and "petal" in table.columns
    assert view.ranking_title("multiclass") != view.ranking_title("binary")


def test_regression_ranked_table_shows_the_prediction_largest_first():
    table = view.ranked_table(REGRESSION_RANKED, _scored(REGRESSION_CSV), "id", "regression")
    assert list(table.columns) == ["rank", "id", "prediction", "size", "price"]
    assert table["prediction"].tolist() == ["30.5", "21.0", "10.0"] and table["id"].tolist() == ["3", "2", "1"]
    assert "probability" not in table.columns and "label" not in table.columns


def test_customer_record_drops_the_score_columns_of_every_problem_type():
    multiclass = _scored(MULTICLASS_CSV)
    assert view.customer_record(multiclass, 1) == {"id": "2", "petal": "4.5", "species": "versicolor"}
    assert view.customer_record(multiclass, 1, CLASSES) == {"id": "2", "petal": "4.5", "species": "versicolor"}
    assert view.customer_record(_scored(REGRESSION_CSV), 0) == {"id": "1", "size": "10", "price": "12.0"}
    # with the classes known, an input column that only looks like a class probability stays
    own = pd.DataFrame({"probability_of_rain": ["0.2"], "label": ["setosa"], "probability_setosa": ["1.0"]})
    assert view.customer_record(own, 0, CLASSES) == {"probability_of_rain": "0.2"}
    assert view.customer_record(own, 0) == {}


def test_class_counts_keep_the_model_order_and_zero_counts():
    counts = view.class_counts([p["label"] for p in MULTICLASS_RANKED["predictions"]], CLASSES)
    assert counts.to_dict() == {"setosa": 1, "versicolor": 1, "virginica": 2}
    assert list(counts.index) == CLASSES
    assert view.class_counts(["virginica", "other"], CLASSES).to_dict() == {
        "setosa": 0, "versicolor": 0, "virginica": 1, "other": 1}
    assert view.class_counts_png(counts).startswith(b"\x89PNG")


def test_confusion_matrix_and_accuracy_over_the_rows_with_a_known_class():
    ordered = _scored(MULTICLASS_CSV).iloc[[p["row"] - 1 for p in MULTICLASS_RANKED["predictions"]]]
    truth = view.true_classes(ordered, MULTICLASS_CARD)
    assert truth.where(truth.notna(), None).tolist() == ["setosa", "virginica", None, "versicolor"]
    matrix = view.confusion(truth, [p["label"] for p in MULTICLASS_RANKED["predictions"]], CLASSES)
    assert list(matrix.index) == CLASSES and list(matrix.columns) == CLASSES
    assert matrix.to_numpy().tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    text = view.accuracy_html(matrix)
    assert "66.7%" in text and "(2 of 3 rows" in text
    assert view.confusion_png(matrix).startswith(b"\x89PNG")
    assert view.true_classes(ordered.drop(columns="species"), MULTICLASS_CARD) is None
    assert "no accuracy" in view.accuracy_html(view.confusion([None], ["setosa"], CLASSES))
    # whole-number classes compare as training compares them: "2.0" is the class "2"
    assert view.confusion(view.true_classes(pd.DataFrame({"y": ["2.0", "1"]}), {"input_schema": {"target": "y"}}),
                          ["2", "2"], ["1", "2"]).to_numpy().tolist() == [[0, 1], [0, 1]]


def test_regression_errors_and_charts_over_the_rows_with_a_known_value():
    ordered = _scored(REGRESSION_CSV).iloc[[p["row"] - 1 for p in REGRESSION_RANKED["predictions"]]]
    actual = view.actual_values(ordered, REGRESSION_CARD)
    predicted = np.array([p["prediction"] for p in REGRESSION_RANKED["predictions"]])
    assert np.isnan(actual[0]) and actual[1:].tolist() == [18.0, 12.0]
    metrics = view.residual_metrics(actual, predicted)
    assert metrics["rows"] == 2 and metrics["rmse"] == pytest.approx(np.sqrt(6.5)) and metrics["mae"] == 2.5
    text = view.residuals_html(metrics)
    assert "<b>RMSE on this file</b> 2.5495" in text and "<b>MAE</b> 2.5000" in text and "2 rows" in text
    assert "no RMSE" in view.residuals_html(view.residual_metrics(np.array([np.nan]), np.array([1.0])))
    assert view.actual_values(ordered.drop(columns="price"), REGRESSION_CARD) is None
    assert view.prediction_histogram_png(predicted).startswith(b"\x89PNG")
    assert view.actual_vs_predicted_png(actual, predicted).startswith(b"\x89PNG")


# ------------------------------------------------------------------ the widget app, without a browser or an API


@pytest.fixture
def app():
    """The dashboard against an address nothing listens on: the card fails to load; tests set it."""
    from automlkit.dashboard_app import Dashboard
    dashboard = Dashboard(DashboardSettings(api_url="http://127.0.0.1:9", timeout=2))
    assert dashboard.card is None and "unavailable" in dashboard.card_box.value
    dashboard.upload_name = "upload.csv"
    return dashboard


def _shown(widget) -> bool:
    return widget.layout.display != "none"


def test_app_shows_class_counts_confusion_and_accuracy_for_a_multiclass_model(app):
    app.card = MULTICLASS_CARD
    app.show_results(MULTICLASS_RANKED, MULTICLASS_CSV)
    assert _shown(app.results) and _shown(app.problem_charts) and _shown(app.truth_chart)
    assert not _shown(app.threshold_row) and not _shown(app.binary_charts) and not _shown(app.reasons_section)
    assert _shown(app.reasons_note) and app.customer.options == ()
    assert bytes(app.distribution.value).startswith(b"\x89PNG")
    assert bytes(app.truth_chart.value).startswith(b"\x89PNG")
    assert "66.7%" in app.fit_box.value and "probability of their predicted class" in app.ranking_title.value
    assert "<th>label</th>" in app.table_box.value and "download-link" in app.download_box.value


def test_app_shows_the_prediction_histogram_and_hides_the_fit_without_a_target(app):
    app.card = REGRESSION_CARD
    app.show_results(REGRESSION_RANKED, REGRESSION_CSV)
    assert "2.5495" in app.fit_box.value and _shown(app.truth_chart)
    without_target = b"id,size,prediction\n1,10,10.0\n2,20,21.0\n3,30,30.5\n"
    app.show_results(REGRESSION_RANKED, without_target)
    assert not _shown(app.truth_chart) and app.fit_box.value == "" and not _shown(app.threshold_row)
    assert bytes(app.distribution.value).startswith(b"\x89PNG") and "<th>prediction</th>" in app.table_box.value


def test_app_keeps_the_threshold_gains_and_reasons_for_a_binary_model(app):
    app.card = {"name": "cross-sell", "version": "3", "threshold": 0.5, "input_schema": {"target": "y"}}
    scored = b"id,y,probability,label\n1,1,0.9,1\n2,0,0.2,0\n3,1,0.6,1\n"
    ranked = {"model": "cross-sell", "version": "3", "threshold": 0.5, "rows": 3, "warnings": [], "predictions": [
        {"row": 1, "id": 1, "probability": 0.9, "label": 1, "rank": 1},
        {"row": 3, "id": 3, "probability": 0.6, "label": 1, "rank": 2},
        {"row": 2, "id": 2, "probability": 0.2, "label": 0, "rank": 3}]}
    app.show_results(ranked, scored)
    assert _shown(app.threshold_row) and _shown(app.binary_charts) and _shown(app.reasons_section)
    assert not _shown(app.problem_charts) and not _shown(app.fit_box) and not _shown(app.reasons_note)
    assert "<span class='above-count'>2</span> of 3" in app.above_label.value
    assert len(app.customer.options) == 3 and bytes(app.gains.value).startswith(b"\x89PNG")
    assert "Customers ranked by probability" in app.ranking_title.value
    assert "No explanation" in app.reasons_box.value  # the first customer's reasons were asked of the (absent) API
