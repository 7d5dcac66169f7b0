"""What the dashboard shows, computed without a browser: messages, model card, paging, counts, download."""

from __future__ import annotations

import base64
import gzip
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
