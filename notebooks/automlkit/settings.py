"""Every setting the processes read, in one place: one pydantic-settings model per kind of process.

Each is read from the environment and from ``.env`` in the working directory (the environment wins),
validated when the process starts (:meth:`BaseAutomlSettings.load` names the variable that is wrong), and
shares the common fields of :class:`CommonSettings`. Secrets are ``SecretStr`` (never in logs or reprs) and
the placeholders of ``.env.example`` are refused. Paths default to the working directory (``make`` runs
from the checkout), never to where the package is installed.

| process | model |
|---|---|
| training (``automl train``, the notebook, ``automl retrain``) | :class:`TrainingSettings` |
| the API (``automl api``) | :class:`ApiSettings` |
| the dashboard (``automl dashboard``) | :class:`DashboardSettings` |
| an H2O node (``python -m automlkit.h2o_cluster``) | :class:`H2oNodeSettings` |
| the in-process MOJO scorer, wherever it runs | :class:`ScorerSettings` |
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import SettingsError

#: The defaults the shipped example uses; each is written only here.
DEFAULT_MODEL_NAME = "cross-sell"
#: The shipped example: the file a training run that names no data reads (in ``DATA_DIR``), and its target.
#: Nothing else is specific to it: everything else a run needs is learned from its data.
EXAMPLE_DATA_FILE = "train.csv.gz"
EXAMPLE_TARGET = "Response"
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
#: The upload size limit, in one place: the API refuses larger bodies with a 413, the dashboard refuses
#: larger files before sending them and sizes Voilà's websocket messages to it (``MAX_UPLOAD_BYTES``).
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: The secrets' values in ``.env.example`` start with this. A placeholder is refused at start, never used
#: as a secret; ``make up`` replaces them with random values when it creates ``.env``.
PLACEHOLDER_PREFIX = "change-me"
#: The file read besides the environment (relative to the working directory); ``AUTOML_ENV_FILE``
#: names another one (tests point it at an empty file so a developer's ``.env`` never leaks in).
ENV_FILE = os.environ.get("AUTOML_ENV_FILE", ".env")


def require_secret(name: str, value: str) -> str:
    """``value`` unless it is ``.env.example``'s placeholder, which is refused with how to set ``name``."""
    if value.strip().startswith(PLACEHOLDER_PREFIX):
        raise SettingsError(f"{name} still holds the placeholder of .env.example: set {name} in .env to a long "
                            f"random string (for example the output of `openssl rand -hex 24`); `make up` makes "
                            f"one when it creates .env")
    return value


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _notebook(folder: Path, name: str) -> Path:
    """``folder/name``, which must exist: a package installed outside the checkout needs ``NOTEBOOKS_DIR``."""
    path = folder / name
    if not path.is_file():
        raise SettingsError(f"NOTEBOOKS_DIR: there is no {name} in {folder}; set NOTEBOOKS_DIR to the folder "
                            f"holding the notebooks (the checkout's notebooks/)")
    return path


Settings_ = TypeVar("Settings_", bound="BaseAutomlSettings")


class BaseAutomlSettings(BaseSettings):
    """pydantic-settings with this project's conventions: ``FIELD`` from the environment or ``.env``,
    empty values mean the default, frozen once read."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore",
                                      env_ignore_empty=True, frozen=True, populate_by_name=True,
                                      protected_namespaces=())

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        info = cls.model_fields[field]
        return str(info.validation_alias or info.alias or field).upper()

    @classmethod
    def load(cls: type[Settings_], **overrides) -> Settings_:
        """Read and validate the settings; :class:`SettingsError` names each variable that is wrong."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            lines = []
            for error in exc.errors():
                where = str(error["loc"][0]) if error.get("loc") else ""
                field = next((f for f in cls.model_fields if where in (f, cls.env_name(f))), None)
                name = cls.env_name(field) if field else where.upper()
                secret = field is not None and cls.model_fields[field].annotation is SecretStr  # never echo it
                shown = "input" in error and not isinstance(error["input"], dict) and not secret
                given = f", got {error['input']!r}" if shown else ""
                lines.append(f"{name}: {error['msg']}{given}")
            raise SettingsError(f"invalid settings for {cls.__name__}: " + "; ".join(lines)) from None


class ScorerSettings(BaseAutomlSettings):
    """The in-process MOJO scorer (``automlkit.mojo``), in whichever process scores."""

    #: the parallel collector scored ~15% faster than the serial one in `make bench` (a stacked ensemble
    #: allocates per row); 512 MB keeps the API's resident set near 600 MB
    mojo_jvm_opts: str = Field("-Xmx512m -XX:+UseParallelGC", validation_alias="MOJO_JVM_OPTS")
    scoring_threads: PositiveInt = Field(2, validation_alias="SCORING_THREADS")
    #: score batches of an XGBoost model with its native booster (``automlkit.native_xgboost``); 0: the MOJO
    native_xgboost: bool = Field(True, validation_alias="NATIVE_XGBOOST")


class CommonSettings(BaseAutomlSettings):
    """What every process shares: the store, the model's name and alias, the upload limit, the log level."""

    mlruns_dir: Annotated[Path, Field(validation_alias="MLRUNS_DIR")] = Path("mlruns")
    #: default: the embedded SQLite store under ``MLRUNS_DIR`` (MLflow >= 3.13 refuses the file store)
    tracking_uri: str = Field("", validation_alias="MLFLOW_TRACKING_URI")
    model_name: str = Field(DEFAULT_MODEL_NAME, validation_alias="MODEL_NAME", min_length=1)
    model_alias: str = Field(CHAMPION_ALIAS, validation_alias="MODEL_ALIAS", min_length=1)
    #: the alias of the version scored in the shadow of the champion (training sets it, or a user by hand)
    challenger_alias: str = Field(CHALLENGER_ALIAS, validation_alias="CHALLENGER_ALIAS", min_length=1)
    max_upload_bytes: PositiveInt = Field(DEFAULT_MAX_UPLOAD_BYTES, validation_alias="MAX_UPLOAD_BYTES")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    #: monitoring (``automlkit.monitoring``, docs/monitoring.md): record every scoring's summary (0: off)
    monitoring: bool = Field(True, validation_alias="MONITORING")
    #: the MLflow experiment holding one monitoring run per model version
    monitoring_experiment: str = Field("monitoring", validation_alias="MONITORING_EXPERIMENT", min_length=1)
    #: scorings waiting to be summarised; past it a scoring's summary is dropped (and counted), never waited for
    monitoring_queue_size: PositiveInt = Field(1000, validation_alias="MONITORING_QUEUE_SIZE")
    #: seconds between writes (sooner when half the queue waits): at most one summary per version per flush
    monitoring_flush_seconds: PositiveFloat = Field(60.0, validation_alias="MONITORING_FLUSH_SECONDS")
    #: realised AUC (the decision metric) worse than the holdout's by more than this is an alert
    monitoring_auc_margin: NonNegativeFloat = Field(0.02, validation_alias="MONITORING_AUC_MARGIN")
    #: seconds of the serving version's latest scorings the alerts sum over (default 7 days)
    monitoring_alert_window: PositiveFloat = Field(7 * 86400.0, validation_alias="MONITORING_ALERT_WINDOW")
    #: labelled rows the alert window needs before realised performance can raise an alert
    monitoring_min_realised_rows: PositiveInt = Field(200, validation_alias="MONITORING_MIN_REALISED_ROWS")

    @field_validator("mlruns_dir")
    @classmethod
    def _mlruns_absolute(cls, value: Path) -> Path:
        return _absolute(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        import logging

        if not isinstance(logging.getLevelName(value.upper()), int):
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    def model_post_init(self, _context) -> None:
        if not self.tracking_uri:
            object.__setattr__(self, "tracking_uri", f"sqlite:///{self.mlruns_dir / 'mlflow.db'}")

    @property
    def is_embedded(self) -> bool:
        """True when MLflow is used in-process on a SQLite file rather than through a server."""
        return self.tracking_uri.startswith("sqlite:")

    @property
    def champion_alias(self) -> str:
        """The alias the served model holds (``MODEL_ALIAS``)."""
        return self.model_alias


class TrainingSettings(CommonSettings):
    """Training: the notebook, ``automl train`` and the schedule (``automl retrain``)."""

    artifact_root: str = Field("", validation_alias="MLFLOW_ARTIFACT_ROOT")  # default: MLRUNS_DIR/artifacts
    experiment_name: str = Field(DEFAULT_MODEL_NAME, validation_alias="EXPERIMENT_NAME", min_length=1)
    #: the folder searched for the data file when a run names none (``make`` runs from the checkout,
    #: beside ``../shared``; the containers mount it at ``/shared/data``)
    data_dir: Annotated[Path, Field(validation_alias="DATA_DIR")] = Path("../shared/data")
    #: where the training notebook is (default: the folder of the package's source, ``notebooks/``)
    notebooks_dir: Annotated[Path, Field(validation_alias="NOTEBOOKS_DIR")] = Path(__file__).resolve().parents[1]
    #: seconds between scheduled runs (0: only the first run, when there is no champion)
    retrain_interval: NonNegativeFloat = Field(86400.0, validation_alias="RETRAIN_INTERVAL")
    #: train at once when the champion has a monitoring alert (``automlkit.monitoring.alerts``)
    retrain_on_alert: bool = Field(False, validation_alias="RETRAIN_ON_ALERT")
    #: seconds between the schedule's looks at the champion's alerts (with ``RETRAIN_ON_ALERT``) and at the
    #: challenger's live evidence (with ``PROMOTE_ON_EVIDENCE``)
    alert_check_seconds: PositiveFloat = Field(300.0, validation_alias="ALERT_CHECK_SECONDS")
    #: promotion on evidence (``automlkit.promotion``, ``automl promote``): shadow rows the challenger must
    #: have scored beside the champion before its live figures can move the alias
    promote_min_rows: PositiveInt = Field(1000, validation_alias="PROMOTE_MIN_ROWS")
    #: the schedule runs ``automl promote``'s check every ``ALERT_CHECK_SECONDS``
    promote_on_evidence: bool = Field(False, validation_alias="PROMOTE_ON_EVIDENCE")
    #: the MLflow experiment holding one run per promotion decision (its figures and why)
    promotion_experiment: str = Field("promotion", validation_alias="PROMOTION_EXPERIMENT", min_length=1)

    @field_validator("data_dir", "notebooks_dir")
    @classmethod
    def _paths_absolute(cls, value: Path) -> Path:
        return _absolute(value)

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        if not self.artifact_root:
            object.__setattr__(self, "artifact_root", str(self.mlruns_dir / "artifacts"))

    def data_path(self, filename: str = EXAMPLE_DATA_FILE) -> str:
        """``filename`` in ``DATA_DIR``."""
        return str(self.data_dir / filename)

    def training_data(self, data_path: str = "", target: str = "") -> tuple[str, str]:
        """The data file and target of a run: as given; with no ``data_path`` the shipped example
        (:data:`EXAMPLE_DATA_FILE` in ``DATA_DIR``) and, unless one is named, its target. Other data has no
        default target (empty)."""
        if data_path:
            return data_path, target
        return self.data_path(), target or EXAMPLE_TARGET

    @property
    def train_notebook(self) -> Path:
        """The training notebook papermill runs."""
        return _notebook(self.notebooks_dir, "train.ipynb")


class ApiSettings(CommonSettings, ScorerSettings):
    """The prediction API (see docs/api.md)."""

    #: links to runs in ``GET /models``; default: the tracking URI when it is a server
    mlflow_ui_url: str = Field("", validation_alias="MLFLOW_UI_URL")
    poll_seconds: NonNegativeInt = Field(30, validation_alias="POLL_SECONDS")  # 0: only on POST /reload
    retry_seconds: PositiveInt = Field(5, validation_alias="RETRY_SECONDS")
    max_rows: PositiveInt = Field(1_000_000, validation_alias="MAX_ROWS")
    max_json_records: PositiveInt = Field(100_000, validation_alias="MAX_JSON_RECORDS")
    #: batches (CSV uploads, JSON of more than a handful of records) scored at the same time; the others wait
    #: their turn, so single-row requests never queue behind a crowd of batches
    batch_workers: PositiveInt = Field(1, validation_alias="BATCH_WORKERS")
    #: bearer token of ``POST /reload``; empty: reload is disabled
    reload_token: SecretStr = Field(SecretStr(""), validation_alias="RELOAD_TOKEN")
    #: seconds ``automl api`` waits for requests in flight after SIGTERM/SIGINT before it closes them (then
    #: the monitoring recorder writes what is queued, within 10 s): a container's stop grace period must
    #: be longer than both
    graceful_shutdown_seconds: PositiveInt = Field(30, validation_alias="GRACEFUL_SHUTDOWN_SECONDS")
    #: the share of scored rows the challenger scores too, off the request path (``automlkit.shadow``; 0: no
    #: shadow scoring, the challenger is not even loaded)
    shadow_share: float = Field(1.0, validation_alias="SHADOW_SHARE", ge=0.0, le=1.0)
    #: scorings waiting for the challenger; past it a scoring's rows are skipped (and counted), never waited for
    shadow_queue_size: PositiveInt = Field(64, validation_alias="SHADOW_QUEUE_SIZE")
    #: seconds ``GET /monitoring`` reuses what it read from the monitoring store
    monitoring_cache_seconds: NonNegativeFloat = Field(15.0, validation_alias="MONITORING_CACHE_SECONDS")

    @field_validator("reload_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr) -> SecretStr:
        require_secret("RELOAD_TOKEN", value.get_secret_value())
        return value

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        ui = self.mlflow_ui_url or (self.tracking_uri if self.tracking_uri.startswith(("http://", "https://"))
                                    else "")
        object.__setattr__(self, "mlflow_ui_url", ui.rstrip("/"))


class DashboardSettings(CommonSettings):
    """The Voilà dashboard: where the API is, and Voilà's own flags."""

    api_url: str = Field("http://127.0.0.1:8000", validation_alias="API_URL")
    timeout: PositiveFloat = Field(600.0, validation_alias="API_TIMEOUT")
    host: str = Field("127.0.0.1", validation_alias="DASHBOARD_HOST")
    port: PositiveInt = Field(8866, validation_alias="DASHBOARD_PORT")
    #: idle kernels are culled after this (each page load starts a ~150 MB kernel)
    cull_idle_seconds: PositiveInt = Field(600, validation_alias="DASHBOARD_CULL_IDLE_SECONDS")
    #: where the dashboard notebook is (default: the folder of the package's source, ``notebooks/``)
    notebooks_dir: Annotated[Path, Field(validation_alias="NOTEBOOKS_DIR")] = Path(__file__).resolve().parents[1]

    @field_validator("api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def notebook(self) -> Path:
        """The dashboard notebook Voilà serves."""
        return _notebook(self.notebooks_dir, "dashboard.ipynb")


class H2oNodeSettings(BaseAutomlSettings):
    """One node of the H2O cloud (``python -m automlkit.h2o_cluster``)."""

    nodes: PositiveInt = Field(1, validation_alias="H2O_NODES")
    memory: str = Field("4g", validation_alias="H2O_MEMORY", pattern=r"^\d+[kmgKMG]?$")
    cloud_name: str = Field("automl-stack", validation_alias="H2O_CLOUD_NAME", min_length=1)
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")


def main(argv: list[str] | None = None) -> int:
    """``python -m automlkit.settings --require-secret NAME``: exit 2 with the reason when ``NAME`` (from the
    environment or ``.env``) is empty or still the placeholder (JupyterLab's container checks its token)."""
    import argparse
    import sys

    from dotenv import dotenv_values

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--require-secret", metavar="NAME", required=True)
    name = parser.parse_args(argv).require_secret
    value = os.environ.get(name) or (dotenv_values(ENV_FILE).get(name) if Path(ENV_FILE).is_file() else "") or ""
    try:
        if not value.strip():
            raise SettingsError(f"{name} is not set: set it in .env to a long random string")
        require_secret(name, value)
    except SettingsError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
