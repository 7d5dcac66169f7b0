"""`make serve` / `make run`'s launcher starts the three services with their own commands and stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests

from conftest import REPO, free_port

pytestmark = pytest.mark.integration


def test_launcher_starts_mlflow_api_and_dashboard_and_stops_them_by_pid(tmp_path):
    ports = [free_port() for _ in range(3)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
    process = subprocess.Popen(
        [sys.executable, "-m", "automlkit.launch", "--mlflow-port", str(ports[0]), "--api-port", str(ports[1]),
         "--dashboard-port", str(ports[2]), "--log-dir", str(tmp_path / "logs")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not any("Ctrl-C" in line for line in lines):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
        output = "".join(lines)
        assert "Ctrl-C" in output, output[-3000:]
        for url in (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}/docs",
                    f"http://127.0.0.1:{ports[2]}/"):
            assert url in output
            assert requests.get(url, timeout=60).status_code == 200
        # no champion in this empty store: the API is alive but says why it is not ready
        ready = requests.get(f"http://127.0.0.1:{ports[1]}/ready", timeout=10)
        assert ready.status_code == 503 and "no model is loaded" in ready.json()["detail"]
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 3
        # started without --host: every service listens on loopback only
        listening = {(c.laddr.ip, c.laddr.port) for child in children if child.is_running()
                     for c in child.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        assert {port for _, port in listening} >= set(ports)
        assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
    time.sleep(1)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
