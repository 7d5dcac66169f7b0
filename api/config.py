"""The API's settings, read once from the environment and validated at start."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from automlkit.settings import DEFAULT_MAX_UPLOAD_BYTES, default_tracking_uri, max_upload_bytes, require_secret


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        parsed = int(value) if value.strip() else default
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from exc
    if parsed < 0:
        raise ValueError(f"environment variable {name} must not be negative, got {parsed}")
    return parsed


@dataclass(frozen=True)
class ApiSettings:
    """Everything the service reads from the environment (see README, "Prediction API")."""

    tracking_uri: str = field(default_factory=default_tracking_uri)
    mlflow_ui_url: str = ""
    model_name: str = "cross-sell"
    model_alias: str = "champion"
    poll_seconds: int = 30
    retry_seconds: int = 5
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_rows: int = 1_000_000
    max_json_records: int = 100_000
    reload_token: str = field(default="", repr=False)
    scoring_threads: int = 2

    @classmethod
    def from_env(cls) -> "ApiSettings":
        """Read ``MLFLOW_TRACKING_URI``, ``MODEL_NAME``, ``MODEL_ALIAS``, ``POLL_SECONDS``, ``RETRY_SECONDS``,
        ``MLFLOW_UI_URL`` (default: the tracking URI when it is a server), ``MAX_UPLOAD_BYTES``, ``MAX_ROWS``, ``MAX_JSON_RECORDS``, ``RELOAD_TOKEN``, ``SCORING_THREADS``."""
        d = cls()
        tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or d.tracking_uri
        return cls(
            tracking_uri=tracking_uri,
            mlflow_ui_url=(os.environ.get("MLFLOW_UI_URL")
                           or (tracking_uri if tracking_uri.startswith(("http://", "https://")) else "")).rstrip("/"),
            model_name=os.environ.get("MODEL_NAME") or d.model_name,
            model_alias=os.environ.get("MODEL_ALIAS") or d.model_alias,
            poll_seconds=_int("POLL_SECONDS", d.poll_seconds),
            retry_seconds=max(1, _int("RETRY_SECONDS", d.retry_seconds)),
            max_upload_bytes=max_upload_bytes(),
            max_rows=_int("MAX_ROWS", d.max_rows),
            max_json_records=_int("MAX_JSON_RECORDS", d.max_json_records),
            reload_token=require_secret("RELOAD_TOKEN", os.environ.get("RELOAD_TOKEN", "")),
            scoring_threads=max(1, _int("SCORING_THREADS", d.scoring_threads)),
        )
