"""Stops that lose nothing: a real API process stopped by a real SIGTERM or SIGINT while a request is in
flight finishes the request, runs its lifespan's shutdown (the monitoring recorder writes what is queued)
and exits; started again, ``GET /monitoring`` counts every row it answered.

The in-process JVM (JPype) used to take SIGTERM and SIGINT for itself and end the process at once
(``automlkit.mojo.HOST_KEEPS_SIGNALS``). Nothing here checks JVM options: every test sends the signal.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import REPO, ROW, TEST_CSV, VENV_BIN, free_port, stop_process, wait_http
from route_fixtures import TINY_MODEL_NAME, register_tiny_model

pytestmark = pytest.mark.integration

#: The commands that serve the API: the package's own (compose, ``make api``, ``make serve``) and the plain
#: uvicorn command of docs/api.md, with the exit status each gives after a graceful stop by a signal.
AUTOML_API = ("automl", "api")
UVICORN = ("uvicorn", "api.main:app")


def start(command: tuple[str, ...], tracking_uri: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    """The API on a free loopback port with a flush interval longer than any test: whatever reaches the
    store was written by the shutdown."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MODEL_NAME": TINY_MODEL_NAME,
           "MONITORING_FLUSH_SECONDS": "3600", "POLL_SECONDS": "0"}
    process = subprocess.Popen([str(VENV_BIN / command[0]), *command[1:], "--host", "127.0.0.1", "--port",
                                str(port)], cwd=REPO, env=env, stdout=open(log_path, "a"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/ready", process, timeout=120)
    except Exception:
        stop_process(process)
        raise RuntimeError(f"the API did not become ready: {log_path.read_text()[-3000:]}")
    return process, url


def post_with_signal_in_flight(url: str, body: bytes, send_signal) -> tuple[int, dict]:
    """POST ``body`` as ``text/csv`` to ``url``/predict, calling ``send_signal`` once the request is in flight
    and before its body is sent: with ``Expect: 100-continue`` the server answers ``100 Continue`` only when
    the route starts reading the body, so the signal arrives while the route is running, with no sleep."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall((f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n"
                      f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").encode())
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(4096)
            assert chunk, f"the server closed the connection before 100 Continue: {interim!r}"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100"), interim
        send_signal()
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(1 << 16):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def monitored_rows(url: str) -> tuple[int, dict]:
    """Rows ``GET /monitoring`` counts over every version, and the recorder's state."""
    report = requests.get(f"{url}/monitoring", timeout=60).json()
    return sum(v["rows"] for v in report["versions"]), report["recorder"]


@pytest.mark.parametrize("command, sent, exit_status", [
    (AUTOML_API, signal.SIGTERM, 0),
    (AUTOML_API, signal.SIGINT, 0),
    # uvicorn raises the signal again once it has drained and shut down, so that the process ends "by" it
    (UVICORN, signal.SIGTERM, -signal.SIGTERM),
], ids=["automl-api-SIGTERM", "automl-api-SIGINT", "uvicorn-SIGTERM"])
def test_a_signal_drains_the_request_in_flight_and_keeps_every_summary(command, sent, exit_status, tmp_path):
    tracking_uri = register_tiny_model(tmp_path)
    log_path = tmp_path / "api.log"
    body = b"".join(gzip.open(TEST_CSV).readlines()[:20_001])  # a header and 20,000 rows
    in_flight_rows = body.count(b"\n") - 1
    process, url = start(command, tracking_uri, log_path)
    try:
        sent_rows = 0
        for records in ([ROW], [ROW] * 200):  # single rows on the event loop, a batch in the worker
            assert requests.post(f"{url}/predict", json={"records": records}, timeout=60).status_code == 200
            sent_rows += len(records)
        rows, recorder = monitored_rows(url)
        assert (rows, recorder["written"], recorder["pending"]) == (0, 0, 2), "nothing may be flushed yet"

        status, answer = post_with_signal_in_flight(url, body, lambda: process.send_signal(sent))
        assert status == 200, answer
        assert answer["rows"] == in_flight_rows
        assert process.wait(timeout=90) == exit_status
    finally:
        stop_process(process)
    log = log_path.read_text()
    for line in ("Shutting down", "Application shutdown complete", "Finished server process"):
        assert line in log, f"uvicorn's graceful shutdown did not run ({line!r} missing):\n{log[-3000:]}"

    process, url = start(command, tracking_uri, log_path)
    try:
        rows, recorder = monitored_rows(url)
    finally:
        stop_process(process)
    assert rows == sent_rows + in_flight_rows, "summaries queued at the stop were lost"

