"""The prediction API as a real uvicorn process serving a real champion from a real `mlflow server`."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import threading
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from conftest import API_MODEL, ROW, TEST_CSV, assert_still_serving, start_api, stop_process

pytestmark = pytest.mark.integration

RELOAD_TOKEN = "test-reload-token"
#: Limits of the strict instance (the bad-input tests run against it).
MAX_ROWS, MAX_UPLOAD_BYTES = 2000, 300_000


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """The first 1,500 rows of the real unlabelled test file."""
    return pd.read_csv(TEST_CSV, nrows=1500)


@pytest.fixture(scope="module")
def api(api_champion, tmp_path_factory):
    """The API with small limits and no polling (models change only through POST /reload)."""
    process, url = start_api(api_champion, tmp_path_factory.mktemp("api") / "api.log", POLL_SECONDS="0",
                             RELOAD_TOKEN=RELOAD_TOKEN, MAX_ROWS=str(MAX_ROWS),
                             MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES))
    yield url
    stop_process(process)


def csv_upload(url: str, data: bytes, name: str = "customers.csv", **kwargs) -> requests.Response:
    return requests.post(f"{url}/predict", files={"file": (name, data, "text/csv")}, timeout=60, **kwargs)


# ------------------------------------------------------------------------------------------------ serving


def test_model_card_health_and_ready(api):
    card = requests.get(f"{api}/model", timeout=10).json()
    assert card["name"] == API_MODEL and card["version"] == "1" and card["alias"] == "champion"
    assert card["run_id"] and card["trained_at"] and 0 < card["threshold"] < 1
    assert {"auc", "logloss", "aucpr"} <= set(card["holdout_metrics"])
    assert "Region_Code" in [c["name"] for c in card["input_schema"]["columns"]]
    # how the champion was chosen, and what it costs to serve, reach the card
    selection = card["selection"]
    assert selection["rule"] == "within_noise" and selection["winner"] in selection["inside"]
    assert selection["serving"]["rows_per_s"] > 100 and "within one standard error" in selection["reason"]
    assert requests.get(f"{api}/health", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{api}/ready", timeout=10).json()["version"] == "1"


def test_json_and_csv_predictions_agree_with_the_registered_model(api, api_champion, customers):
    rows = customers.head(300)
    as_json = requests.post(f"{api}/predict", json={"records": rows.to_dict("records")}, timeout=60)
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert body["rows"] == 300 and body["version"] == "1" and as_json.headers["X-Model-Version"] == "1"
    assert [p["id"] for p in body["predictions"]] == rows["id"].tolist()
    assert [p["row"] for p in body["predictions"]] == list(range(1, 301))
    probability = np.array([p["probability"] for p in body["predictions"]])
    assert [p["label"] for p in body["predictions"]] == (probability >= body["threshold"]).astype(int).tolist()

    as_csv = csv_upload(api, gzip.compress(rows.to_csv(index=False).encode()), "customers.csv.gz")
    assert as_csv.status_code == 200, as_csv.text
    assert np.array_equal([p["probability"] for p in as_csv.json()["predictions"]], probability)

    mlflow.set_tracking_uri(api_champion)
    reference = mlflow.pyfunc.load_model(f"models:/{API_MODEL}@champion").predict(rows)
    assert np.max(np.abs(reference["probability"].to_numpy() - probability)) < 1e-12


def test_rank_orders_by_probability(api, customers):
    body = csv_upload(api, customers.head(200).to_csv(index=False).encode(), params={"rank": "true"}).json()
    probability = [p["probability"] for p in body["predictions"]]
    assert probability == sorted(probability, reverse=True)
    assert [p["rank"] for p in body["predictions"]] == list(range(1, 201))
    top = body["predictions"][0]
    assert customers["id"].iloc[top["row"] - 1] == top["id"]


def test_csv_answer_keeps_the_input_columns_and_adds_probability_and_label(api, customers):
    rows = customers.head(50)[["Vintage", "id", *customers.columns[1:-1]]]  # another column order
    sent = rows.to_csv(index=False).replace("\n", "\r\n").encode("utf-8-sig")  # BOM and CRLF
    answer = csv_upload(api, sent, headers={"Accept": "text/csv"}, params={"rank": "true"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(answer.text))
    assert list(table.columns) == [*rows.columns, "probability", "label", "rank"]
    assert table["probability"].is_monotonic_decreasing and table["rank"].tolist() == list(range(1, 51))
    original = rows.set_index("id").loc[table["id"]].reset_index()
    pd.testing.assert_frame_equal(table[rows.columns], original[rows.columns], check_dtype=False)


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1,2)", "\t=1"]


@pytest.mark.parametrize("form", ["csv", "json"])
def test_csv_answers_neutralise_formula_text_but_not_numbers(api, customers, form):
    rows = customers.head(len(FORMULAS) + 2).assign(note=[*FORMULAS, "plain", "-"], balance=-5.5)
    if form == "csv":
        answer = csv_upload(api, rows.to_csv(index=False).encode(), headers={"Accept": "text/csv"})
    else:
        answer = requests.post(f"{api}/predict", json={"records": rows.to_dict("records")},
                               headers={"Accept": "text/csv"}, timeout=30)
    assert answer.status_code == 200, answer.text
    table = pd.read_csv(io.StringIO(answer.text), dtype=str, keep_default_na=False)
    assert table["note"].tolist() == [*("'" + f for f in FORMULAS), "plain", "'-"]
    assert table["balance"].astype(float).tolist() == [-5.5] * len(rows)
    assert table["id"].astype(int).tolist() == rows["id"].tolist()
    assert table["Age"].astype(int).tolist() == rows["Age"].tolist()


def test_openapi_documents_both_request_forms(api):
    spec = requests.get(f"{api}/openapi.json", timeout=10).json()
    content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert content["application/json"]["examples"] and content["multipart/form-data"]["examples"]
    assert requests.get(f"{api}/docs", timeout=10).status_code == 200
    front = requests.get(f"{api}/", timeout=10, allow_redirects=False)
    assert front.status_code == 307 and front.headers["location"] == "/docs"


def test_every_reference_in_the_openapi_document_resolves_and_reload_declares_its_token(api):
    spec = requests.get(f"{api}/openapi.json", timeout=10).json()

    def refs(node):
        if isinstance(node, dict):
            yield from ([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(spec))
    assert found, "the document refers to no component at all"
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], f"{ref} does not resolve"
    json_form = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert json_form["properties"]["records"]["type"] == "array"
    assert spec["components"]["securitySchemes"]["reload token"] == {
        "type": "http", "scheme": "bearer", "description": "the RELOAD_TOKEN the service was started with"}
    assert spec["paths"]["/reload"]["post"]["security"] == [{"reload token": []}]


def test_drift_reports_every_feature_and_flags_a_shifted_batch(api, customers):
    batch = customers.head(1500)
    calm = csv_upload(api, batch.to_csv(index=False).encode(), params={"drift": "true"})
    assert calm.status_code == 200 and calm.headers["X-Drift"] == "none"
    report = {r["column"]: r for r in calm.json()["drift"]}
    assert set(report) == set(ROW) - {"id"}
    assert all(not r["drifted"] and r["psi"] < 0.2 and r["rows"] == 1500 for r in report.values()), report

    older = batch.assign(Age=batch["Age"] + 25)
    answer = csv_upload(api, older.to_csv(index=False).encode(), params={"drift": "true"},
                        headers={"Accept": "text/csv"})
    assert answer.status_code == 200 and answer.headers["X-Drift"].startswith("Age=")
    records = requests.post(f"{api}/predict", params={"drift": "true"}, timeout=60,
                            json={"records": older.head(500).to_dict("records")}).json()
    top = records["drift"][0]
    assert top["column"] == "Age" and top["drifted"] and top["psi"] > 0.2
    assert top["batch_share"] != top["training_share"]
    plain = requests.post(f"{api}/predict", json={"records": [ROW]}, timeout=10)
    assert "drift" not in plain.json() and "X-Drift" not in plain.headers


def test_models_lists_versions_with_metrics_and_the_reason_for_the_alias(api, api_champion):
    champion = str(MlflowClient(api_champion).get_model_version_by_alias(API_MODEL, "champion").version)
    body = requests.get(f"{api}/models", timeout=30).json()
    assert body["name"] == API_MODEL and body["serving_version"] == champion
    numbers = [int(v["version"]) for v in body["versions"]]
    assert numbers == sorted(numbers, reverse=True)
    current = next(v for v in body["versions"] if v["version"] == champion)
    assert "champion" in current["aliases"] and current["decision"]
    assert 0.5 < current["holdout_metrics"]["auc"] <= 1 and current["holdout_metrics"]["logloss"] > 0
    assert current["run_url"] == (f"{api_champion}/#/experiments/"
                                  f"{mlflow_experiment_of(api_champion, current['run_id'])}/runs/{current['run_id']}")
    assert requests.get(current["run_url"].split("#")[0], timeout=30).status_code == 200  # the MLflow UI


def mlflow_experiment_of(tracking_uri: str, run_id: str) -> str:
    return MlflowClient(tracking_uri).get_run(run_id).info.experiment_id


# ----------------------------------------------------------------------------------------------- bad input


def _body(customers: pd.DataFrame, rows: int = 5) -> str:
    return customers.head(rows).to_csv(index=False)


def _edit_cell(text: str, row: int, column: str, value: str) -> str:
    """``text`` with the cell at (1-based data ``row``, ``column``) replaced by ``value``."""
    lines = text.splitlines()
    cells = lines[row].split(",")
    cells[lines[0].split(",").index(column)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


BAD_CSV = {
    # name: (make the upload from a CSV text, expected status, column named (or None), text in the message)
    "missing column": (lambda t: pd.read_csv(io.StringIO(t)).drop(columns=["Age"]).to_csv(index=False).encode(),
                       422, "Age", "missing"),
    "wrong type": (lambda t: _edit_cell(t, 3, "Age", "old").encode(), 422, "Age", "expected a number"),
    "empty file": (lambda t: b"", 400, None, "empty"),
    "header only": (lambda t: t.splitlines()[0].encode() + b"\n", 400, None, "no data rows"),
    "not UTF-8": (lambda t: _edit_cell(t, 2, "Gender", "M\u00e4nnlich").encode("latin-1"), 400, None, "not UTF-8"),
    "semicolons": (lambda t: t.replace(",", ";").encode(), 400, None, "semicolon-delimited"),
    "ragged rows": (lambda t: (t + "1,2,3\n").encode(), 400, None, "malformed"),
    "too many bytes": (lambda t: (t + "\n".join(t.splitlines()[1:]) * 4000).encode(), 413, None,
                       str(MAX_UPLOAD_BYTES)),
    "gzip bomb": (lambda t: gzip.compress(t.encode() + b"0" * 50_000_000), 413, None, "decompressed"),
    "corrupt gzip": (lambda t: b"\x1f\x8b" + b"not gzip at all" * 10, 400, None, "corrupt"),
}


@pytest.mark.parametrize("case", BAD_CSV, ids=list(BAD_CSV))
def test_bad_csv_gets_a_4xx_naming_what_is_wrong_and_the_server_keeps_serving(api, customers, case):
    make, status, column, text = BAD_CSV[case]
    answer = csv_upload(api, make(_body(customers)))
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert text in body["detail"]
    if column:
        problem = next(p for p in body["problems"] if p["column"] == column)
        if case == "wrong type":
            assert problem["rows"] == [3] and "old" in problem["message"]
    if case == "not UTF-8":
        assert body["problems"][0]["rows"] == [2] and "row 2" in body["detail"]
    assert_still_serving(api)


def test_too_many_rows_is_413_with_the_limit(api, customers):
    many = pd.concat([customers] * 2).head(MAX_ROWS + 1).to_csv(index=False).encode()
    answer = csv_upload(api, gzip.compress(many))
    assert answer.status_code == 413 and str(MAX_ROWS) in answer.json()["detail"]
    assert_still_serving(api)


def test_declared_length_over_the_limit_is_refused_before_reading(api):
    host, port = api.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Type", "text/csv")
    connection.putheader("Content-Length", str(10**9))  # a 1 GB promise; only 10 bytes follow
    connection.endheaders()
    connection.send(b"x" * 10)
    answer = connection.getresponse()
    body = json.loads(answer.read())
    connection.close()
    assert answer.status == 413 and str(MAX_UPLOAD_BYTES) in body["detail"]
    assert_still_serving(api)


BAD_JSON = {
    "not json": (b"{records: [", 400, None, "not valid JSON"),
    "empty body": (b"", 400, None, "empty"),
    "no records key": (b'{"rows": []}', 422, "records", "records"),
    "empty list": (b'{"records": []}', 400, "records", "no records"),
    "record not an object": (b'{"records": [1, 2]}', 422, "records", "object"),
    "text in a number": (None, 422, "Age", "expected a number"),
    "missing column": (None, 422, "Vehicle_Damage", "missing"),
    "deeply nested": (b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, None, "JSON"),
    "infinity": (None, 422, "Age", "infinite"),
}


@pytest.mark.parametrize("case", BAD_JSON, ids=list(BAD_JSON))
def test_bad_json_gets_a_4xx_naming_what_is_wrong(api, case):
    raw, status, column, text = BAD_JSON[case]
    if case == "text in a number":
        raw = pd.Series({"records": [ROW, {**ROW, "Age": "forty"}]}).to_json().encode()
    elif case == "infinity":
        raw = json.dumps({"records": [{**ROW, "Age": float("inf")}]}).encode()  # Python writes Infinity
    elif case == "missing column":
        raw = pd.Series({"records": [{k: v for k, v in ROW.items() if k != "Vehicle_Damage"}]}).to_json().encode()
    answer = requests.post(f"{api}/predict", data=raw, headers={"content-type": "application/json"}, timeout=30)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert text in body["detail"] or any(text in p["message"] for p in body["problems"])
    if column:
        assert column in [p["column"] for p in body["problems"]]
    if case == "text in a number":
        assert next(p for p in body["problems"] if p["column"] == "Age")["rows"] == [2]
    assert_still_serving(api)


def test_unsupported_content_type_is_415(api):
    answer = requests.post(f"{api}/predict", data=b"<xml/>", headers={"content-type": "application/xml"}, timeout=10)
    assert answer.status_code == 415 and "multipart/form-data" in answer.json()["detail"]


def test_unseen_category_is_scored_as_missing_with_a_warning(api):
    answer = requests.post(f"{api}/predict", json={"records": [ROW, {**ROW, "Vehicle_Age": "> 40 Years"}]},
                           timeout=10)
    assert answer.status_code == 200
    (warning,) = answer.json()["warnings"]
    assert warning["column"] == "Vehicle_Age" and warning["rows"] == [2] and "scored as missing" in warning["message"]


# ------------------------------------------------------------------------------------- model versions


def _copy_of_version(client: MlflowClient, version: str) -> str:
    """A new registry version with the artifacts of ``version`` (a real, loadable version)."""
    return str(client.copy_model_version(f"models:/{API_MODEL}/{version}", API_MODEL).version)


def _broken_version(client: MlflowClient, tmp_path, how: str = "corrupt") -> str:
    """A new version whose MOJO is corrupt, or missing (its artifacts otherwise complete)."""
    champion = client.get_model_version_by_alias(API_MODEL, "champion")
    local = mlflow.artifacts.download_artifacts(champion.source, dst_path=str(tmp_path / how))
    mojo = next(p for p in Path(local).rglob("*.zip"))
    if how == "missing":
        mojo.unlink()
    else:
        mojo.write_bytes(b"this is not a MOJO")
    experiment = client.get_experiment_by_name(API_MODEL)
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name="broken-model"):
        mlflow.log_artifacts(local, "model")
        source, run_id = mlflow.get_artifact_uri("model"), mlflow.active_run().info.run_id
    return str(client.create_model_version(API_MODEL, source, run_id=run_id).version)


def test_reload_needs_the_bearer_token(api):
    assert requests.post(f"{api}/reload", timeout=10).status_code == 401
    wrong = requests.post(f"{api}/reload", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 403 and "not valid" in wrong.json()["detail"]
    right = requests.post(f"{api}/reload", headers={"Authorization": f"Bearer {RELOAD_TOKEN}"}, timeout=60)
    assert right.status_code == 200 and right.json()["changed"] is False


def test_reload_refuses_a_broken_version_and_swaps_in_a_good_one(api, api_champion, tmp_path):
    mlflow.set_tracking_uri(api_champion)
    client = MlflowClient()
    old = str(client.get_model_version_by_alias(API_MODEL, "champion").version)
    auth = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
    try:
        broken = _broken_version(client, tmp_path)
        client.set_registered_model_alias(API_MODEL, "champion", broken)
        answer = requests.post(f"{api}/reload", headers=auth, timeout=120).json()
        assert answer["changed"] is False and answer["version"] == old
        assert answer["load_error"]["version"] == broken
        card = requests.get(f"{api}/model", timeout=10).json()
        assert card["version"] == old and f"version {broken} failed to load" in card["load_error"]["message"]
        assert_still_serving(api)

        good = _copy_of_version(client, old)
        client.set_registered_model_alias(API_MODEL, "champion", good)
        answer = requests.post(f"{api}/reload", headers=auth, timeout=120).json()
        assert answer == {"changed": True, "version": good, "load_error": None}
        assert requests.post(f"{api}/predict", json={"records": [ROW]}, timeout=10).headers["X-Model-Version"] == good
    finally:
        client.set_registered_model_alias(API_MODEL, "champion", old)
        requests.post(f"{api}/reload", headers=auth, timeout=120)
    assert requests.get(f"{api}/model", timeout=10).json()["version"] == old


def test_a_version_whose_artifacts_are_missing_leaves_the_old_one_serving(api, api_champion, tmp_path):
    mlflow.set_tracking_uri(api_champion)
    client = MlflowClient()
    old = str(client.get_model_version_by_alias(API_MODEL, "champion").version)
    auth = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
    missing = _broken_version(client, tmp_path, how="missing")
    try:
        client.set_registered_model_alias(API_MODEL, "champion", missing)
        answer = requests.post(f"{api}/reload", headers=auth, timeout=120).json()
        assert answer["changed"] is False and answer["version"] == old
        assert f"version {missing} failed to load" in answer["load_error"]["message"]
        assert_still_serving(api)
    finally:
        client.set_registered_model_alias(API_MODEL, "champion", old)
        requests.post(f"{api}/reload", headers=auth, timeout=120)


def test_polling_picks_up_a_promoted_version_while_requests_flow(api_champion, tmp_path):
    """A promoted version goes live without a restart; a stream of requests sees no error; a broken
    version promoted afterwards leaves the good one serving."""
    process, url = start_api(api_champion, tmp_path / "api.log", POLL_SECONDS="1")
    mlflow.set_tracking_uri(api_champion)
    client = MlflowClient()
    old = str(client.get_model_version_by_alias(API_MODEL, "champion").version)
    seen, failures, stop = [], [], threading.Event()

    def stream() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                answer = session.post(f"{url}/predict", json={"records": [ROW]}, timeout=30)
                if answer.status_code != 200:
                    failures.append(answer.text)
                seen.append(answer.headers.get("X-Model-Version"))
            except requests.RequestException as exc:
                failures.append(repr(exc))

    worker = threading.Thread(target=stream)
    worker.start()
    try:
        new = _copy_of_version(client, old)
        client.set_registered_model_alias(API_MODEL, "champion", new)
        deadline = time.time() + 90
        while time.time() < deadline and requests.get(f"{url}/model", timeout=10).json()["version"] != new:
            time.sleep(0.5)
        time.sleep(1)
        assert requests.get(f"{url}/model", timeout=10).json()["version"] == new

        broken = _broken_version(client, tmp_path)
        client.set_registered_model_alias(API_MODEL, "champion", broken)
        deadline = time.time() + 90
        while time.time() < deadline and not (requests.get(f"{url}/model", timeout=10).json()["load_error"] or {}):
            time.sleep(0.5)
        card = requests.get(f"{url}/model", timeout=10).json()
        assert card["version"] == new and card["load_error"]["version"] == broken
        time.sleep(1)
    finally:
        stop.set()
        worker.join(timeout=60)
        client.set_registered_model_alias(API_MODEL, "champion", old)
        stop_process(process)
    assert not failures, failures[:3]
    assert seen[0] == old and seen[-1] == new
    assert seen.index(new) > 0 and all(v == new for v in seen[seen.index(new):])
