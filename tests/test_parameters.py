"""The training notebook's parameters: list values given as YAML/JSON text wherever they come from (papermill's
``-p``, ``make train PARAMS``, the schedule's ``TRAIN_PARAMS``), a value of the wrong shape refused by name and
never iterated as characters, and no default that names the shipped data's columns."""

from __future__ import annotations

import subprocess

import pytest

from automlkit import retrain, run_training
from automlkit.errors import ParameterError
from automlkit.settings import EXAMPLE_TARGET, TrainingSettings
from automlkit.training import TrainParams

from conftest import REPO, VENV_BIN


@pytest.fixture
def settings() -> TrainingSettings:
    return TrainingSettings.load()


def test_list_parameters_given_as_text_are_read_as_yaml_or_json(settings):
    params = TrainParams.read(settings, target_encoding="[]", exclude_algos='["DeepLearning", "GLM"]',
                              categorical_columns="[Region_Code]", max_runtime_secs="60", tuned_xgboost="False")
    assert params.target_encoding == [] and params.exclude_algos == ["DeepLearning", "GLM"]
    assert params.categorical_columns == ["Region_Code"]
    assert params.max_runtime_secs == 60 and params.tuned_xgboost is False
    # typed values (make train reads each -p as YAML; TRAIN_PARAMS is one YAML mapping) are taken as they are
    typed = TrainParams.read(settings, target_encoding=["Region_Code"], exclude_algos=[], sample_rows=5000)
    assert typed.target_encoding == ["Region_Code"] and typed.sample_rows == 5000
    assert TrainParams.read(settings, target_encoding="auto").target_encoding == "auto"
    assert TrainParams.read(settings, categorical_columns="").categorical_columns == []


@pytest.mark.parametrize("name, value, says", [
    ("target_encoding", "Region_Code", "expected auto or a list of column names"),
    ("target_encoding", "{Region_Code: 1}", "expected auto or a list of column names"),
    ("exclude_algos", "DeepLearning", "Input should be a valid list"),
    ("categorical_columns", "[Region_Code", "not YAML or JSON text"),
    ("max_runtime_secs", "two minutes", "valid integer"),
    ("selection", "fastest", "must be one of best, within_noise"),
    ("max_runtme_secs", "60", "not a parameter of the training notebook"),
])
def test_a_value_of_the_wrong_shape_is_refused_by_name(settings, name, value, says):
    with pytest.raises(ParameterError) as caught:
        TrainParams.read(settings, **{name: value})
    assert f"{name}: " in str(caught.value) and says in str(caught.value)
    assert "column '['" not in str(caught.value)


def test_only_the_shipped_example_has_a_default_target(settings):
    example = TrainParams.read(settings)
    assert (example.data_path, example.target) == (settings.data_path(), EXAMPLE_TARGET)
    assert example.target_encoding == "auto"
    with pytest.raises(ParameterError, match="target: name the column to predict"):
        TrainParams.read(settings, data_path="/data/houses.csv")
    assert TrainParams.read(settings, data_path="/data/houses.csv", target="price").target == "price"


def test_the_commands_refuse_a_wrong_shape_before_any_run_starts(capsys):
    assert run_training.main(["-p", "exclude_algos", "DeepLearning"]) == 2
    assert "exclude_algos: Input should be a valid list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        retrain.main(["--interval", "0", "--parameters", "{target_encoding: Region_Code}"])
    assert "target_encoding: expected auto or a list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        retrain.main(["--interval", "0", "--first-run", "sample_rows", "[1, 2]"])
    assert "sample_rows: " in capsys.readouterr().err


@pytest.mark.integration
def test_papermill_passes_text_and_the_notebook_refuses_a_wrong_shape_by_name(tmp_path):
    """papermill's own ``-p`` (text values) into the real notebook: a list of the wrong shape stops it at the
    parameters, naming the parameter, before any data is read or H2O is started."""
    result = subprocess.run(
        [str(VENV_BIN / "papermill"), str(REPO / "notebooks" / "train.ipynb"), str(tmp_path / "out.ipynb"), "-k", "python3",
         "-p", "target_encoding", "Region_Code", "-p", "exclude_algos", "[DeepLearning]"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    refusal = next(line for line in result.stderr.splitlines() if line.startswith("ParameterError: "))
    assert "target_encoding: expected auto or a list of column names" in refusal
    assert "exclude_algos" not in refusal  # '[DeepLearning]' was read as a list
