"""Holdout split by id hash, threshold choice and gains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from automlkit.metrics import binary_metrics, cumulative_gains, max_f1_threshold
from automlkit.split import holdout_mask


def test_holdout_is_fixed_by_id_whatever_the_sample_or_order():
    frame = pd.DataFrame({"id": np.arange(1, 20001), "x": np.random.default_rng(0).random(20000)})
    full = pd.Series(holdout_mask(frame, "id", 0.2), index=frame["id"])
    assert 0.18 < full.mean() < 0.22
    sample = frame.sample(3000, random_state=3)
    assert (holdout_mask(sample, "id", 0.2) == full.loc[sample["id"]].to_numpy()).all()
    as_float = frame.assign(id=frame["id"].astype(float))
    assert (holdout_mask(as_float, "id", 0.2) == full.to_numpy()).all()


def test_holdout_without_id_uses_row_content():
    frame = pd.DataFrame({"a": range(1000), "b": ["x"] * 1000})
    mask = holdout_mask(frame, None, 0.3)
    assert (mask == holdout_mask(frame.iloc[::-1].reset_index(drop=True), None, 0.3)[::-1]).all()
    assert 0.25 < mask.mean() < 0.35


def test_holdout_fraction_is_checked():
    with pytest.raises(ValueError, match="between 0 and 1"):
        holdout_mask(pd.DataFrame({"id": [1]}), "id", 1.5)


def test_max_f1_threshold_is_the_best_cut():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    p = np.clip(y * 0.3 + rng.random(2000) * 0.7, 0, 1)
    threshold, f1 = max_f1_threshold(y, p)
    assert f1 == pytest.approx(f1_score(y, p >= threshold))
    for other in np.linspace(0.05, 0.95, 37):
        assert f1_score(y, p >= other) <= f1 + 1e-12


def test_binary_metrics_of_a_perfect_and_a_random_model():
    y = np.array([0, 0, 1, 1] * 50)
    assert binary_metrics(y, y * 0.98 + 0.01)["auc"] == 1.0
    assert binary_metrics(y, np.full(200, 0.5))["auc"] == 0.5
    assert binary_metrics(y, np.full(200, 0.5))["logloss"] == pytest.approx(np.log(2))


def test_cumulative_gains_ends_at_all_positives():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.2, 0.8, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    gains = cumulative_gains(y, p, points=11)
    assert gains.share_of_positives.iloc[-1] == 1.0 and gains.share_of_positives.iloc[0] == 0.0
    assert gains.share_of_positives.iloc[2] == 1.0  # the top 20% holds both positives
