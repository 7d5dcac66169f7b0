"""The settings models: environment and .env, validation naming the variable, secrets, paths, logging."""

from __future__ import annotations

import logging

import pytest

from automlkit.errors import SettingsError
from automlkit.log_config import configure_logging
from automlkit.settings import (DEFAULT_MODEL_NAME, ApiSettings, DashboardSettings, H2oNodeSettings, ScorerSettings,
                                TrainingSettings)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "MODEL_NAME", "MODEL_ALIAS", "POLL_SECONDS", "RELOAD_TOKEN", "MLRUNS_DIR",
                 "DATA_DIR", "MAX_UPLOAD_BYTES", "SCORING_THREADS", "API_URL", "LOG_LEVEL", "H2O_MEMORY"):
        monkeypatch.delenv(name, raising=False)


def test_dotenv_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("MODEL_NAME=churn\nPOLL_SECONDS=7\nRELOAD_TOKEN=from-the-file\nUNRELATED=1\n")
    monkeypatch.setenv("POLL_SECONDS", "9")
    settings = ApiSettings.load(_env_file=env_file)
    assert (settings.model_name, settings.poll_seconds) == ("churn", 9)
    assert settings.reload_token.get_secret_value() == "from-the-file"


def test_empty_values_mean_the_default(monkeypatch):
    monkeypatch.setenv("MODEL_NAME", "")
    assert ApiSettings.load().model_name == DEFAULT_MODEL_NAME


@pytest.mark.parametrize("settings_class,name,value,message", [
    (ApiSettings, "POLL_SECONDS", "soon", "POLL_SECONDS: Input should be a valid integer"),
    (ApiSettings, "POLL_SECONDS", "-1", "POLL_SECONDS: Input should be greater than or equal to 0"),
    (ApiSettings, "SCORING_THREADS", "0", "SCORING_THREADS: Input should be greater than 0"),
    (DashboardSettings, "MAX_UPLOAD_BYTES", "10MB", "MAX_UPLOAD_BYTES: Input should be a valid integer"),
    (TrainingSettings, "LOG_LEVEL", "LOUD", "LOG_LEVEL: Value error, one of DEBUG"),
    (H2oNodeSettings, "H2O_MEMORY", "lots", "H2O_MEMORY: String should match pattern"),
])
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch, settings_class, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message) as error:
        settings_class.load()
    assert repr(value) in str(error.value)


def test_secrets_stay_out_of_reprs_and_errors(monkeypatch):
    monkeypatch.setenv("RELOAD_TOKEN", "s3cret-value-123")
    settings = ApiSettings.load()
    assert "s3cret-value-123" not in repr(settings) and "s3cret-value-123" not in str(settings.model_dump())
    monkeypatch.setenv("RELOAD_TOKEN", "change-me-please")
    with pytest.raises(SettingsError, match="RELOAD_TOKEN still holds the placeholder") as error:
        ApiSettings.load()
    assert "change-me-please" not in str(error.value)


def test_paths_come_from_the_working_directory_not_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = TrainingSettings.load()
    assert settings.mlruns_dir == tmp_path / "mlruns"
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/mlruns/mlflow.db" and settings.is_embedded
    assert settings.artifact_root == str(tmp_path / "mlruns" / "artifacts")
    assert settings.data_path() == str(tmp_path.parent / "shared" / "data" / "train.csv.gz")
    monkeypatch.setenv("DATA_DIR", "/shared/data")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = TrainingSettings.load()
    assert settings.data_path("x.csv") == "/shared/data/x.csv" and not settings.is_embedded
    assert ApiSettings.load().mlflow_ui_url == "http://mlflow:5000"


def test_the_notebooks_are_found_and_can_be_moved(monkeypatch, tmp_path):
    assert TrainingSettings.load().train_notebook.is_file()
    assert DashboardSettings.load().notebook.is_file()
    monkeypatch.setenv("NOTEBOOKS_DIR", str(tmp_path))
    with pytest.raises(SettingsError, match="NOTEBOOKS_DIR: there is no train.ipynb in"):
        TrainingSettings.load().train_notebook
    (tmp_path / "train.ipynb").write_text("{}")
    assert TrainingSettings.load().train_notebook == tmp_path / "train.ipynb"


def test_the_api_shares_the_scorer_settings(monkeypatch):
    monkeypatch.setenv("SCORING_THREADS", "3")
    assert ApiSettings.load().scoring_threads == ScorerSettings.load().scoring_threads == 3


def test_one_logging_configuration_at_the_configured_level(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    configure_logging()
    try:
        root = logging.getLogger()
        assert root.level == logging.WARNING and len(root.handlers) == 1
        assert logging.getLogger("uvicorn.access").propagate
    finally:
        configure_logging("INFO")
