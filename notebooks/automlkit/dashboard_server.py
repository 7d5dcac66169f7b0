"""Start Voilà on the dashboard notebook with the settings it needs (``make dashboard``, compose, tests).

    python -m automlkit.dashboard_server --host 127.0.0.1 --port 8866

One place for the Voilà flags: the websocket message limit follows ``MAX_UPLOAD_BYTES`` (an upload travels
to the kernel as one message), idle kernels are culled after ``DASHBOARD_CULL_IDLE_SECONDS`` (each page load
starts a ~150 MB kernel), and no browser is opened.

Downloads: each page's kernel writes its scored CSV to a folder of its own under a temporary folder of this
server (``<downloads>/<kernel id>/<token>/<name>``, :class:`DownloadFolder`), and the server serves it as a
plain file at ``<server url>voila/downloads/...`` (:class:`DownloadHandler`), so a million scored rows reach
the browser as a normal download instead of a data URI held in the page. A kernel's folder goes when the
kernel goes (culled, shut down, or the server stopped), checked every ``cull_interval``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from .log_config import configure_logging
from .settings import DashboardSettings

#: Room for the widget message's framing around the file's bytes.
MESSAGE_SLACK = 16 * 1024 * 1024
#: How the server tells its kernels where the downloads go (kernels inherit the server's environment).
DOWNLOADS_ENV = "AUTOML_DASHBOARD_DOWNLOADS"
#: Where the server serves them, under its server URL.
DOWNLOADS_PATH = "voila/downloads/"
#: The server's temporary folders are named ``<prefix><pid>-<random>``.
DOWNLOADS_PREFIX = "automl-dashboard-downloads-"
#: A kernel folder younger than this is left alone by the sweep even if its kernel is not (yet) listed.
SWEEP_GRACE_SECONDS = 30


def cull_interval(settings: DashboardSettings) -> int:
    """Seconds between two looks for idle kernels (and for the folders of kernels that are gone)."""
    return max(1, min(60, settings.cull_idle_seconds // 2))


def voila_arguments(settings: DashboardSettings) -> list[str]:
    """Voilà's command-line arguments: the dashboard notebook on the settings' host and port."""
    return [
        str(settings.notebook), "--no-browser", f"--Voila.ip={settings.host}", f"--port={settings.port}",
        f"--MappingKernelManager.cull_idle_timeout={settings.cull_idle_seconds}",
        f"--MappingKernelManager.cull_interval={cull_interval(settings)}",
        "--MappingKernelManager.cull_connected=True",
    ]


def tornado_settings(settings: DashboardSettings) -> dict:
    """Tornado settings: an upload reaches the kernel as one websocket message (an int: the command line
    would pass it as text)."""
    return {"websocket_max_message_size": settings.max_upload_bytes + MESSAGE_SLACK}


# ------------------------------------------------------------------------------------------ downloads


def current_kernel_id() -> str | None:
    """The id of the Jupyter kernel this code runs in (its connection file is ``kernel-<id>.json``), or None
    outside a kernel."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:  # noqa: BLE001 - not in a kernel (a test, a script)
        return None
    match = re.fullmatch(r"kernel-([A-Za-z0-9-]+)\.json", name)
    return match.group(1) if match else None


def safe_filename(name: str) -> str:
    """``name`` usable as one path segment on any system: no folders, control or reserved characters."""
    cleaned = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", name).strip(" .")
    return cleaned[:150] or "download"


class DownloadFolder:
    """Where one page (one kernel) writes its scored files: ``<root>/<session>/<token>/<name>``, served at
    ``<server url>voila/downloads/<session>/<token>/<name>``. The session is the kernel's id, so the server
    knows whose folder it is; a new token per file keeps an old link from ever reaching a newer file. Only the
    newest file is kept. Without a served root (the notebook opened outside :func:`main`) the files go to a
    private temporary folder and :attr:`served` is False."""

    def __init__(self, root: str | Path | None = None, session: str | None = None, server_url: str = "/"):
        self.served = root is not None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="automl-dashboard-"))
        self.session = session or current_kernel_id() or secrets.token_hex(16)
        self.server_url = server_url if server_url.endswith("/") else server_url + "/"
        self.folder = (self.root / self.session) if self.served else self.root
        atexit.register(self.remove)

    @classmethod
    def from_environment(cls) -> "DownloadFolder":
        """The folder the dashboard server gave this kernel (``AUTOML_DASHBOARD_DOWNLOADS``; Voilà sets
        ``VOILA_SERVER_URL``), or a private one when the notebook runs elsewhere."""
        root = os.environ.get(DOWNLOADS_ENV)
        return cls(root or None, server_url=os.environ.get("VOILA_SERVER_URL", "/"))

    def new_file(self, name: str) -> Path:
        """A fresh path for the file ``name`` (the previous files of this page are removed)."""
        self.clear()
        path = self.folder / secrets.token_urlsafe(16) / safe_filename(name)
        path.parent.mkdir(parents=True)
        return path

    def href(self, path: Path) -> str:
        """The URL path the server serves ``path`` at."""
        relative = Path(path).relative_to(self.root).as_posix()
        return f"{self.server_url}{DOWNLOADS_PATH}{quote(relative)}"

    def clear(self) -> None:
        """Remove this page's files."""
        if self.folder.exists():
            for child in self.folder.iterdir():
                shutil.rmtree(child, ignore_errors=True)

    def remove(self) -> None:
        """Remove this page's folder (the kernel is going)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def sweep_downloads(root: Path, live_sessions: set[str], grace_seconds: float = SWEEP_GRACE_SECONDS,
                    now: float | None = None) -> list[str]:
    """Remove the folders under ``root`` of kernels that are gone (not in ``live_sessions`` and older than
    ``grace_seconds``); returns their names."""
    now = time.time() if now is None else now
    removed = []
    for folder in Path(root).iterdir() if Path(root).is_dir() else ():
        if folder.name in live_sessions:
            continue
        try:
            if now - folder.stat().st_mtime < grace_seconds:
                continue
        except FileNotFoundError:
            continue
        shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
        removed.append(folder.name)
    return removed


def remove_orphaned_roots(parent: Path | None = None) -> list[Path]:
    """Remove the download folders of dashboard servers that are no longer running (killed before they could
    clean up): ``<tmp>/automl-dashboard-downloads-<pid>-*`` whose process is gone."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{DOWNLOADS_PREFIX}*"):
        match = re.match(rf"{DOWNLOADS_PREFIX}(\d+)-", folder.name)
        if not match or not folder.is_dir() or _alive(int(match.group(1))):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def content_disposition(filename: str) -> str:
    """``attachment`` with the file's name (ASCII fallback, and the exact name per RFC 6266/5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "download.csv"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def download_handler_class():
    """:class:`tornado.web.StaticFileHandler` for the downloads: files only, as attachments, never cached."""
    import tornado.web

    class DownloadHandler(tornado.web.StaticFileHandler):
        def set_extra_headers(self, path: str) -> None:
            self.set_header("Content-Disposition", content_disposition(Path(path).name))
            self.set_header("Cache-Control", "no-store")
            self.set_header("X-Content-Type-Options", "nosniff")

        def get_content_type(self) -> str:
            return "text/csv; charset=utf-8" if self.absolute_path.endswith(".csv") else "application/octet-stream"

    return DownloadHandler


def dashboard_voila_class(downloads: Path, sweep_seconds: int):
    """Voilà with the downloads served and swept (one more handler, one periodic callback)."""
    from jupyter_server.utils import url_path_join
    from tornado.ioloop import PeriodicCallback
    from voila.app import Voila

    handler = download_handler_class()

    class DashboardVoila(Voila):
        def init_handlers(self) -> list:
            ours = (url_path_join(self.server_url, f"/{DOWNLOADS_PATH}(.*)"), handler, {"path": str(downloads)})
            return [ours, *super().init_handlers()]  # before Voilà's catch-all page handler

        def listen(self) -> None:
            PeriodicCallback(self.sweep_downloads, sweep_seconds * 1000).start()
            super().listen()

        def sweep_downloads(self) -> None:
            removed = sweep_downloads(downloads, set(self.kernel_manager.list_kernel_ids()))
            if removed:
                self.log.info("Removed the downloads of %d closed page(s).", len(removed))

    return DashboardVoila


def main(argv: list[str] | None = None) -> None:
    """Run Voilà on the dashboard notebook until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="interface to bind (default: DASHBOARD_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: DASHBOARD_PORT, 8866)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = DashboardSettings.load(**overrides)
    configure_logging(settings.log_level)
    remove_orphaned_roots()
    downloads = Path(tempfile.mkdtemp(prefix=f"{DOWNLOADS_PREFIX}{os.getpid()}-"))
    os.environ[DOWNLOADS_ENV] = str(downloads)  # the kernels this server starts inherit it
    try:
        dashboard_voila_class(downloads, cull_interval(settings)).launch_instance(
            argv=voila_arguments(settings), tornado_settings=tornado_settings(settings))
    finally:
        shutil.rmtree(downloads, ignore_errors=True)


if __name__ == "__main__":
    main()
