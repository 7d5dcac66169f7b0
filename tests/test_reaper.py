"""Runs left RUNNING by a training process killed outright (SIGKILL) are marked KILLED by the next training,
from evidence (the owner's pid on this host, the heartbeat from another); a live run never is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from automlkit import run_training
from automlkit.run_training import STALE_SECONDS, dead_run_reason, reap_dead_runs
from conftest import REPO, SHIPPED_TARGET


def test_evidence_decides_a_dead_run():
    now = 1_000_000.0
    # a live process whose command line is a training's
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "automlkit.run_training"])
    try:
        while not Path(f"/proc/{trainer.pid}/cmdline").read_bytes():  # until it has exec'd
            time.sleep(0.01)
        mine = {"owner_host": "here", "owner_pid": str(trainer.pid), "heartbeat": str(now)}
        assert dead_run_reason(mine, now, "here") == ""
        # a live pid that is not a training (the pid was reused) is no owner
        other = {**mine, "owner_pid": str(os.getpid())}
        assert dead_run_reason(other, now, "here") == f"its training process (pid {os.getpid()} on here) is gone"
    finally:
        trainer.kill()
        trainer.wait()
    gone = {**mine, "owner_pid": "999999999"}
    assert dead_run_reason(gone, now, "here") == "its training process (pid 999999999 on here) is gone"
    away = {"owner_host": "elsewhere", "owner_pid": "12", "heartbeat": str(now - STALE_SECONDS - 5)}
    assert dead_run_reason(away, now, "here").startswith(f"its heartbeat stopped {STALE_SECONDS + 5} s ago")
    assert dead_run_reason({**away, "heartbeat": str(now - 5)}, now, "here") == ""  # beating: alive
    assert dead_run_reason({}, now, "here") == ""  # a run started by hand: no evidence, left alone


def _start(tracking_uri: str, data, output_dir) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    return subprocess.Popen([sys.executable, "-m", "automlkit.run_training", "-p", "data_path", str(data), *SHIPPED_TARGET,
                             "-p", "sample_rows", "2000", "-p", "max_runtime_secs", "30", "-p", "experiment_name",
                             "reaper", "--output-dir", str(output_dir)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _running(client: MlflowClient, experiment_name: str, timeout: float = 120) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment:
            runs = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
            if runs:
                return runs
        time.sleep(0.5)
    raise AssertionError("no RUNNING run appeared")


@pytest.mark.integration
def test_a_sigkilled_training_run_is_marked_killed_and_a_live_one_is_not(tmp_path, monkeypatch):
    from conftest import TRAIN_CSV

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    victim = _start(uri, TRAIN_CSV, tmp_path)
    try:
        run = _running(client, "reaper")[0]
        assert run.data.tags["owner_pid"] == str(victim.pid)
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # nobody closed it

    survivor = _start(uri, TRAIN_CSV, tmp_path)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and client.get_run(run.info.run_id).info.status == "RUNNING":
            time.sleep(0.5)  # the next training reaps it as it starts
        dead = client.get_run(run.info.run_id)
        assert dead.info.status == "KILLED"
        assert dead.data.tags["killed_reason"].endswith(f"its training process (pid {victim.pid} on "
                                                        f"{os.uname().nodename}) is gone")
        live = [r for r in _running(client, "reaper") if r.info.run_id != run.info.run_id]
        experiment = client.get_experiment_by_name("reaper").experiment_id
        assert live and reap_dead_runs(client, experiment) == []  # the survivor is alive: left alone
        assert client.get_run(live[0].info.run_id).info.status == "RUNNING"
    finally:
        os.killpg(survivor.pid, signal.SIGTERM)
        survivor.wait(timeout=120)
    assert run_training.HEARTBEAT_SECONDS < STALE_SECONDS
