"""Start Voilà on the dashboard notebook with the settings it needs (``make dashboard``, compose, tests).

    python -m automlkit.dashboard_server --host 127.0.0.1 --port 8866

One place for the Voilà flags: the websocket message limit follows ``MAX_UPLOAD_BYTES`` (an upload travels
to the kernel as one message), idle kernels are culled after ``DASHBOARD_CULL_IDLE_SECONDS`` (each page load
starts a ~150 MB kernel), and no browser is opened.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .dashboard import DashboardSettings
from .settings import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "dashboard.ipynb"
#: Room for the widget message's framing around the file's bytes.
MESSAGE_SLACK = 16 * 1024 * 1024


def voila_arguments(host: str, port: int, notebook: Path = NOTEBOOK, cull_idle_seconds: int | None = None) -> list[str]:
    """Voilà's command-line arguments for ``notebook`` on ``host:port``."""
    if cull_idle_seconds is None:
        cull_idle_seconds = int(os.environ.get("DASHBOARD_CULL_IDLE_SECONDS") or 600)
    return [
        str(notebook), "--no-browser", f"--Voila.ip={host}", f"--port={port}",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
        f"--MappingKernelManager.cull_interval={max(1, min(60, cull_idle_seconds // 2))}",
        "--MappingKernelManager.cull_connected=True",
    ]


def tornado_settings(settings: DashboardSettings | None = None) -> dict:
    """Tornado settings: an upload reaches the kernel as one websocket message (an int: the command line
    would pass it as text)."""
    settings = settings or DashboardSettings.from_env()
    return {"websocket_max_message_size": settings.max_upload_bytes + MESSAGE_SLACK}


def main(argv: list[str] | None = None) -> None:
    """Run Voilà on the dashboard notebook until stopped."""
    from voila.app import Voila

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("DASHBOARD_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DASHBOARD_PORT") or 8866))
    args = parser.parse_args(argv)
    Voila.launch_instance(argv=voila_arguments(args.host, args.port), tornado_settings=tornado_settings())


if __name__ == "__main__":
    main()
