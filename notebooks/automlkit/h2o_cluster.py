"""Start (or attach to) an H2O cluster without touching anybody else's.

``h2o.init()`` with no port attaches to whatever listens on 54321 and a later shutdown kills it.
Here a local JVM is always started on a free port with its own ``ice_root``, and only that JVM is stopped.
H2O starts its JVM in a session of its own and stops it only from an ``atexit`` hook, so a process that is
killed (a training run killed halfway, its kernel gone) would leave it running: a small watchdog process
stops the JVM as soon as the process that started it is gone.

    python -m automlkit.h2o_cluster --watch OWNER_PID JVM_PID ICE_ROOT   (started by H2OCluster itself)
    python -m automlkit.h2o_cluster --node      (the compose `h2o` services: one node of H2O_NODES)

Their healthcheck is ``python -m automlkit.healthcheck h2o URL --size N`` (standard library only; what a
ready cloud is, :func:`~automlkit.healthcheck.cloud_ready`, is defined there).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from pathlib import Path

import h2o
from h2o.backend import H2OLocalServer
from h2o.job import H2OJob
from h2o.utils.progressbar import ProgressBarWidget, RenderResult

from .errors import ServiceError, ServiceTimeout
from .healthcheck import cloud_ready, cloud_state
from .java_build import h2o_jar
from .log_config import configure_logging
from .settings import H2oNodeSettings

log = logging.getLogger(__name__)


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port ``p`` such that ``p`` and ``p + 1`` are free (H2O uses both)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind((host, port))
                second.bind((host, port + 1))
            return port
        except OSError:
            continue
    raise ServiceError("no free pair of ports found for H2O")


def key_tag(run_id: str) -> str:
    """The part every H2O key a training run creates carries in its name (the tuned XGBoost, AutoML's project,
    the joint stack): its MLflow run's id, so that on a shared cluster two runs never collide and each job
    can be told to belong to its run; the time when there is no run id."""
    return f"run{run_id[:12]}" if run_id else f"t{time.time_ns()}"


class _JobLine(ProgressBarWidget):
    """H2O's progress display as one line when a job ends: what it was, how far it got, how long it took.

    H2O's own bar, when its output is not a terminal (a notebook run by papermill), writes one block character
    per step; a job longer than a flush of the kernel's output then reaches the training log as a line per
    character (62 in one ``make run``). A short job's bar was one line already: it stays one, readable."""

    def __init__(self, job_type: str):
        super().__init__()
        self.job_type = job_type
        self.started = time.monotonic()

    def render(self, progress, width=None, status=None):
        elapsed = time.monotonic() - self.started
        if status in (None, "init"):
            return RenderResult("", length=0, next_progress=1.0)  # render again only at the end
        how = "" if status == "done" else f" ({status})"
        return RenderResult(f"H2O {self.job_type}: {progress:.0%} in {elapsed:.1f} s{how}")


class _OneLinePerJob:
    """The factory of an H2O job's progress widgets (``H2OJob.__PROGRESS_WIDGETS__``, a descriptor like H2O's)."""

    def __get__(self, job, owner=None):
        return self if job is None else [_JobLine(job._job_type)]


def one_line_progress() -> None:
    """H2O jobs report as one line each (:class:`_JobLine`) instead of H2O's progress bar; AutoML's own event
    lines (``verbosity``) are printed as before."""
    H2OJob.__PROGRESS_WIDGETS__ = _OneLinePerJob()


class H2OCluster:
    """A connection to H2O: to the cluster at ``url``, or to a private local JVM started on a free port.

    :meth:`stop` shuts down only a JVM this object started (an existing cluster is left to its owner);
    the JVM is also stopped at interpreter exit. Usable as a context manager.
    """

    def __init__(self, url: str = "", nthreads: int = -1, max_mem_size: str | None = None, nodes: int = 0):
        self.url = url
        self.server: H2OLocalServer | None = None
        self.ice_root: str | None = None
        self.watchdog: subprocess.Popen | None = None
        one_line_progress()
        if url:
            # a cluster started beside us (compose) may still be forming: wait for it rather than fail, and
            # for all ``nodes`` of it, since H2O locks the cloud at its size when the first job arrives
            wait_for_cloud(url, nodes)
            log.info("connecting to the existing H2O cluster at %s", url)
            h2o.connect(url=url, verbose=False, strict_version_check=False)
            return
        self.ice_root = tempfile.mkdtemp(prefix="h2o-ice-")
        port = free_port_pair()
        log.info("starting a local H2O JVM on 127.0.0.1:%d (ice_root %s)", port, self.ice_root)
        self.server = H2OLocalServer.start(
            nthreads=nthreads, max_mem_size=_memory_bytes(max_mem_size), ice_root=self.ice_root,
            log_dir=self.ice_root, port=port, verbose=False, bind_to_localhost=True, name=f"automlkit-{port}")
        self.url = f"http://127.0.0.1:{port}"
        self.watchdog = subprocess.Popen(
            [sys.executable, "-m", "automlkit.h2o_cluster", "--watch", str(os.getpid()),
             str(self.server._process.pid), self.ice_root], start_new_session=True)
        h2o.connect(server=self.server, verbose=False)

    @property
    def nodes(self) -> int:
        """Number of nodes in the cluster."""
        return int(h2o.cluster().cloud_size)

    def describe(self) -> dict[str, str]:
        """What the run was trained on: the cluster's URL, its node count and H2O version (MLflow tags)."""
        cluster = h2o.cluster()
        return {"h2o_url": self.url, "h2o_nodes": str(cluster.cloud_size), "h2o_version": cluster.version,
                "h2o_cluster_started": str(self.server is not None).lower()}

    def stop(self) -> None:
        """Close the connection; stop the JVM if this object started it, and remove its ice_root."""
        with contextlib.suppress(Exception):
            h2o.connection().close()
        if self.server is not None:
            self.server.shutdown()
            log.info("stopped the local H2O JVM at %s", self.url)
            self.server = None
        if self.watchdog is not None:
            self.watchdog.terminate()
            self.watchdog.wait(timeout=10)
            self.watchdog = None
        if self.ice_root:
            shutil.rmtree(self.ice_root, ignore_errors=True)
            self.ice_root = None

    def __enter__(self) -> "H2OCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_for_cloud(url: str, size: int, timeout: float = 600, still_starting=lambda: True) -> dict:
    """Wait until the node at ``url`` reports a healthy cloud of ``size`` nodes (0: any); returns its state.

    ``still_starting`` is asked between tries: when it returns False (the nodes exited), waiting stops.
    """
    deadline = time.time() + timeout
    state: dict = {}
    while time.time() < deadline and still_starting():
        try:
            state = cloud_state(url)
            if cloud_ready(state, size):
                return state
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(1)
    raise ServiceTimeout(f"no healthy {size}-node H2O cloud at {url} within {timeout:.0f} s "
                       f"(last seen: {state.get('cloud_size', 'no answer')} node(s))")


#: The compose services that make the cloud: ``h2o``, then ``h2o-2`` ... ``h2o-N`` (docker-compose.yml).
NODE_SERVICE = "h2o"
NODE_PORT = 54321


def node_names(nodes: int, service: str = NODE_SERVICE) -> list[str]:
    """Host names of the ``nodes`` compose services that form the cloud."""
    return [service] + [f"{service}-{i}" for i in range(2, nodes + 1)]


def flatfile_lines(names: list[str], timeout: float = 300) -> list[str]:
    """``ip:port`` of every node, waiting until each name resolves (the others may still be starting)."""
    deadline = time.time() + timeout
    lines = []
    for name in names:
        while True:
            try:
                lines.append(f"{socket.gethostbyname(name)}:{NODE_PORT}")
                break
            except OSError:
                if time.time() > deadline:
                    raise ServiceTimeout(f"H2O node {name!r} does not resolve after {timeout:.0f} s") from None
                time.sleep(1)
    return lines


def run_node(nodes: int, memory: str, cloud_name: str) -> None:
    """Replace this process with one H2O node of a ``nodes``-node cloud (a flatfile of the services' IPs)."""
    command = ["java", f"-Xmx{memory}", "-jar", str(h2o_jar()), "-name", cloud_name, "-port", str(NODE_PORT)]
    if nodes > 1:
        flatfile = Path(tempfile.mkdtemp(prefix="h2o-")) / "flatfile.txt"
        flatfile.write_text("".join(f"{line}\n" for line in flatfile_lines(node_names(nodes))))
        log.info("H2O cloud of %d nodes: %s", nodes, flatfile.read_text().split())
        command += ["-flatfile", str(flatfile)]
    os.execvp(command[0], command)


def _memory_bytes(size: str | None) -> int | None:
    """'4G' / '512M' -> bytes; None stays None (the JVM's default)."""
    if not size:
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    size = size.strip().upper()
    if size[-1] in units:
        return int(float(size[:-1]) * units[size[-1]])
    return int(size)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: its parent has just not collected it yet
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def watch(owner: int, jvm: int, ice_root: str, every: float = 1.0) -> None:
    """Stop the JVM ``jvm`` (TERM, then KILL) and remove ``ice_root`` once process ``owner`` is gone."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the owner stopped the JVM itself
    while _alive(owner):
        if not _alive(jvm):
            return
        time.sleep(every)
    log.warning("process %d is gone: stopping its H2O JVM %d", owner, jvm)
    with contextlib.suppress(ProcessLookupError):
        os.kill(jvm, signal.SIGTERM)
        deadline = time.time() + 10
        while _alive(jvm) and time.time() < deadline:
            time.sleep(0.2)
        if _alive(jvm):
            os.kill(jvm, signal.SIGKILL)
    shutil.rmtree(ice_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """The watchdog or a compose H2O node."""
    parser = argparse.ArgumentParser(description="H2O helpers: JVM watchdog, compose node")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--watch", nargs=3, metavar=("OWNER_PID", "JVM_PID", "ICE_ROOT"),
                      help="stop an H2O JVM when the process that started it is gone")
    mode.add_argument("--node", action="store_true",
                      help="run one node of a cloud of H2O_NODES (default 1) nodes with H2O_MEMORY (default 4g)")
    parser.add_argument("--size", type=int, default=None, help="nodes of the cloud (default: H2O_NODES)")
    args = parser.parse_args(argv)
    node = H2oNodeSettings.load()
    configure_logging(node.log_level)
    size = args.size or node.nodes
    if args.watch:
        owner_pid, jvm_pid, ice = args.watch
        watch(int(owner_pid), int(jvm_pid), ice)
    else:
        run_node(size, node.memory, node.cloud_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
