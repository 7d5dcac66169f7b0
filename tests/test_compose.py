"""docker-compose.yml and .env.example checked statically: what a real run (test_containers) cannot see.

Builds, commands, ports, volumes and healthchecks are exercised for real by ``tests/test_containers.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from automlkit.errors import SettingsError
from automlkit.settings import PLACEHOLDER_PREFIX, ApiSettings, main as settings_main, require_secret
from conftest import REPO

COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
ENV_EXAMPLE = dict(line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))


def test_compose_file_validates_against_the_compose_specification():
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    result = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec", str(REPO / "docker-compose.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_variable_the_stack_reads_is_in_env_example():
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_TEXT))
    assert used <= set(ENV_EXAMPLE), used - set(ENV_EXAMPLE)
    assert "${RELOAD_TOKEN:?" in COMPOSE_TEXT and "${JUPYTER_TOKEN:?" in COMPOSE_TEXT


def test_env_example_secrets_are_placeholders_that_are_refused():
    for name in ("RELOAD_TOKEN", "JUPYTER_TOKEN"):
        assert ENV_EXAMPLE[name].startswith(PLACEHOLDER_PREFIX)
        with pytest.raises(ValueError, match=f"{name} still holds the placeholder of .env.example.*openssl rand"):
            require_secret(name, ENV_EXAMPLE[name])
    assert require_secret("RELOAD_TOKEN", "3f1c9a") == "3f1c9a"


@pytest.mark.parametrize("value,code", [("", 2), ("change-me-too", 2), ("a-real-token", 0)])
def test_the_jupyterlab_token_check(monkeypatch, capsys, value, code):
    monkeypatch.setenv("JUPYTER_TOKEN", value)
    assert settings_main(["--require-secret", "JUPYTER_TOKEN"]) == code
    assert ("refusing to start: JUPYTER_TOKEN" in capsys.readouterr().err) == bool(code)


def test_the_api_refuses_the_placeholder_reload_token(monkeypatch):
    monkeypatch.setenv("RELOAD_TOKEN", ENV_EXAMPLE["RELOAD_TOKEN"])
    with pytest.raises(SettingsError, match="RELOAD_TOKEN: .*RELOAD_TOKEN still holds the placeholder") as error:
        ApiSettings.load()
    assert ENV_EXAMPLE["RELOAD_TOKEN"] not in str(error.value)  # a secret is never echoed
