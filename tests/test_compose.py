"""docker-compose.yml checked statically (no Docker engine here): schema, references, images, variables.

Each service's own start command is run as a real process elsewhere (test_api, test_dashboard, test_launch,
test_services).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO / "notebooks" / "Dockerfile").read_text()


def test_compose_file_validates_against_the_compose_specification():
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    result = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec", str(REPO / "docker-compose.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_six_services_on_one_network_with_healthchecks():
    assert set(SERVICES) == {"mlflow", "h2o", "trainer", "api", "dashboard", "jupyterlab"}
    assert list(COMPOSE["networks"]) == ["stack"]
    for name, service in SERVICES.items():
        assert service["networks"] == ["stack"], name
        assert service["healthcheck"]["test"][:2] == ["CMD", "python"], name  # python is in both images


def test_depends_on_names_defined_services_and_waits_for_health():
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES and dependency != name
            assert condition == {"condition": "service_healthy"}
    assert set(SERVICES["trainer"]["depends_on"]) == {"mlflow", "h2o"}
    assert set(SERVICES["dashboard"]["depends_on"]) == {"api"}


def test_builds_point_at_existing_files_and_targets():
    targets = set(re.findall(r"^FROM \S+ AS (\w+)", DOCKERFILE, flags=re.M))
    for name, service in SERVICES.items():
        build = service["build"]
        assert (REPO / build["context"]).is_dir() and (REPO / build["context"] / build["dockerfile"]).is_file()
        assert build["target"] in targets, name
    assert SERVICES["api"]["build"]["target"] == "api"
    api_stage = DOCKERFILE.split("AS api", 1)[1].split("FROM ", 1)[0]
    assert "h2o" not in api_stage.lower(), "the API image must not carry H2O"
    for path in re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE, flags=re.M):
        assert (REPO / path).exists(), path
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "mlruns" in ignored and ".git" in ignored


def test_dockerfile_pins_are_pyprojects():
    pins = dict(d.split("==") for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    for package, version in re.findall(r"([A-Za-z0-9_.-]+)==([0-9][^\s\\]*)", DOCKERFILE):
        assert pins.get(package) == version, package


def _command(service: dict) -> str:
    command = service.get("command")
    return " ".join(command) if isinstance(command, list) else str(command or "")


def test_commands_refer_to_things_that_exist():
    package = REPO / "notebooks" / "automlkit"
    for name, service in SERVICES.items():
        text = _command(service)
        for module in re.findall(r"-m (automlkit\.\w+)", text):
            assert (package / f"{module.split('.')[1]}.py").is_file(), (name, module)
    assert "automlkit.retrain" in _command(SERVICES["trainer"])
    assert "automlkit.dashboard_server" in _command(SERVICES["dashboard"])
    assert "mlflow server" in _command(SERVICES["mlflow"]) and "mlflow==" in DOCKERFILE.split("AS api", 1)[1]
    assert "h2o/backend/bin/h2o.jar" in _command(SERVICES["h2o"]) and "default-jre-headless" in DOCKERFILE
    assert "jupyter lab" in _command(SERVICES["jupyterlab"])
    assert 'CMD ["uvicorn", "api.main:app"' in DOCKERFILE and (REPO / "api" / "main.py").is_file()


@pytest.mark.parametrize("service,port", [("mlflow", 5000), ("api", 8000), ("dashboard", 8866),
                                          ("jupyterlab", 8888)])
def test_published_ports_match_what_the_service_listens_on(service, port):
    published = SERVICES[service]["ports"][0]
    assert published.endswith(f":{port}")
    listens = _command(SERVICES[service]) or DOCKERFILE
    assert str(port) in listens
    assert f"127.0.0.1:{port}" in str(SERVICES[service]["healthcheck"]["test"])


def test_volumes_mount_existing_folders():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            source = re.sub(r"\$\{\w+:-([^}]+)\}", r"\1", source)
            path = (REPO / source).resolve()
            assert path.exists() or path.parent.exists(), (name, source)


def test_every_variable_is_in_env_example_and_secrets_are_required():
    text = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{(\w+)", text)) | set(re.findall(r"\$\$\{(\w+)\}", text))
    example = {line.split("=")[0] for line in (REPO / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used - {"H2O_MEMORY"} <= example and "H2O_MEMORY" in example
    assert "${RELOAD_TOKEN:?" in text and "${JUPYTER_TOKEN:?" in text
