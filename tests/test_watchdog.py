"""The H2O JVM watchdog stops the JVM (here a stand-in process) once the process that started it is gone."""

from __future__ import annotations

import subprocess
import sys
import time

from conftest import REPO


def _gone(process: subprocess.Popen, timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def _watch(owner: subprocess.Popen, jvm: subprocess.Popen, ice_root) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "automlkit.h2o_cluster", "--watch", str(owner.pid),
                             str(jvm.pid), str(ice_root)], cwd=REPO)


def test_the_jvm_is_stopped_and_its_ice_root_removed_when_its_owner_dies(tmp_path):
    ice_root = tmp_path / "ice"
    (ice_root / "h2o").mkdir(parents=True)
    owner = subprocess.Popen(["sleep", "600"])
    jvm = subprocess.Popen(["sleep", "600"])
    watchdog = _watch(owner, jvm, ice_root)
    try:
        time.sleep(1.5)
        assert jvm.poll() is None and watchdog.poll() is None  # the owner lives: nothing happens
        owner.kill()  # killed at once, no exit hook; it stays a zombie until reaped
        assert _gone(jvm, 15), "the watchdog did not stop the JVM"
        assert _gone(watchdog, 15) and watchdog.returncode == 0
        assert not ice_root.exists()
    finally:
        for process in (owner, jvm, watchdog):
            process.kill()
            process.wait()


def test_the_watchdog_leaves_when_the_owner_stopped_the_jvm_itself(tmp_path):
    owner = subprocess.Popen(["sleep", "600"])
    jvm = subprocess.Popen(["sleep", "600"])
    watchdog = _watch(owner, jvm, tmp_path)
    try:
        time.sleep(1)
        jvm.kill()
        jvm.wait()
        assert _gone(watchdog, 15)
        assert owner.poll() is None and tmp_path.exists()
    finally:
        for process in (owner, jvm, watchdog):
            process.kill()
            process.wait()
