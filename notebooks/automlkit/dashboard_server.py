"""Start Voilà on the dashboard notebook with the settings it needs (``make dashboard``, compose, tests).

    python -m automlkit.dashboard_server --host 127.0.0.1 --port 8866

One place for the Voilà flags: the websocket message limit follows ``MAX_UPLOAD_BYTES`` (an upload travels
to the kernel as one message), idle kernels are culled after ``DASHBOARD_CULL_IDLE_SECONDS`` (each page load
starts a ~150 MB kernel), and no browser is opened.
"""

from __future__ import annotations

import argparse

from .log_config import configure_logging
from .settings import DashboardSettings

#: Room for the widget message's framing around the file's bytes.
MESSAGE_SLACK = 16 * 1024 * 1024


def voila_arguments(settings: DashboardSettings) -> list[str]:
    """Voilà's command-line arguments: the dashboard notebook on the settings' host and port."""
    cull_idle_seconds = settings.cull_idle_seconds
    return [
        str(settings.notebook), "--no-browser", f"--Voila.ip={settings.host}", f"--port={settings.port}",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
        f"--MappingKernelManager.cull_interval={max(1, min(60, cull_idle_seconds // 2))}",
        "--MappingKernelManager.cull_connected=True",
    ]


def tornado_settings(settings: DashboardSettings) -> dict:
    """Tornado settings: an upload reaches the kernel as one websocket message (an int: the command line
    would pass it as text)."""
    return {"websocket_max_message_size": settings.max_upload_bytes + MESSAGE_SLACK}


def main(argv: list[str] | None = None) -> None:
    """Run Voilà on the dashboard notebook until stopped."""
    from voila.app import Voila

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="interface to bind (default: DASHBOARD_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: DASHBOARD_PORT, 8866)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = DashboardSettings.load(**overrides)
    configure_logging(settings.log_level)
    Voila.launch_instance(argv=voila_arguments(settings), tornado_settings=tornado_settings(settings))


if __name__ == "__main__":
    main()
