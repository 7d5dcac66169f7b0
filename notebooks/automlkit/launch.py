"""Start the MLflow UI, the prediction API and the dashboard as local processes (``make run``, ``make serve``).

    python -m automlkit.launch [--host 127.0.0.1] [--mlflow-port 5000] [--api-port 8000] [--dashboard-port 8866]

Each service is started with its own command (``mlflow server``, ``automl api`` (uvicorn on
``api.main:app``), ``python -m automlkit.dashboard_server``) in its own process group; once all answer, the three URLs are
printed. Ctrl-C (or SIGTERM) stops them by PID.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .log_config import configure_logging
from .settings import TrainingSettings

log = logging.getLogger("automlkit.launch")
BIN = Path(sys.executable).parent


@dataclass
class Service:
    """One started process and the URL that says it is up."""

    name: str
    command: list[str]
    ready_url: str
    env: dict
    process: subprocess.Popen | None = None


def services(host: str, mlflow_port: int, api_port: int, dashboard_port: int) -> list[Service]:
    """The three services, wired to each other: the API reads the registry through the MLflow server."""
    settings = TrainingSettings.load()
    tracking = settings.tracking_uri
    mlflow_url = f"http://{host}:{mlflow_port}"
    api_url = f"http://{host}:{api_port}"
    Path(settings.artifact_root).mkdir(parents=True, exist_ok=True)
    mlflow_command = [str(BIN / "mlflow"), "server", "--host", host, "--port", str(mlflow_port), "--workers", "1"]
    if settings.is_embedded:  # serve the embedded store; otherwise only the UI of the configured server
        mlflow_command += ["--backend-store-uri", tracking, "--default-artifact-root", settings.artifact_root]
    api_tracking = mlflow_url if settings.is_embedded else tracking
    return [
        Service("MLflow UI", mlflow_command, f"{mlflow_url}/health", {}),
        Service("API docs", [str(BIN / "automl"), "api", "--host", host, "--port", str(api_port)],
                f"{api_url}/health", {"MLFLOW_TRACKING_URI": api_tracking}),
        Service("Dashboard", [sys.executable, "-m", "automlkit.dashboard_server", "--host", host, "--port",
                              str(dashboard_port)], f"http://{host}:{dashboard_port}/", {"API_URL": api_url}),
    ]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


def start(service: Service, log_dir: Path) -> None:
    """Start ``service`` in its own process group, its output in ``log_dir/<name>.log``."""
    log_file = open(log_dir / f"{service.name.split()[0].lower()}.log", "a")
    service.process = subprocess.Popen(service.command, env={**os.environ, **service.env},
                                       stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    log.info("started %s (pid %d): %s", service.name, service.process.pid, " ".join(service.command))


def stop_process(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """Stop a process group started with ``start_new_session`` by PID: TERM, then KILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    """Start everything, print the URLs, wait until interrupted or a service dies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--dashboard-port", type=int, default=8866)
    parser.add_argument("--log-dir", default=None, help="where each service logs (default: MLRUNS_DIR/logs)")
    args = parser.parse_args(argv)
    settings = TrainingSettings.load()
    configure_logging(settings.log_level)
    log_dir = Path(args.log_dir or settings.mlruns_dir / "logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = services(args.host, args.mlflow_port, args.api_port, args.dashboard_port)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        for service in stack:
            start(service, log_dir)
            deadline = time.time() + 180
            while not _answers(service.ready_url):
                if service.process.poll() is not None or time.time() > deadline:
                    log.error("%s did not start; see %s", service.name, log_dir)
                    return 1
                time.sleep(0.5)
        urls = {"MLflow UI": stack[0].ready_url.removesuffix("/health"),
                "API docs": stack[1].ready_url.removesuffix("/health") + "/docs", "Dashboard": stack[2].ready_url}
        print("\n".join(f"  {name:10} {url}" for name, url in urls.items()), flush=True)
        print("Ctrl-C stops all three.", flush=True)
        while not stopping and all(s.process.poll() is None for s in stack):
            time.sleep(1)
        dead = [s.name for s in stack if s.process.poll() is not None]
        if dead:
            log.error("%s stopped; stopping the rest (logs in %s)", ", ".join(dead), log_dir)
            return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for service in reversed(stack):
            stop_process(service.process)


if __name__ == "__main__":
    sys.exit(main())
