"""pyproject.toml and environment.yml pin the same packages; the repo layout stays as agreed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import yaml

from conftest import REPO


def _all_pins(project: dict) -> list[str]:
    """Serving dependencies plus every optional group (stack, test)."""
    return project["dependencies"] + [pin for group in project["optional-dependencies"].values() for pin in group]


def test_environment_yml_pins_the_same_set_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section, key=str.lower) == sorted(_all_pins(project), key=str.lower)
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda and "openjdk=17" in conda
    assert project["requires-python"].startswith(">=3.11")


def test_h2o_is_pinned_to_the_last_release_that_exports_mojos():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "h2o==3.46.0.11" in project["optional-dependencies"]["stack"]


def test_serving_dependencies_hold_no_h2o_and_no_test_tool():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    serving = {pin.split("==")[0] for pin in project["dependencies"]}
    tools = {pin.split("==")[0] for pin in project["optional-dependencies"]["test"]}
    assert not serving & {"h2o", "mlflow", "scikit-learn"} and not serving & tools and "pytest" in tools


def test_top_level_layout():
    expected = {"notebooks", "api", "mlruns", "docker-compose.yml", "tests", "environment.yml", "README.md",
                "pyproject.toml", "Makefile", ".ci", "docs"}
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    tracked = {line.split("/")[0] for line in files.splitlines()} - {".gitignore", ".dockerignore", ".env.example"}
    assert tracked == expected


def test_the_package_works_installed_outside_the_checkout(tmp_path):
    """A wheel holds both packages and the scorer's source; installed, paths follow the working directory."""
    source, wheels, target, work = (tmp_path / name for name in ("source", "wheels", "site", "work"))
    work.mkdir()
    # built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds
    ignore = shutil.ignore_patterns("__pycache__", "*.jar")
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source / "pyproject.toml")
    for folder in ("api", "notebooks/automlkit"):
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(source)], check=True, capture_output=True)
    wheel = next(wheels.glob("automl_stack-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"api/main.py", "api/routes.py", "automlkit/scoring.py", "automlkit/java/BatchScorer.java"} <= set(names)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    probe = ("import automlkit, api.routes; from automlkit.settings import TrainingSettings as T; s = T.load(); "
             "print(automlkit.__file__, s.tracking_uri, s.data_dir, sep='\\n')")
    # the defaults, not what earlier tests left in this process's environment (mlflow sets its URI there)
    settings = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_ARTIFACT_ROOT", "MLRUNS_DIR", "DATA_DIR")
    env = {k: v for k, v in os.environ.items() if k not in settings}
    out = subprocess.run([sys.executable, "-c", probe], cwd=work, capture_output=True, text=True, check=True,
                         env={**env, "PYTHONPATH": str(target), "AUTOML_ENV_FILE": os.devnull}).stdout
    package, tracking, data = out.split("\n")[:3]
    assert package.startswith(str(target))
    assert tracking == f"sqlite:///{work}/mlruns/mlflow.db" and data == str(tmp_path / "shared" / "data")
