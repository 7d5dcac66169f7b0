"""Choosing the leader: the best on cross-validation, or the cheapest to serve within the noise band."""

from __future__ import annotations

import numpy as np
import pytest

from automlkit.errors import ParameterError
from automlkit.metrics import binary_metrics, bootstrap_standard_error
from automlkit.selection import Candidate, ServingCost, candidates_frame, select


def candidate(model_id: str, cv: float, se: float | None, rows_per_s: float, contributions: bool) -> Candidate:
    algo = model_id.split("_")[0]
    return Candidate(model_id, algo, cv, se, ServingCost(mojo_bytes=1000, rows_per_s=rows_per_s,
                                                         contributions=contributions))


#: A leaderboard like the shipped data's: a stack on top by a hair, trees within noise and much faster.
BOARD = [
    candidate("StackedEnsemble_All", 0.8581, 0.0010, 12_000, False),
    candidate("XGBoost_tuned", 0.8578, 0.0011, 55_000, True),
    candidate("GBM_1", 0.8575, 0.0012, 70_000, True),
    candidate("GLM_1", 0.8570, 0.0009, 400_000, False),  # just outside the band
    candidate("DRF_1", 0.8540, 0.0010, 90_000, True),  # outside the band
]


def test_best_keeps_the_old_rule():
    chosen = select(BOARD, "best")
    assert chosen.winner.model_id == "StackedEnsemble_All" and chosen.rule == "best"
    assert "best cross-validated auc" in chosen.reason


def test_within_noise_takes_the_fastest_that_explains_inside_the_band():
    chosen = select(BOARD, "within_noise")
    assert chosen.band == pytest.approx(0.0010)
    assert chosen.inside == ["StackedEnsemble_All", "XGBoost_tuned", "GBM_1"]
    assert chosen.winner.model_id == "GBM_1"  # faster than the XGBoost; DRF is faster but outside the band
    assert "3 of 5 candidates" in chosen.reason and "median fold spread of 5 candidates" in chosen.reason
    assert chosen.as_dict()["serving"]["rows_per_s"] == 70_000


def test_one_clearly_best_expensive_model_still_wins():
    board = [candidate("StackedEnsemble_All", 0.8700, 0.0005, 5_000, False),
             candidate("GBM_1", 0.8600, 0.0005, 80_000, True)]
    chosen = select(board, "within_noise")
    assert chosen.winner.model_id == "StackedEnsemble_All" and chosen.inside == ["StackedEnsemble_All"]
    assert "the best is also the cheapest" in chosen.reason


def test_ties_inside_the_band_go_to_the_better_metric_on_equal_speed():
    board = [candidate("GBM_a", 0.8500, 0.001, 50_000, True), candidate("GBM_b", 0.8505, 0.001, 50_000, True)]
    assert select(board).winner.model_id == "GBM_b"


def test_with_nothing_explaining_the_cheapest_inside_wins():
    board = [candidate("StackedEnsemble_All", 0.8581, 0.001, 12_000, False),
             candidate("GLM_1", 0.8575, 0.001, 400_000, False)]
    chosen = select(board)
    assert chosen.winner.model_id == "GLM_1" and "none inside gives contributions" in chosen.reason


def test_lower_is_better_metrics_and_missing_fold_spreads():
    """The band is the median fold spread: a stack's narrow metalearner spread does not set it alone."""
    board = [candidate("StackedEnsemble_All", 0.2600, None, 10_000, False),  # no fold summary
             candidate("GBM_1", 0.2606, 0.0010, 60_000, True), candidate("GLM_1", 0.2630, 0.0008, 9e5, False),
             candidate("StackedEnsemble_Best", 0.2601, 0.0001, 9_000, False)]
    chosen = select(board, metric="logloss", higher_is_better=False)
    assert chosen.band == pytest.approx(0.0008)  # the median of 0.0001, 0.0008 and 0.0010
    assert chosen.winner.model_id == "GBM_1" and "median fold spread of 3 candidates" in chosen.reason


def test_bad_rules_and_empty_boards_are_refused():
    with pytest.raises(ParameterError, match="selection must be one of best, within_noise"):
        select(BOARD, "fastest")
    with pytest.raises(ParameterError, match="no candidate"):
        select([])


def test_the_costs_table_has_a_row_per_candidate():
    table = candidates_frame(BOARD)
    assert list(table["model_id"]) == [c.model_id for c in BOARD] and table["serving_contributions"].sum() == 3


def test_bootstrap_standard_error_shrinks_with_more_rows():
    rng = np.random.default_rng(0)
    def sample(n):
        y = rng.integers(0, 2, n)
        return y, np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, n), 0, 1)
    small, large = sample(500), sample(20_000)
    se_small = bootstrap_standard_error(*small, "auc", resamples=100)
    se_large = bootstrap_standard_error(*large, "auc", resamples=100)
    assert 0 < se_large < se_small / 3
    assert abs(binary_metrics(*large)["auc"] - 0.8) < 0.1


@pytest.mark.parametrize("new,champion,new_speed,promoted,says", [
    (0.861, 0.860, 10_000, True, "beats champion v1"),
    (0.8595, 0.860, 60_000, True, "within noise of champion v1 (holdout auc 0.85950 vs 0.86000, tolerance "
                                  "0.00170) and faster to score (60,000 vs 20,000 rows/s)"),
    (0.8595, 0.860, 10_000, False, "within noise of champion v1 (holdout auc 0.85950 vs 0.86000, tolerance "
                                   "0.00170) but not faster"),
    (0.855, 0.860, 90_000, False, "is worse than champion v1 beyond noise"),
])
def test_champion_challenger_weighs_noise_and_speed(new, champion, new_speed, promoted, says):
    from automlkit.registry import _compare

    result = _compare("2", "1", "auc", new, champion, True, 0.0017, new_speed, 20_000)
    assert result[0] is promoted and says in result[1]


def test_without_a_tolerance_only_a_strictly_better_version_wins():
    from automlkit.registry import _compare

    promoted, reason = _compare("2", "1", "auc", 0.8599, 0.8600, True, 0.0, 90_000, 20_000)
    assert not promoted and reason == "v2 does not beat champion v1 on holdout auc 0.85990 vs 0.86000"


def test_for_a_lower_is_better_metric_lower_beats():
    from automlkit.registry import _compare

    assert _compare("2", "1", "logloss", 0.260, 0.262, False, 0.001, 1, 2)[0]
    assert not _compare("2", "1", "logloss", 0.265, 0.262, False, 0.001, 9, 2)[0]
