"""`pytest --nbval-lax` over the committed notebooks, with small parameters injected by papermill."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import papermill
import pytest

from automlkit.settings import EXAMPLE_TARGET

from conftest import REPO

pytestmark = pytest.mark.integration

SMALL = {
    "dashboard.ipynb": {"api_url": "http://127.0.0.1:9"},  # no API there: the page says so, plainly
    "explore.ipynb": {"sample_rows": 3000, "target": EXAMPLE_TARGET},
    "train.ipynb": {"sample_rows": 3000, "target": EXAMPLE_TARGET, "max_runtime_secs": 30, "max_models": 2, "nfolds": 2,
                    "exclude_algos": ["DeepLearning", "DRF", "StackedEnsemble"], "tuned_xgboost": False,
                    "experiment_name": "nbval", "model_name": "nbval"},
}


def test_notebooks_are_committed_without_outputs():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), path.name
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"


def test_nbval_lax_runs_every_notebook(mlflow_server, sample_csv, tmp_path):
    prepared = []
    for name, parameters in SMALL.items():
        out = tmp_path / name
        data = {} if name == "dashboard.ipynb" else {"data_path": str(sample_csv)}
        papermill.execute_notebook(str(REPO / "notebooks" / name), str(out), parameters={**data, **parameters},
                                   prepare_only=True, kernel_name="python3")
        prepared.append(str(out))
    assert {p.name for p in (REPO / "notebooks").glob("*.ipynb")} == set(SMALL), "every notebook is run here"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "-o", "addopts=", "-q", *prepared],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
