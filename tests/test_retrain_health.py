"""The pieces the compose trainer and H2O nodes rely on: the schedule's heartbeat, its healthcheck and the
H2O cloud's membership (unit tests; the real containers run in test_containers)."""

from __future__ import annotations

import threading
import time

import pytest

from automlkit import retrain
from automlkit.errors import ServiceTimeout
from automlkit.h2o_cluster import cloud_ready, flatfile_lines, node_names


def test_the_heartbeat_is_written_while_the_schedule_runs_and_stops_when_it_dies(tmp_path):
    path = tmp_path / "heartbeat"
    finish = threading.Event()
    schedule = threading.Thread(target=finish.wait)
    schedule.start()
    beat = retrain.beat_while_alive(schedule, path, every=0.05)
    time.sleep(0.2)
    assert retrain.heartbeat_age(path) < 1
    finish.set()
    schedule.join()
    beat.join(timeout=2)
    assert not beat.is_alive()
    written = path.stat().st_mtime
    time.sleep(0.2)
    assert path.stat().st_mtime == written  # a dead schedule leaves its heartbeat to go stale


def test_healthcheck_fails_on_a_stale_or_missing_heartbeat(tmp_path, monkeypatch, capsys):
    path = tmp_path / "heartbeat"
    monkeypatch.setattr(retrain, "HEARTBEAT", path)
    assert retrain.main(["--healthcheck"]) == 1  # none yet
    path.write_text(f"{time.time() - retrain.HEARTBEAT_STALE_SECONDS - 5:.0f}\n")
    assert retrain.main(["--healthcheck"]) == 1
    path.write_text(f"{time.time():.3f}\n")
    assert retrain.main(["--healthcheck"]) == 0
    assert "schedule heartbeat 0 s ago" in capsys.readouterr().out


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
