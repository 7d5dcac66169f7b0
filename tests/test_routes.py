"""Every route of the API in-process (FastAPI's ``TestClient`` on ``create_app``) serving the committed tiny
GBM (``tests/fixtures/tiny_model/``) from a SQLite MLflow store: answers, errors and their messages.

Fast (no server process, no H2O JVM): the live-process versions of these checks are ``test_api.py``,
``test_fuzz.py`` and ``test_explain.py``.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from api.main import create_app
from automlkit.settings import ApiSettings
from conftest import ROW, TEST_CSV, assert_explanations_add_up
from route_fixtures import DECISION, RUN_METRICS, TINY_MODEL_NAME, restored_mlflow_uris, tiny_meta
from route_fixtures import tiny_champion  # noqa: F401 - the fixture: the committed tiny model in a SQLite store

RELOAD_TOKEN = "route-test-reload-token"
UI_URL = "http://mlflow.test:5000"
#: Limits of the app under test: small enough to pass with real rows, above the 1,001 rows of the explain test.
MAX_ROWS, MAX_UPLOAD_BYTES, MAX_JSON_RECORDS = 1500, 250_000, 1200
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def meta() -> dict:
    return tiny_meta()


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """Real unlabelled customers (the first rows of test.csv.gz)."""
    return pd.read_csv(TEST_CSV, nrows=MAX_ROWS + 1)


def settings_for(tracking_uri: str, **overrides) -> ApiSettings:
    values = dict(tracking_uri=tracking_uri, mlflow_ui_url=UI_URL, model_name=TINY_MODEL_NAME, poll_seconds=0,
                  reload_token=RELOAD_TOKEN, max_rows=MAX_ROWS, max_upload_bytes=MAX_UPLOAD_BYTES,
                  max_json_records=MAX_JSON_RECORDS)
    return ApiSettings(**{**values, **overrides})


@pytest.fixture(scope="module")
def client(tiny_champion):
    """The app serving ``tiny-model@champion``; the lifespan (entered by ``with``) loads the model."""
    with restored_mlflow_uris(), TestClient(create_app(settings_for(tiny_champion))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def reference(tiny_champion):
    """The registered model loaded as MLflow pyfunc (its own input checks and scoring path, not the API's)."""
    with restored_mlflow_uris():
        mlflow.set_tracking_uri(tiny_champion)
        return mlflow.pyfunc.load_model(f"models:/{TINY_MODEL_NAME}/1")


def predict(client: TestClient, records: list[dict], **params) -> dict:
    answer = client.post("/predict", json={"records": records}, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def probabilities(body: dict) -> np.ndarray:
    return np.array([p["probability"] for p in body["predictions"]])


def upload(client: TestClient, data: bytes, name: str = "customers.csv", **kwargs):
    return client.post("/predict", files={"file": (name, data, "text/csv")}, **kwargs)


def error(answer, status: int) -> dict:
    """The JSON error body of ``answer``, which must have ``status`` and the API's error shape."""
    assert answer.status_code == status, f"{answer.status_code}: {answer.text[:1000]}"
    assert answer.headers["content-type"] == "application/json", answer.headers
    body = answer.json()
    assert set(body) == {"detail", "problems"} and isinstance(body["detail"], str), body
    return body


def problem(column, message: str, rows: list[int] | None = None, count: int = 0) -> dict:
    return {"column": column, "message": message, "rows": rows or [], "count": count}


# ------------------------------------------------------------------------------------ model, health, ready


def test_health_answers_ok(client):
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_ready_names_the_served_version(client):
    answer = client.get("/ready")
    assert answer.status_code == 200 and answer.json() == {"status": "ready", "model": TINY_MODEL_NAME, "version": "1"}


def test_model_card_describes_the_champion(client, tiny_champion, meta):
    card = client.get("/model").json()
    version = MlflowClient(tiny_champion).get_model_version_by_alias(TINY_MODEL_NAME, "champion")
    assert (card["name"], card["version"], card["alias"]) == (TINY_MODEL_NAME, "1", "champion")
    assert card["run_id"] == version.run_id and card["algorithm"] == "GbmMojoModel"
    assert card["trained_at"].endswith("+00:00") and card["loaded_at"].endswith("+00:00")
    assert card["threshold"] == meta["threshold"] and card["holdout_metrics"] == meta["holdout_metrics"]
    # a model saved before there were problem types is a binary one
    assert card["input_schema"] == {**meta["schema"], "problem": "binary", "problem_reason": "", "ignored_columns": {}}
    assert card["problem"] == "binary" and card["classes"] == ["0", "1"] and card["load_error"] is None
    assert card["scorer"] == {"batches": "mojo", "native_min_rows": None, "equality_bound": None}  # a GBM


def test_models_lists_the_version_with_its_run_metrics_decision_and_ui_link(client, tiny_champion, meta):
    answer = client.get("/models")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["name"], body["alias"], body["serving_version"]) == (TINY_MODEL_NAME, "champion", "1")
    (version,) = body["versions"]
    run = MlflowClient(tiny_champion).get_run(version["run_id"])
    assert version["version"] == "1" and version["aliases"] == ["champion"] and version["decision"] == DECISION
    assert version["holdout_metrics"] == {m: pytest.approx(meta["holdout_metrics"][m]) for m in RUN_METRICS}
    assert version["run_url"] == f"{UI_URL}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    assert version["created_at"].endswith("+00:00")


def test_front_page_redirects_to_the_docs(client):
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/docs"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text


def test_openapi_document_lists_every_route_and_both_request_forms(client):
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    spec = answer.json()
    assert spec["openapi"].startswith("3.") and f"`{TINY_MODEL_NAME}@champion`" in spec["info"]["description"]
    assert {path: set(ops) for path, ops in spec["paths"].items()} == {
        "/predict": {"post"}, "/model": {"get"}, "/models": {"get"}, "/health": {"get"}, "/ready": {"get"},
        "/reload": {"post"}, "/monitoring": {"get"}}
    predict_op = spec["paths"]["/predict"]["post"]
    assert set(predict_op["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {p["name"] for p in predict_op["parameters"]} == {"rank", "drift", "explain"}
    assert {"200", "400", "413", "415", "422", "503"} <= set(predict_op["responses"])
    assert spec["paths"]["/reload"]["post"]["security"] == [{"reload token": []}]
    assert spec["components"]["securitySchemes"]["reload token"]["scheme"] == "bearer"
    refs = {ref for ref in _refs(spec)}
    assert refs and all(r.rsplit("/", 1)[1] in spec["components"]["schemas"] for r in refs), refs


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_unknown_routes_and_methods_get_the_error_body(client):
    assert error(client.get("/nothing-here"), 404) == {"detail": "Not Found", "problems": []}
    assert error(client.get("/predict"), 405) == {"detail": "Method Not Allowed", "problems": []}


# ------------------------------------------------------------------------------------------- predictions


def test_one_json_record(client, meta, reference):
    answer = client.post("/predict", json={"records": [ROW]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["X-Model-Name"] == TINY_MODEL_NAME and answer.headers["X-Model-Version"] == "1"
    body = answer.json()
    assert set(body) == {"model", "version", "threshold", "rows", "predictions", "warnings"}
    assert (body["model"], body["version"], body["rows"], body["warnings"]) == (TINY_MODEL_NAME, "1", 1, [])
    assert body["threshold"] == meta["threshold"]
    (prediction,) = body["predictions"]
    expected = reference.predict(pd.DataFrame([ROW]))
    assert prediction == {"row": 1, "id": ROW["id"], "probability": pytest.approx(expected["probability"][0], abs=1e-12),
                          "label": int(expected["label"][0])}
    assert 0 < prediction["probability"] < 1


@pytest.mark.parametrize("rows", [40, 300], ids=["inline", "threadpool"])  # <= 64 records score on the loop
def test_many_json_records_match_the_registered_model(client, customers, reference, meta, rows):
    batch = customers.head(rows)
    body = predict(client, batch.to_dict("records"))
    assert body["rows"] == rows and [p["row"] for p in body["predictions"]] == list(range(1, rows + 1))
    assert [p["id"] for p in body["predictions"]] == batch["id"].tolist()
    expected = reference.predict(batch)
    assert np.max(np.abs(probabilities(body) - expected["probability"].to_numpy())) < 1e-12
    assert [p["label"] for p in body["predictions"]] == (probabilities(body) >= meta["threshold"]).astype(int).tolist()
    assert len(set(probabilities(body).round(12))) > 5  # the model tells customers apart


def test_csv_upload_plain_and_gzip_and_a_text_csv_body_agree_with_json(client, customers):
    batch = customers.head(120)
    as_json = predict(client, batch.to_dict("records"))
    text = batch.to_csv(index=False).encode()
    answers = {"upload": upload(client, text), "gzip upload": upload(client, gzip.compress(text), "c.csv.gz"),
               "text/csv body": client.post("/predict", content=text, headers={"content-type": "text/csv"}),
               "gzip text/csv body": client.post("/predict", content=gzip.compress(text),
                                                 headers={"content-type": "text/csv; charset=utf-8"})}
    for name, answer in answers.items():
        assert answer.status_code == 200, f"{name}: {answer.text[:500]}"
        body = answer.json()
        assert body["predictions"] == as_json["predictions"], name  # same rows, ids (as numbers), probabilities
        assert answer.headers["X-Model-Version"] == "1", name


def test_rank_orders_rows_most_likely_first(client, customers):
    batch = customers.head(200)
    plain = predict(client, batch.to_dict("records"))
    ranked = predict(client, batch.to_dict("records"), rank="true")
    order = np.argsort(-probabilities(plain), kind="stable")
    assert [p["row"] for p in ranked["predictions"]] == (order + 1).tolist()
    assert [p["rank"] for p in ranked["predictions"]] == list(range(1, 201))
    assert probabilities(ranked).tolist() == sorted(probabilities(plain).tolist(), reverse=True)
    assert all(p["id"] == batch["id"].iloc[p["row"] - 1] for p in ranked["predictions"])
    assert "rank" not in plain["predictions"][0]
    csv_ranked = upload(client, batch.to_csv(index=False).encode(), params={"rank": "true"}).json()
    assert csv_ranked["predictions"] == ranked["predictions"]


def test_drift_reports_every_feature_in_the_body_and_the_header(client, customers, meta):
    features = {c["name"] for c in meta["schema"]["columns"]}
    calm = client.post("/predict", json={"records": customers.head(1000).to_dict("records")},
                       params={"drift": "true"})
    assert calm.status_code == 200, calm.text
    report = calm.json()["drift"]
    assert {r["column"] for r in report} == features and len(report) == len(features)
    assert all(set(r) == {"column", "psi", "drifted", "rows", "bin", "training_share", "batch_share"} for r in report)
    assert all(r["rows"] == 1000 and not r["drifted"] and 0 <= r["psi"] < 0.2 for r in report), report
    assert [r["psi"] for r in report] == sorted((r["psi"] for r in report), reverse=True)
    assert calm.headers["X-Drift"] == "none"

    older = customers.head(500).assign(Age=lambda d: d["Age"] + 25)
    shifted = client.post("/predict", json={"records": older.to_dict("records")}, params={"drift": "true"})
    top = shifted.json()["drift"][0]
    assert top["column"] == "Age" and top["drifted"] and top["psi"] > 0.2
    assert top["batch_share"] != top["training_share"]
    assert shifted.headers["X-Drift"].split(",")[0] == f"Age={top['psi']:.3f}"
    as_csv = upload(client, older.to_csv(index=False).encode(), params={"drift": "true"},
                    headers={"Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["X-Drift"] == shifted.headers["X-Drift"]

    plain = client.post("/predict", json={"records": [ROW]})
    assert "drift" not in plain.json() and "X-Drift" not in plain.headers


def test_explain_gives_each_row_its_top_contributions_adding_up_to_the_logit(client, customers, meta):
    batch = customers.head(30)
    answer = client.post("/predict", json={"records": batch.to_dict("records")},
                         params={"explain": "true", "rank": "true"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["explain"] == {"available": True,
                               "unit": "log-odds of the positive class: bias + top + other = the row's logit"}
    assert_explanations_add_up(body["predictions"], meta["schema"])
    by_row = {p["row"]: p["explanation"] for p in body["predictions"]}
    as_csv = upload(client, batch.to_csv(index=False).encode(), params={"explain": "true"}).json()
    assert [p["explanation"] for p in as_csv["predictions"]] == [by_row[r] for r in range(1, 31)]
    plain = predict(client, batch.head(2).to_dict("records"))
    assert "explain" not in plain and "explanation" not in plain["predictions"][0]


def test_explaining_more_than_1000_rows_is_a_413(client, customers):
    body = error(upload(client, customers.head(1001).to_csv(index=False).encode(), params={"explain": "true"}), 413)
    assert body == {"detail": "explain=true explains at most 1000 rows at once; this request has 1001", "problems": []}
    json_body = error(client.post("/predict", params={"explain": "true"},
                                  json={"records": customers.head(1001).to_dict("records")}), 413)
    assert json_body["detail"] == body["detail"]
    assert upload(client, customers.head(1000).to_csv(index=False).encode(),
                  params={"explain": "true"}).status_code == 200


def test_accept_text_csv_answers_the_input_columns_plus_probability_and_label(client, customers):
    batch = customers.head(20)
    body = predict(client, batch.to_dict("records"))
    for name, answer in {
        "json records": client.post("/predict", json={"records": batch.to_dict("records")},
                                    headers={"Accept": "text/csv"}),
        "csv upload": upload(client, batch.to_csv(index=False).encode(), headers={"Accept": "text/csv"}),
    }.items():
        assert answer.status_code == 200, f"{name}: {answer.text[:500]}"
        assert answer.headers["content-type"].startswith("text/csv") and answer.headers["X-Model-Version"] == "1"
        table = pd.read_csv(io.StringIO(answer.text))
        assert list(table.columns) == [*batch.columns, "probability", "label"], name
        pd.testing.assert_frame_equal(table[batch.columns], batch.reset_index(drop=True), check_dtype=False)
        assert np.allclose(table["probability"], probabilities(body), atol=1e-15, rtol=0), name
        assert table["label"].tolist() == [p["label"] for p in body["predictions"]], name
    ranked = upload(client, batch.to_csv(index=False).encode(), headers={"Accept": "text/csv"},
                    params={"rank": "true"})
    table = pd.read_csv(io.StringIO(ranked.text))
    assert list(table.columns)[-3:] == ["probability", "label", "rank"] and table["rank"].tolist() == list(range(1, 21))
    assert table["probability"].is_monotonic_decreasing


def test_unseen_category_is_scored_as_missing_with_a_warning(client):
    unseen = {**ROW, "Vehicle_Age": "> 40 Years"}
    body = predict(client, [ROW, unseen, {**ROW, "Vehicle_Age": None}])
    assert body["warnings"] == [problem("Vehicle_Age", "unseen category ['> 40 Years'] scored as missing, as H2O does",
                                        [2], 1)]
    assert body["predictions"][1]["probability"] == body["predictions"][2]["probability"]
    as_csv = upload(client, pd.DataFrame([ROW, unseen]).to_csv(index=False).encode()).json()
    assert as_csv["warnings"] == [problem("Vehicle_Age", "unseen category ['> 40 Years'] scored as missing, "
                                                         "as H2O does", [2], 1)]


def test_unknown_columns_are_named_and_a_csv_answer_carries_the_warnings_in_a_header(client):
    rows = pd.DataFrame([{**ROW, "Vehicle_Age": "> 40 Years", "Notiz": "Grüße"}])
    answer = upload(client, rows.to_csv(index=False).encode(), headers={"Accept": "text/csv"})
    assert answer.status_code == 200 and answer.text.splitlines()[0].endswith(",probability,label")
    assert json.loads(answer.headers["X-Warnings"]) == [
        problem("Vehicle_Age", "unseen category ['> 40 Years'] scored as missing, as H2O does", [1], 1),
        problem("Notiz", "not a column of the model: passed through, not scored")]
    assert answer.headers["X-Warnings"].isascii()
    assert "X-Warnings" not in upload(client, pd.DataFrame([ROW]).to_csv(index=False).encode()).headers



def test_the_warnings_header_stays_small_whatever_the_column_names(client):
    huge = {**ROW, "x" * 100_000: 1, **{f"extra_{i}": i for i in range(300)}}
    answer = upload(client, pd.DataFrame([huge]).to_csv(index=False).encode(), headers={"Accept": "text/csv"})
    header = answer.headers["X-Warnings"]
    assert answer.status_code == 200 and len(header) <= 8192
    shown = json.loads(header)
    assert shown[0]["column"] == "x" * 200 + "…" and shown[-1]["message"].endswith("more warnings: see the JSON answer")
    assert len(shown) - 1 + shown[-1]["count"] == 301  # every unknown column is counted


def test_a_number_outside_the_training_range_is_scored_with_a_warning(client, meta):
    age = next(c for c in meta["schema"]["columns"] if c["name"] == "Age")
    body = predict(client, [ROW, {**ROW, "Age": 200}])
    assert body["warnings"] == [problem("Age", f"outside the training range [{age['minimum']:g}, {age['maximum']:g}]",
                                        [2], 1)]


# ------------------------------------------------------------------------------------------- bad requests


def test_a_missing_column_is_a_422_naming_it(client, customers):
    record = {k: v for k, v in ROW.items() if k != "Vehicle_Damage"}
    body = error(client.post("/predict", json={"records": [record]}), 422)
    assert body["problems"][0] == problem("Vehicle_Damage", "required column is missing")
    assert body["problems"][1] == problem(None, f"the records have the keys: {', '.join(sorted(record))}")
    assert body["detail"].startswith("column 'Vehicle_Damage': required column is missing; file: the records have")

    text = customers.head(5).drop(columns=["Age"]).to_csv(index=False).encode()
    body = error(upload(client, text), 422)
    assert body["problems"][0] == problem("Age", "required column is missing")
    assert body["problems"][1]["message"].startswith("the input has the columns: id, Gender, Driving_License")
    assert body["detail"].startswith("column 'Age': required column is missing")


def test_text_in_a_numeric_column_names_the_column_and_1_based_rows(client, customers):
    records = [ROW, {**ROW, "Age": "forty"}, ROW, {**ROW, "Age": "x"}]
    body = error(client.post("/predict", json={"records": records}), 422)
    assert body["problems"] == [problem("Age", "expected a number, got ['forty', 'x']", [2, 4], 2)]
    assert body["detail"] == "column 'Age', rows 2, 4: expected a number, got ['forty', 'x']"

    batch = customers.head(10).astype({"Annual_Premium": object})
    batch.loc[[2, 3, 4, 5, 6, 8], "Annual_Premium"] = "n/a"  # data rows 3-7 and 9: six rows, five listed
    body = error(upload(client, batch.to_csv(index=False).encode()), 422)
    assert body["problems"] == [problem("Annual_Premium", "expected a number, got ['n/a', 'n/a', 'n/a']",
                                        [3, 4, 5, 6, 7], 6)]
    assert body["detail"] == ("column 'Annual_Premium', rows 3, 4, 5, 6, 7 (and 1 more): "
                              "expected a number, got ['n/a', 'n/a', 'n/a']")


def test_infinity_is_not_a_number(client):
    body = error(client.post("/predict", content=json.dumps({"records": [{**ROW, "Age": float("inf")}]}),
                             headers=JSON_HEADERS), 422)
    assert body["problems"] == [problem("Age", "infinite or NaN text is not a number", [1], 1)]


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", None])
def test_an_empty_body_is_a_400(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    body = error(client.post("/predict", content=b"", headers=headers), 400)
    if content_type == "text/csv":
        assert body == {"detail": "file: the file is empty", "problems": [problem(None, "the file is empty")]}
    else:  # JSON, and no content type at all (read as JSON)
        assert body == {"detail": 'the request body is empty: send {"records": [...]} or a CSV file', "problems": []}
    assert error(client.post("/predict", content=b"  \n ", headers=JSON_HEADERS), 400)["detail"].startswith(
        "the request body is empty")


@pytest.mark.parametrize("raw, detail", [
    (b"{records: [", "the body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b'{"records": [1,]}', "the body is not valid JSON: Expecting value at line 1 column 16"),
    (b'\xff\xfe{"records": []}', "the JSON body is not UTF-8 text"),
    (b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "the JSON body is nested too deeply"),
], ids=["not JSON", "trailing comma", "not UTF-8", "nested too deeply"])
def test_bad_json_is_a_400_saying_why(client, raw, detail):
    assert error(client.post("/predict", content=raw, headers=JSON_HEADERS), 400) == {"detail": detail, "problems": []}


@pytest.mark.parametrize("raw", [b'{"records": {"id": 1}}', b'{"rows": []}', b'"records"', b"null", b"42"])
def test_records_that_are_not_a_list_are_a_422(client, raw):
    assert error(client.post("/predict", content=raw, headers=JSON_HEADERS), 422) == {
        "detail": 'expected a JSON object {"records": [{column: value, ...}, ...]}',
        "problems": [problem("records", "missing or not a list")]}


def test_records_that_are_not_objects_are_a_422_naming_the_rows(client):
    body = error(client.post("/predict", json={"records": [ROW, 1, "x", ROW, [ROW]]}), 422)
    assert body == {"detail": "every record must be a JSON object of column: value",
                    "problems": [problem("records", "not an object", [2, 3, 5], 3)]}
    bare_list = error(client.post("/predict", json=[ROW, None]), 422)  # a bare list is read as the records
    assert bare_list["problems"] == [problem("records", "not an object", [2], 1)]


def test_an_empty_list_of_records_is_a_400(client):
    assert error(client.post("/predict", json={"records": []}), 400) == {
        "detail": "no records to score", "problems": [problem("records", "the list is empty")]}


def test_a_value_that_is_an_object_in_a_category_column_is_a_422(client):
    body = error(client.post("/predict", json={"records": [{**ROW, "Gender": {"a": 1}}]}), 422)
    assert body["problems"] == [problem("Gender", "expected a text or number category, got an object or list", [1], 1)]


def test_too_many_json_records_is_a_413(client):
    body = error(client.post("/predict", json={"records": [{"id": i} for i in range(MAX_JSON_RECORDS + 1)]}), 413)
    assert body == {"detail": f"{MAX_JSON_RECORDS + 1} records is more than the limit of {MAX_JSON_RECORDS}",
                    "problems": []}


def test_too_many_csv_rows_is_a_413(client, customers):
    many = gzip.compress(customers.head(MAX_ROWS + 1).to_csv(index=False).encode())
    expected = f"{MAX_ROWS + 1} rows is more than the limit of {MAX_ROWS}"
    assert error(upload(client, many, "many.csv.gz"), 413) == {"detail": f"file: {expected}",
                                                                "problems": [problem(None, expected)]}


def test_a_body_over_the_byte_limit_is_a_413(client):
    big = b"id,Age\n" + b"1,20\n" * (MAX_UPLOAD_BYTES // 5)
    declared = error(client.post("/predict", content=big, headers={"content-type": "text/csv"}), 413)
    assert declared["detail"] == (f"the request body of {len(big)} bytes is larger than the limit of "
                                  f"{MAX_UPLOAD_BYTES} bytes")
    streamed = error(client.post("/predict", content=iter([big[:1000], big[1000:]]),  # chunked: no length
                                 headers={"content-type": "text/csv"}), 413)
    assert streamed["detail"] == f"the request body is larger than the limit of {MAX_UPLOAD_BYTES} bytes"
    as_json = error(client.post("/predict", content=b'{"records": [' + b" " * MAX_UPLOAD_BYTES + b"]}",
                                headers=JSON_HEADERS), 413)
    assert str(MAX_UPLOAD_BYTES) in as_json["detail"]
    # a file just over the limit fits the multipart slack, and the CSV reader refuses it
    uploaded = error(upload(client, big[:MAX_UPLOAD_BYTES + 10]), 413)
    assert uploaded["detail"] == f"file: the upload is larger than the limit of {MAX_UPLOAD_BYTES} bytes"


def test_a_gzip_bomb_is_a_413_and_corrupt_gzip_a_400(client):
    bomb = gzip.compress(b"id,Age\n" + b"0" * (MAX_UPLOAD_BYTES * 4))
    assert len(bomb) < MAX_UPLOAD_BYTES
    assert error(upload(client, bomb, "bomb.csv.gz"), 413)["detail"] == (
        f"file: the decompressed data is larger than the limit of {MAX_UPLOAD_BYTES} bytes")
    assert error(upload(client, b"\x1f\x8b" + b"not gzip" * 10), 400)["detail"].startswith(
        "file: the gzip data is corrupt")


@pytest.mark.parametrize("content_type", ["application/xml", "application/x-www-form-urlencoded", "text/plain"])
def test_an_unsupported_content_type_is_a_415(client, content_type):
    body = error(client.post("/predict", content=b"<x/>", headers={"content-type": content_type}), 415)
    assert body == {"detail": f"unsupported content type {content_type!r}: send multipart/form-data with a CSV "
                              "field 'file', text/csv, or application/json records", "problems": []}


def test_a_multipart_body_without_the_file_field_or_malformed_is_refused(client):
    missing = error(client.post("/predict", files={"upload": ("c.csv", b"id\n1\n", "text/csv")}), 422)
    assert missing == {"detail": "multipart field 'file' with the CSV is missing",
                       "problems": [problem("file", "required multipart field is missing")]}
    malformed = error(client.post("/predict", content=b"--a\r\n\r\n",
                                  headers={"content-type": "multipart/form-data"}), 400)
    assert malformed["detail"].startswith("malformed multipart body: ")


@pytest.mark.parametrize("params, column", [({"rank": "maybe"}, "rank"), ({"drift": "2"}, "drift"),
                                            ({"explain": "[]"}, "explain")])
def test_a_bad_query_flag_is_a_422_naming_it(client, params, column):
    body = error(client.post("/predict", json={"records": [ROW]}, params=params), 422)
    assert body["problems"] == [problem(column, "Input should be a valid boolean, unable to interpret input")]
    assert body["detail"] == f"column '{column}': Input should be a valid boolean, unable to interpret input"


def test_an_unknown_query_parameter_is_a_422_naming_it(client):
    """A typo such as ?rnak=true is refused, never silently ignored (the schema declares only three flags)."""
    body = error(client.post("/predict", json={"records": [ROW]}, params={"rnak": "true", "rank": "true"}), 422)
    assert body == {"detail": "unknown query parameter 'rnak': /predict takes drift, explain, rank",
                    "problems": [problem("rnak", "unknown query parameter")]}


# ------------------------------------------------------------------------------------------------- reload


def test_reload_needs_the_bearer_token(client):
    missing = client.post("/reload")
    assert error(missing, 401) == {"detail": "a bearer token is required", "problems": []}
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert error(client.post("/reload", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)["detail"] == (
        "a bearer token is required")
    assert error(client.post("/reload", headers={"Authorization": "Bearer nope"}), 403) == {
        "detail": "the token is not valid", "problems": []}
    right = client.post("/reload", headers={"Authorization": f"Bearer {RELOAD_TOKEN}"})
    assert right.status_code == 200 and right.json() == {"changed": False, "version": "1", "load_error": None}


def test_reload_swaps_in_the_version_the_alias_moved_to(client, tiny_champion):
    registry = MlflowClient(tracking_uri=tiny_champion, registry_uri=tiny_champion)
    auth = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
    with restored_mlflow_uris():
        mlflow.set_registry_uri(tiny_champion)
        new = str(registry.copy_model_version(f"models:/{TINY_MODEL_NAME}/1", TINY_MODEL_NAME).version)
    try:
        registry.set_registered_model_alias(TINY_MODEL_NAME, "champion", new)
        answer = client.post("/reload", headers=auth)
        assert answer.status_code == 200 and answer.json() == {"changed": True, "version": new, "load_error": None}
        assert client.post("/predict", json={"records": [ROW]}).headers["X-Model-Version"] == new
        assert client.get("/ready").json()["version"] == new
    finally:
        registry.set_registered_model_alias(TINY_MODEL_NAME, "champion", "1")
        back = client.post("/reload", headers=auth).json()
        registry.delete_model_version(TINY_MODEL_NAME, new)
    assert back == {"changed": True, "version": "1", "load_error": None}


def test_a_version_that_failed_to_load_is_retried_and_the_error_clears(client, tiny_champion, tmp_path):
    """Its artifacts unreachable (an artifact-store outage), the version fails and the old one serves; once
    they are back, the next /reload loads it and GET /model forgets the error."""
    registry = MlflowClient(tracking_uri=tiny_champion, registry_uri=tiny_champion)
    auth = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
    with restored_mlflow_uris():
        mlflow.set_registry_uri(tiny_champion)
        new = str(registry.copy_model_version(f"models:/{TINY_MODEL_NAME}/1", TINY_MODEL_NAME).version)
        artifacts = Path(urlparse(registry.get_model_version_download_uri(TINY_MODEL_NAME, new)).path)
    hidden = tmp_path / "hidden"
    try:
        artifacts.rename(hidden)  # the outage
        registry.set_registered_model_alias(TINY_MODEL_NAME, "champion", new)
        failed = client.post("/reload", headers=auth).json()
        assert failed["changed"] is False and failed["version"] == "1" and failed["load_error"]["version"] == new
        assert client.get("/model").json()["load_error"]["version"] == new
        again = client.post("/reload", headers=auth).json()  # still down: retried, still failing
        assert again["changed"] is False and again["load_error"]["version"] == new
        hidden.rename(artifacts)  # back
        answer = client.post("/reload", headers=auth).json()
        assert answer == {"changed": True, "version": new, "load_error": None}
        assert client.get("/model").json()["load_error"] is None
    finally:
        if hidden.exists():
            hidden.rename(artifacts)
        registry.set_registered_model_alias(TINY_MODEL_NAME, "champion", "1")
        client.post("/reload", headers=auth)
        registry.delete_model_version(TINY_MODEL_NAME, new)


# -------------------------------------------------------------------------------------------- no champion


@pytest.fixture(scope="module")
def no_champion(tiny_champion):
    """An app whose model is registered but has no version holding the alias (and reload disabled)."""
    MlflowClient(tracking_uri=tiny_champion, registry_uri=tiny_champion).create_registered_model("no-champion")
    settings = settings_for(tiny_champion, model_name="no-champion", reload_token="")
    with restored_mlflow_uris(), TestClient(create_app(settings)) as test_client:
        yield test_client


def test_ready_is_a_503_with_the_reason_when_no_model_is_loaded(no_champion, tiny_champion):
    body = error(no_champion.get("/ready"), 503)
    assert body["detail"].startswith(f"no model is loaded: cannot resolve no-champion@champion at {tiny_champion}: ")
    assert "champion" in body["detail"].split(": ", 2)[2] and body["problems"] == []
    assert no_champion.get("/health").json() == {"status": "ok"}


def test_predict_is_a_503_and_the_card_says_why_when_no_model_is_loaded(no_champion, tiny_champion):
    body = error(no_champion.post("/predict", json={"records": [ROW]}), 503)
    assert body["detail"] == no_champion.get("/ready").json()["detail"]
    card = no_champion.get("/model")
    assert card.status_code == 200
    assert {k: card.json()[k] for k in ("name", "version", "alias", "run_id")} == {
        "name": "no-champion", "version": None, "alias": "champion", "run_id": None}
    load_error = card.json()["load_error"]
    assert load_error["version"] is None and load_error["message"].startswith(
        f"cannot resolve no-champion@champion at {tiny_champion}")
    models = no_champion.get("/models")
    assert models.status_code == 200 and models.json() == {"name": "no-champion", "alias": "champion",
                                                           "serving_version": None, "versions": []}


def test_reload_is_refused_when_no_token_is_configured(no_champion):
    body = error(no_champion.post("/reload", headers={"Authorization": "Bearer anything"}), 403)
    assert body == {"detail": "reload is disabled: RELOAD_TOKEN is not set", "problems": []}


def test_models_is_a_503_when_the_registry_does_not_know_the_model(tiny_champion):
    settings = settings_for(tiny_champion, model_name="never-registered")
    with restored_mlflow_uris(), TestClient(create_app(settings)) as test_client:
        body = error(test_client.get("/models"), 503)
        ready = error(test_client.get("/ready"), 503)
    assert body["detail"].startswith(f"the registry at {tiny_champion} cannot list versions: ")
    assert "never-registered" in body["detail"]
    assert ready["detail"].startswith("no model is loaded: cannot resolve never-registered@champion")
