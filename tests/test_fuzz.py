"""Fuzzing the API from its own OpenAPI document (schemathesis) and with hand-made hostile bodies.

Whatever arrives, the answer is never a 5xx, every 4xx says what is wrong, and the server answers a normal
request afterwards. The server is a real uvicorn process serving the session's small champion.
"""

from __future__ import annotations

import gzip
import json
import socket
from collections import Counter
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from conftest import ROW, STRICT_MAX_UPLOAD_BYTES, assert_still_serving

pytestmark = pytest.mark.integration

MAX_UPLOAD_BYTES = STRICT_MAX_UPLOAD_BYTES
HEADER = ",".join(ROW)
LINE = ",".join(str(v) for v in ROW.values())

#: Requests generated per mode (derandomized: the same ones every run, so a failure can be replayed).
EXAMPLES = 120


@pytest.fixture(scope="module")
def fuzz_api(strict_api) -> str:
    """The session's API with small limits (shared with the OpenAPI contract test)."""
    return strict_api.url


@pytest.fixture(scope="module")
def api_schema(fuzz_api):
    return schemathesis.openapi.from_url(f"{fuzz_api}/openapi.json")


def assert_answers_well(response, url: str) -> None:
    """No 5xx; a 4xx carries a JSON ``detail`` that says what is wrong; the server still scores a row."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["detail"], str) and len(body["detail"]) > 10, body
        assert isinstance(body["problems"], list)
    assert_still_serving(url)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_generated_requests_never_get_a_5xx_and_every_4xx_says_why(api_schema, fuzz_api, mode):
    """Requests generated from the API's own OpenAPI document: valid ones (positive) and ones that break
    it (negative: wrong types, missing fields, bodies of the wrong shape), for every operation."""
    seen: Counter = Counter()
    accepted: list[tuple[str, str, str]] = []  # negative requests answered 2xx: (method, path, query sent)

    @given(case=api_schema.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(base_url=fuzz_api, timeout=60)
        seen[(case.method, case.path, response.status_code)] += 1
        if response.status_code < 400:
            accepted.append((case.method, case.path, urlsplit(response.request.url).query))
        assert_answers_well(response, fuzz_api)

    check()
    operations = {(method, path) for method, path, _ in seen}
    if mode is GenerationMode.POSITIVE:  # every operation was called
        assert {("POST", "/predict"), ("POST", "/reload"), ("GET", "/model"), ("GET", "/ready")} <= operations, seen
    else:  # only /predict (its body), /reload (its bearer token) and /monitoring (since, every) have input to
        # break; all refused with a 4xx
        assert operations == {("POST", "/predict"), ("POST", "/reload"), ("GET", "/monitoring")}
        # GET /monitoring's parameters are all optional: a generated query whose keys all serialise to nothing
        # (empty lists and objects) is sent as no query at all, a valid request
        assert all(method == "GET" and path == "/monitoring" and not query for method, path, query in accepted), \
            accepted
        assert all(400 <= status < 500 or path == "/monitoring" for _, path, status in seen), seen


def _raw(url: str, head: bytes, body: bytes = b"") -> tuple[int, dict]:
    """Send exactly ``head`` + ``body`` over a socket; returns (status, JSON body) of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head + body)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    payload = rest.split(b"\r\n\r\n", 1)[1]
    return int(status_line.split()[1]), json.loads(payload) if payload.strip() else {}


def _multipart(boundary: str = "XyZ") -> dict:
    """Headers of a multipart body with ``boundary`` (the hostile bodies below are written out by hand)."""
    return {"content-type": f"multipart/form-data; boundary={boundary}"}


HOSTILE = {
    # name: (headers, body, expected status, text in the answer: of a 4xx, in its body; of a 200, in its
    # warnings, and an empty text there means no warnings)
    "multipart without closing boundary": (
        _multipart(), b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n"
        + f"{HEADER}\n{LINE}\n".encode(), {400, 422}, ""),
    "multipart with no boundary": ({"content-type": "multipart/form-data"}, b"--a\r\n\r\n", {400, 422}, ""),
    "multipart garbage": (_multipart(), b"\x00\xff" * 1000, {400, 422}, ""),
    "multipart with two files": (_multipart(), (
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nx\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.csv\"\r\n\r\ny\r\n--XyZ--\r\n"),
        {400, 422}, ""),
    "gzip bomb": ({"content-type": "text/csv"}, gzip.compress(f"{HEADER}\n".encode() + b"1" * 200_000_000),
                  {413}, "decompressed"),
    "NaN in JSON": ({"content-type": "application/json"},
                    json.dumps({"records": [{**ROW, "Age": float("nan")}]}).encode(), {200}, ""),  # NaN = missing
    "-Infinity in JSON": ({"content-type": "application/json"},
                          json.dumps({"records": [{**ROW, "Annual_Premium": float("-inf")}]}).encode(), {422},
                          "Annual_Premium"),
    "deeply nested JSON object": ({"content-type": "application/json"},
                                  b'{"records": [' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}",
                                  {400, 422}, ""),
    "very long string": ({"content-type": "application/json"},
                         json.dumps({"records": [{**ROW, "Gender": "M" * 500_000}]}).encode(), {200},
                         "Gender: unseen category ['MMM"),
    "very long column name": ({"content-type": "text/csv"},
                              f"{HEADER},{'x' * 200_000}\n{LINE},1\n".encode(), {200},
                              "not a column of the model: passed through, not scored"),  # named, not refused
    "mismatched quoting": ({"content-type": "text/csv"}, f'{HEADER}\n"{LINE}\n{LINE}\n'.encode(), {400, 422}, ""),
    "quote inside a field": ({"content-type": "text/csv"},
                             (HEADER + "\n" + LINE.replace("Male", 'Ma"le') + "\n").encode(), {200},
                             """Gender: unseen category ['Ma"le']"""),
    "NUL bytes": ({"content-type": "text/csv"}, f"{HEADER}\n{LINE}\n".encode().replace(b",", b"\x00,", 3),
                  {400, 422}, ""),
    "only a BOM": ({"content-type": "text/csv"}, b"\xef\xbb\xbf", {400}, "empty"),
    "JSON null": ({"content-type": "application/json"}, b"null", {422}, "records"),
    "records of nulls": ({"content-type": "application/json"},
                         json.dumps({"records": [{k: None for k in ROW}]}).encode(), {200}, ""),  # all missing
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_bodies_get_a_clear_4xx_and_the_server_keeps_serving(fuzz_api, case):
    headers, body, expected, text = HOSTILE[case]
    response = requests.post(f"{fuzz_api}/predict", data=body, headers=headers, timeout=120)
    assert response.status_code in expected, f"{response.status_code}: {response.text[:500]}"
    assert_answers_well(response, fuzz_api)
    if response.status_code == 200:  # accepted: the one row is scored, and the warnings say what was odd
        answer = response.json()
        assert answer["rows"] == 1 and len(answer["predictions"]) == 1, str(answer)[:500]
        assert 0 < answer["predictions"][0]["probability"] < 1, answer["predictions"]
        warnings = [f"{w['column']}: {w['message']}" for w in answer["warnings"]]
        assert any(text in w for w in warnings) if text else warnings == [], [w[:200] for w in warnings]
    elif text:
        assert text in response.text


def test_a_one_gigabyte_promise_is_refused_before_the_body_arrives(fuzz_api):
    head = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1073741824\r\n"
            b"Connection: close\r\n\r\n")
    status, body = _raw(fuzz_api, head, b"id,Age\n1,2\n")
    assert status == 413 and str(MAX_UPLOAD_BYTES) in body["detail"]
    assert_answers_well(requests.get(f"{fuzz_api}/health", timeout=10), fuzz_api)


def test_a_chunked_body_past_the_limit_is_cut_off_with_a_413(fuzz_api):
    def chunks():
        yield f"{HEADER}\n".encode()
        for _ in range(MAX_UPLOAD_BYTES // len(LINE) + 100):
            yield f"{LINE}\n".encode()

    response = requests.post(f"{fuzz_api}/predict", data=chunks(), headers={"content-type": "text/csv"},
                             timeout=120)
    assert response.status_code == 413 and str(MAX_UPLOAD_BYTES) in response.json()["detail"]
    assert_answers_well(response, fuzz_api)
