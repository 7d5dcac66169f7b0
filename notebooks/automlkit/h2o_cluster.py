"""Start (or attach to) an H2O cluster without touching anybody else's.

``h2o.init()`` with no port attaches to whatever listens on 54321 and a later shutdown kills it.
Here a local JVM is always started on a free port with its own ``ice_root``, and only that JVM is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import tempfile

import h2o
from h2o.backend import H2OLocalServer

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
    raise RuntimeError("no free pair of ports found for H2O")


class H2OCluster:
    """A connection to H2O: to the cluster at ``url``, or to a private local JVM started on a free port.

    :meth:`stop` shuts down only a JVM this object started (an existing cluster is left to its owner);
    the JVM is also stopped at interpreter exit. Usable as a context manager.
    """

    def __init__(self, url: str = "", nthreads: int = -1, max_mem_size: str | None = None):
        self.url = url
        self.server: H2OLocalServer | None = None
        self.ice_root: str | None = None
        if url:
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
        if self.ice_root:
            shutil.rmtree(self.ice_root, ignore_errors=True)
            self.ice_root = None

    def __enter__(self) -> "H2OCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _memory_bytes(size: str | None) -> int | None:
    """'4G' / '512M' -> bytes; None stays None (the JVM's default)."""
    if not size:
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    size = size.strip().upper()
    if size[-1] in units:
        return int(float(size[:-1]) * units[size[-1]])
    return int(size)
