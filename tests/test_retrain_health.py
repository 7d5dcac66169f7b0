"""The pieces the compose services rely on: the schedule's heartbeat, the healthchecks (standard library only,
quick) and the H2O cloud's membership (unit tests; the real containers run in test_containers)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from automlkit import healthcheck, retrain
from automlkit.errors import ServiceTimeout
from automlkit.h2o_cluster import flatfile_lines, node_names
from automlkit.healthcheck import cloud_ready
from conftest import free_port, stand_in_http


def test_the_heartbeat_is_written_while_the_schedule_runs_and_stops_when_it_dies(tmp_path):
    path = tmp_path / "heartbeat"
    finish = threading.Event()
    schedule = threading.Thread(target=finish.wait)
    schedule.start()
    beat = retrain.beat_while_alive(schedule, path, every=0.05)
    time.sleep(0.2)
    assert healthcheck.heartbeat_age(path) < 1
    finish.set()
    schedule.join()
    beat.join(timeout=2)
    assert not beat.is_alive()
    written = path.stat().st_mtime
    time.sleep(0.2)
    assert path.stat().st_mtime == written  # a dead schedule leaves its heartbeat to go stale


def test_the_trainer_check_fails_on_a_stale_or_missing_heartbeat(tmp_path, monkeypatch, capsys):
    path = tmp_path / "heartbeat"
    monkeypatch.setattr(healthcheck, "HEARTBEAT", path)
    assert healthcheck.main(["heartbeat"]) == 1  # none yet
    assert "no schedule heartbeat yet" in capsys.readouterr().out
    path.write_text(f"{time.time() - healthcheck.HEARTBEAT_STALE_SECONDS - 5:.0f}\n")
    assert healthcheck.main(["heartbeat"]) == 1
    assert "(stale after 60 s)" in capsys.readouterr().out
    path.write_text(f"{time.time():.3f}\n")
    assert healthcheck.main(["heartbeat"]) == 0
    assert "schedule heartbeat 0 s ago" in capsys.readouterr().out


def test_the_schedule_writes_the_heartbeat_the_check_reads():
    assert retrain.HEARTBEAT is healthcheck.HEARTBEAT  # one path, defined once
    assert retrain.beat_while_alive.__defaults__ == (healthcheck.HEARTBEAT, healthcheck.HEARTBEAT_SECONDS)
    assert healthcheck.HEARTBEAT_SECONDS * 5 < healthcheck.HEARTBEAT_STALE_SECONDS


class _Answers(BaseHTTPRequestHandler):
    """``/ok`` 200, ``/ready`` 503 with a JSON reason, ``/3/Cloud`` a two-node cloud that is still forming."""

    def do_GET(self):
        status, body = {"/ok": (200, b"{}"),
                        "/ready": (503, b'{"detail": "no model loaded yet"}'),
                        "/3/Cloud": (200, json.dumps({"cloud_size": 1, "consensus": True,
                                                      "cloud_healthy": True}).encode())}.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_http_and_h2o_checks_say_what_they_saw():
    with stand_in_http(_Answers) as url:
        assert healthcheck.check_http(f"{url}/ok") == (True, f"GET {url}/ok: 200")
        assert healthcheck.check_http(f"{url}/ready") == (
            False, f'GET {url}/ready: 503 {{"detail": "no model loaded yet"}}')
        assert healthcheck.check_h2o(url, 1) == (True, "1 of 1 node(s), healthy: True, consensus: True")
        assert healthcheck.check_h2o(url, 2)[0] is False
    down = f"http://127.0.0.1:{free_port()}"
    healthy, seen = healthcheck.check_http(f"{down}/ready")
    assert not healthy and "Connection refused" in seen
    healthy, seen = healthcheck.check_h2o(down, 1)
    assert not healthy and seen.startswith(f"H2O at {down}:")


def test_the_checks_import_only_the_standard_library_and_answer_at_once(tmp_path):
    probe = ("import sys, time; started = time.perf_counter(); import automlkit.healthcheck; "
             "print(time.perf_counter() - started); print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    seconds, modules = out.splitlines()
    foreign = {m.split(".")[0] for m in modules.split()} - set(sys.stdlib_module_names) - {"automlkit"}
    foreign = {m for m in foreign if not m.startswith(("_", "__editable__"))}
    assert not foreign, f"the healthcheck imports {sorted(foreign)}"
    assert not {m for m in modules.split() if m.startswith("automlkit.")} - {"automlkit.healthcheck"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "automlkit.healthcheck", "heartbeat"], capture_output=True,
                            text=True)
    wall = time.perf_counter() - started
    assert result.returncode in (0, 1) and "heartbeat" in result.stdout
    print(f"\nhealthcheck import {float(seconds) * 1000:.0f} ms, a whole check {wall * 1000:.0f} ms")
    assert wall < 1.0


def test_parameters_must_be_a_yaml_mapping(capsys):
    with pytest.raises(SystemExit):
        retrain.main(["--parameters", "[1, 2]"])
    assert "--parameters must be a YAML mapping" in capsys.readouterr().err


def test_the_cloud_is_named_after_the_compose_services_and_resolved():
    assert node_names(1) == ["h2o"]
    assert node_names(3) == ["h2o", "h2o-2", "h2o-3"]
    assert flatfile_lines(["localhost"]) == ["127.0.0.1:54321"]
    with pytest.raises(ServiceTimeout, match="'no-such-node.invalid' does not resolve"):
        flatfile_lines(["no-such-node.invalid"], timeout=0)


@pytest.mark.parametrize("state,size,ready", [
    ({"cloud_size": 2, "consensus": True, "cloud_healthy": True}, 2, True),
    ({"cloud_size": 1, "consensus": True, "cloud_healthy": True}, 2, False),
    ({"cloud_size": 2, "consensus": False, "cloud_healthy": True}, 2, False),
    ({"cloud_size": 2, "consensus": True, "cloud_healthy": False}, 2, False),
    ({"cloud_size": 3, "consensus": True, "cloud_healthy": True}, 0, True),
    ({"cloud_size": 3, "consensus": False, "cloud_healthy": True}, 0, False),
])
def test_a_cloud_is_ready_only_whole_healthy_and_agreed(state, size, ready):
    assert cloud_ready(state, size) is ready
