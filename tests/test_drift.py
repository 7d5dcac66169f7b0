"""Drift references and the population stability index, on the real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automlkit.drift import MISSING, OTHER, PSI_ALERT, batch_drift, fit_reference, fit_references, psi


@pytest.fixture(scope="module")
def halves(train_frame):
    shuffled = train_frame.sample(frac=1.0, random_state=3)
    return shuffled.iloc[:100_000], shuffled.iloc[100_000:120_000]


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.8, 0.2])
    assert np.isfinite(psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))  # an empty training bin does not blow up


def test_numeric_reference_bins_at_the_training_deciles_with_a_missing_bin(halves):
    train, _ = halves
    reference = fit_reference("Age", "numeric", train["Age"].astype(float))
    assert reference.bins[-1] == MISSING and len(reference.edges) == len(reference.bins) - 2
    assert abs(sum(reference.shares) - 1) < 1e-9 and reference.shares[-1] == 0
    assert max(reference.shares[:-1]) < 0.2  # deciles: no bin holds much more than a tenth
    counts = reference.counts(np.array([np.nan, -1.0, 1e9]))
    assert counts[0] == 1 and counts[-2] == 1 and counts[-1] == 1


def test_categorical_reference_puts_unseen_levels_in_other(halves):
    train, _ = halves
    reference = fit_reference("Vehicle_Age", "categorical", train["Vehicle_Age"])
    assert set(reference.bins) == {"< 1 Year", "1-2 Year", "> 2 Years", OTHER, MISSING}
    counts = reference.counts(["< 1 Year", "never seen", None])
    assert counts[reference.bins.index("< 1 Year")] == 1 and counts[-2] == 1 and counts[-1] == 1


def test_a_fresh_sample_does_not_drift_and_a_shifted_one_does(halves):
    train, batch = halves
    kinds = {"Age": "numeric", "Annual_Premium": "numeric", "Vehicle_Damage": "categorical"}
    references = fit_references(train, kinds)
    calm = batch_drift(references, batch, len(batch))
    assert {r["column"] for r in calm} == set(kinds)
    assert all(r["psi"] < 0.01 and not r["drifted"] for r in calm), calm
    older = batch.assign(Age=batch["Age"] + 15, Vehicle_Damage="Yes")
    shifted = {r["column"]: r for r in batch_drift(references, older, len(older))}
    assert shifted["Age"]["psi"] > PSI_ALERT and shifted["Age"]["drifted"]
    assert shifted["Vehicle_Damage"]["drifted"] and shifted["Vehicle_Damage"]["bin"] in ("Yes", "No")
    assert not shifted["Annual_Premium"]["drifted"]
    ordered = batch_drift(references, older, len(older))
    assert [r["psi"] for r in ordered] == sorted((r["psi"] for r in ordered), reverse=True)


def test_references_survive_a_json_round_trip(halves):
    import json
    from dataclasses import asdict

    from automlkit.drift import DriftReference

    train, batch = halves
    reference = fit_reference("Region_Code", "numeric", train["Region_Code"])
    again = DriftReference(**json.loads(json.dumps(asdict(reference))))
    assert batch_drift([again], batch, len(batch)) == batch_drift([reference], batch, len(batch))
    frame = pd.DataFrame({"Region_Code": [np.nan] * 10})
    assert batch_drift([again], frame, 10)[0]["bin"] == MISSING
