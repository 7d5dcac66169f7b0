"""The ``automl`` console command: every subcommand reaches its module's own options."""

from __future__ import annotations

import subprocess

import pytest

from automlkit.cli import COMMANDS
from conftest import VENV_BIN


def automl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "automl"), *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand():
    result = automl("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name,option", [("train", "--output-dir"), ("retrain", "--first-run"),
                                         ("serve", "--dashboard-port"), ("api", "--port"),
                                         ("dashboard", "--port"), ("h2o-node", "--size")])
def test_each_subcommand_has_its_own_help(name, option):
    result = automl(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: automl {name}") and option in result.stdout


def test_an_unknown_subcommand_is_refused_with_the_choices():
    result = automl("fly")
    assert result.returncode == 2 and "invalid choice: 'fly'" in result.stderr and "train" in result.stderr
