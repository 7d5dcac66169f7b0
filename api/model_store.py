"""Which model is served: load the version holding the alias, swap in new versions atomically.

A request takes ``store.current`` once and uses that object to the end, so a swap never affects a
request in flight; the old model is dropped when the last such request lets go of it. Until a model is
loaded (MLflow down at start, no champion yet) the registry is retried every ``RETRY_SECONDS``; once one is
loaded, a registry outage only gets logged and the loaded model keeps serving.

Beside the champion the store loads the version holding ``CHALLENGER_ALIAS`` (when ``SHADOW_SHARE`` is above 0):
``store.challenger``, which scores in the champion's shadow (``automlkit.shadow``) and never answers. It follows
its alias at each refresh, and is dropped when the alias goes away (or points at the champion's version).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import mlflow
from mlflow import MlflowClient

from automlkit.scoring import ScoringModel
from automlkit.settings import ApiSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """A loaded model version and what ``GET /model`` says about it."""

    name: str
    version: str
    alias: str
    run_id: str | None
    trained_at: str
    loaded_at: str
    model: ScoringModel = field(repr=False)


def _iso(millis: int | None) -> str:
    if not millis:
        return ""
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).isoformat(timespec="seconds")


class ModelStore:
    """Holds the served model; :meth:`refresh` loads the alias's version when it changed."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self.current: ServedModel | None = None
        self.last_error: dict | None = None
        #: the challenger scored in the shadow of the champion, and why the last one failed to load
        self.challenger: ServedModel | None = None
        self.challenger_error: dict | None = None
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # MLflow's own retries (7, exponential back-off: minutes) would stall start-up and /reload while
        # the server is down; this store retries on its own schedule instead.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a log line, not a bar per load
        # models are read from the configured registry only, whatever the process's MLflow defaults are
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.tracking_uri)
        self.client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)

    def refresh(self) -> bool:
        """Load the version the alias points at if it is not the one served; True when a new one went live.

        A version that fails to load is recorded in :attr:`last_error` and the old model keeps serving;
        it is retried at the next refresh (the poll timer or ``POST /reload``), so a version that failed while
        the registry or its artifact store was down goes live once they are back; the error then clears.
        The challenger follows its alias after the champion (:meth:`_refresh_challenger`).
        """
        with self._load_lock:
            changed = self._refresh_champion()
            self._refresh_challenger()
            return changed

    def _load(self, name: str, alias: str, version) -> ServedModel:
        """Load and warm up registered ``version`` (holding ``alias``)."""
        number = str(version.version)
        started = time.perf_counter()
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{number}")
        scoring = pyfunc.unwrap_python_model().scoring_model
        warm_up = scoring.warm_up()
        log.info("loaded %s v%s (%s, @%s) in %.1f s (%.1f s of it warming up)", name, number, scoring.algorithm,
                 alias, time.perf_counter() - started, warm_up)
        return ServedModel(name=name, version=number, alias=alias, run_id=version.run_id,
                           trained_at=_iso(version.creation_timestamp),
                           loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), model=scoring)

    def _refresh_challenger(self) -> None:
        """Load the challenger alias's version beside the champion when it moved; drop it when the alias is
        gone, points at the champion, or shadow scoring is off. A failed load keeps none and says why in
        :attr:`challenger_error` (retried at the next refresh)."""
        name, alias = self.settings.model_name, self.settings.challenger_alias
        if self.settings.shadow_share <= 0 or self.current is None:
            self.challenger = None
            return
        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except Exception as exc:  # noqa: BLE001 - no challenger; or the registry is down: keep the one loaded
            if self.challenger is not None and f"alias {alias} not found" in str(exc):
                log.info("%s@%s is gone: v%s no longer scores in the shadow", name, alias, self.challenger.version)
                self.challenger = None
            return
        number = str(version.version)
        if number == self.current.version:
            self.challenger = None
            return
        if self.challenger is not None and self.challenger.version == number:
            return
        try:
            self.challenger = self._load(name, alias, version)
            self.challenger_error = None
        except Exception as exc:  # noqa: BLE001 - a broken challenger must not touch the champion
            self.challenger = None
            self.challenger_error = {"version": number, "message": f"challenger v{number} failed to load: {exc}",
                                     "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            log.error("%s", self.challenger_error["message"])

    def _refresh_champion(self) -> bool:
        name, alias = self.settings.model_name, self.settings.model_alias
        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except Exception as exc:  # noqa: BLE001 - registry down or alias missing: keep serving
            self._record_error(None, f"cannot resolve {name}@{alias} at {self.settings.tracking_uri}: {exc}")
            return False
        number = str(version.version)  # the SQLite store answers an int, the REST client a str
        if self.current is not None and self.current.version == number:
            return False
        if self.challenger is not None and self.challenger.version == number:
            served = self.challenger  # promoted: the challenger is loaded and warm already
        else:
            try:
                served = self._load(name, alias, version)
            except Exception as exc:  # noqa: BLE001 - any broken version must leave the old one serving
                self._record_error(number, f"version {number} failed to load: {exc}")
                return False
        previous = self.current
        self.current = ServedModel(**{**served.__dict__, "alias": alias})  # the atomic swap
        self.last_error = None
        log.info("serving %s v%s (%s)%s", name, number, served.model.algorithm,
                 f", replacing v{previous.version}" if previous else "")
        return True

    def _record_error(self, version: str | None, message: str) -> None:
        if self.last_error is None or self.last_error.get("message") != message:
            log.error("%s", message)
        self.last_error = {"version": version, "message": message,
                           "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def start_polling(self) -> None:
        """Re-check the registry in a daemon thread: every ``retry_seconds`` while no model is loaded, then
        every ``poll_seconds`` (0: only on ``POST /reload``)."""
        if self._thread is not None:
            return

        def pause() -> float | None:
            if self.current is None:
                return self.settings.retry_seconds
            return self.settings.poll_seconds or None  # None: sleep until stopped

        def loop() -> None:
            while not self._stop.wait(pause()):
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - the poller must never die
                    log.exception("registry poll failed")

        self._thread = threading.Thread(target=loop, name="registry-poller", daemon=True)
        self._thread.start()

    def stop_polling(self) -> None:
        """Stop the poller thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
