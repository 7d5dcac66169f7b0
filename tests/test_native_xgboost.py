"""The native fast path for XGBoost models (``automlkit.native_xgboost``) on the committed tiny XGBoost MOJO:
it serves batches within the equality bound of the MOJO, leaves small batches and other models to the MOJO,
refuses a booster whose scores disagree, and can be switched off."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from automlkit.java_build import genmodel_jar
from automlkit.mojo import MojoScorer
from automlkit.native_xgboost import EQUALITY_BOUND, NATIVE_MIN_ROWS, NativeBooster
from automlkit.schema import conform
from automlkit.scoring import ModelMeta, ScoringModel
from conftest import TEST_CSV
from route_fixtures import TINY_META, TINY_MOJO, TINY_XGBOOST_MOJO


@pytest.fixture(scope="module")
def meta() -> ModelMeta:
    return ModelMeta.read(TINY_META)


@pytest.fixture(scope="module")
def model(meta) -> ScoringModel:
    return ScoringModel(TINY_XGBOOST_MOJO, genmodel_jar(), meta)


@pytest.fixture(scope="module")
def matrix(model) -> np.ndarray:
    """5,000 real rows of test.csv.gz in the MOJO's encoding."""
    frame = pd.read_csv(TEST_CSV, nrows=5000)
    return model.scorer.encode(conform(frame, model.schema).features, len(frame))


def test_batches_of_an_xgboost_model_take_the_native_path_within_the_bound(model, matrix):
    scorer = model.scorer
    assert scorer.native is not None
    native = scorer.score_matrix(matrix)
    mojo = scorer.score_matrix(matrix, native=False)
    assert np.max(np.abs(native - mojo)) <= EQUALITY_BOUND
    # the native call really answered: its own output, not the MOJO's
    np.testing.assert_array_equal(native, scorer.native.probability(matrix))


def test_the_scorer_says_which_path_serves_batches(model):
    assert model.scorer.describe() == {"batches": "native-xgboost", "native_min_rows": NATIVE_MIN_ROWS,
                                       "equality_bound": EQUALITY_BOUND}


def test_warm_up_scores_made_up_rows_within_the_contract(model):
    sample = model.schema.sample_rows(500, seed=3)
    conformed = conform(sample, model.schema)  # raises DataContractError on any row outside the contract
    assert not conformed.warnings and len(sample) == 500
    assert sample.isna().any().any() and not sample.isna().all().any()
    assert model.warm_up(rows=2000) > 0


def test_small_batches_stay_on_the_mojo(model, matrix, monkeypatch):
    scorer = model.scorer
    monkeypatch.setattr(scorer.native, "probability", lambda m: pytest.fail("native path used"))
    small = matrix[: NATIVE_MIN_ROWS - 1]
    np.testing.assert_array_equal(scorer.score_matrix(small), scorer.score_matrix(small, native=False))


def test_the_positive_class_decides_which_side_is_returned(meta, matrix):
    positive = ScoringModel(TINY_XGBOOST_MOJO, genmodel_jar(), meta).scorer
    domain = [str(v) for v in positive.model.getDomainValues(positive.model.getResponseIdx())]
    negative = MojoScorer(TINY_XGBOOST_MOJO, genmodel_jar(), positive_class=domain[0])
    assert negative.native is not None and negative.positive_index == 0
    np.testing.assert_allclose(negative.score_matrix(matrix), 1 - positive.score_matrix(matrix), atol=1e-12)
    assert np.max(np.abs(negative.score_matrix(matrix) - negative.score_matrix(matrix, native=False))) \
        <= EQUALITY_BOUND


def test_a_booster_that_disagrees_with_the_mojo_is_refused(monkeypatch, caplog):
    original = NativeBooster.one_hot
    # a wrong one-hot: every column one to the right
    monkeypatch.setattr(NativeBooster, "one_hot", lambda self, matrix: np.roll(original(self, matrix), 1, axis=1))
    with caplog.at_level(logging.WARNING, logger="automlkit.native_xgboost"):
        scorer = MojoScorer(TINY_XGBOOST_MOJO, genmodel_jar())
    assert scorer.native is None
    assert "differs from the MOJO" in caplog.text


def test_other_models_and_the_setting_keep_the_mojo(monkeypatch):
    assert MojoScorer(TINY_MOJO, genmodel_jar()).native is None  # a GBM
    monkeypatch.setenv("NATIVE_XGBOOST", "0")
    assert MojoScorer(TINY_XGBOOST_MOJO, genmodel_jar()).native is None


def test_check_rows_reach_both_sides_of_every_split(model):
    native = model.scorer.native
    rows = native.check_rows(model.scorer.domains)
    encoded = native.one_hot(rows)
    for feature, points in native._split_points().items():
        values = encoded[:, feature]
        assert (values < points.min()).any() or np.isnan(values).any()
        assert (values >= points.max()).any()
