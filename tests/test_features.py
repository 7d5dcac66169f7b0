"""Target encodings: the smoothed rate, out-of-fold values for training rows, the same values when scoring."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from automlkit.features import fit_target_encodings
from automlkit.schema import Schema, canonical_levels, conform, conform_records, infer_schema, read_csv


def test_table_is_the_smoothed_positive_rate_and_unseen_or_missing_get_the_prior():
    levels = pd.Series(["a"] * 8 + ["b"] * 2)
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1])
    (encoding,), _ = fit_target_encodings({"code": levels}, y, smoothing=2)
    assert encoding.prior == pytest.approx(0.6) and encoding.name == "te_code"
    assert encoding.table["a"] == pytest.approx((4 + 0.6 * 2) / (8 + 2))
    assert encoding.table["b"] == pytest.approx((2 + 0.6 * 2) / (2 + 2))
    assert encoding.values(["a", "zzz", None]).tolist() == pytest.approx([encoding.table["a"], 0.6, 0.6])
    categorical = pd.Categorical.from_codes([1, -1, 0], categories=["a", "b"])
    assert encoding.values(categorical).tolist() == pytest.approx([encoding.table["b"], 0.6, encoding.table["a"]])


def test_out_of_fold_values_never_see_their_own_label():
    rng = np.random.default_rng(0)
    levels = pd.Series(rng.integers(0, 5, 2000).astype(str))
    y = rng.integers(0, 2, 2000)
    _, oof = fit_target_encodings({"code": levels}, y, smoothing=0, folds=5, seed=3)
    flipped = y.copy()
    flipped[7] = 1 - flipped[7]
    _, oof_flipped = fit_target_encodings({"code": levels}, flipped, smoothing=0, folds=5, seed=3)
    # row 7's own value does not move when only its own label changes; rows of other folds do
    assert oof["te_code"][7] == oof_flipped["te_code"][7]
    assert (oof["te_code"] != oof_flipped["te_code"]).sum() > 0


TRAIN = "id,Region_Code,Age,Response\n" + "\n".join(
    f"{i},{[28.0, 3.0, 11.0][i % 3]},{20 + i % 50},{int(i % 3 == 0 or i % 7 == 0)}" for i in range(1, 301)) + "\n"


@pytest.fixture
def schema() -> Schema:
    frame = pd.read_csv(io.StringIO(TRAIN))
    schema = infer_schema(frame, "Response", "id")
    y = (frame["Response"] == 1).to_numpy().astype(int)
    schema.target_encodings, _ = fit_target_encodings({"Region_Code": canonical_levels(frame["Region_Code"])}, y)
    return schema


def test_csv_and_json_rows_get_the_trained_tables_values(schema):
    table = schema.target_encodings[0].table
    assert set(table) == {"28", "3", "11"}  # numeric codes are keyed by their canonical text
    csv = read_csv(b"id,Region_Code,Age\n1,28.0,30\n2,3,40\n3,99,50\n4,,60\n")
    from_csv = conform(csv, schema).features["te_Region_Code"].tolist()
    prior = schema.target_encodings[0].prior
    assert from_csv == pytest.approx([table["28"], table["3"], prior, prior])
    records = [{"Region_Code": 28, "Age": 30}, {"Region_Code": "3.0", "Age": 40}, {"Region_Code": 99, "Age": 50},
               {"Region_Code": None, "Age": 60}]
    assert conform_records(records, schema).features["te_Region_Code"] == pytest.approx(from_csv)
    assert schema.model_features == ["Region_Code", "Age", "te_Region_Code"]


def test_schema_with_encodings_round_trips_through_json(schema):
    import json

    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema
