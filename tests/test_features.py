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


def _table(rows: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A binary target driven by a numeric code (60 values, a random rate each), a smooth amount, a 200-level
    text column (a random rate each); plus noise: numbers with many values, few levels, non-whole amounts."""
    rng = np.random.default_rng(seed)
    code = rng.integers(0, 60, rows)
    amount = rng.integers(20, 80, rows)
    text = rng.integers(0, 200, rows)
    logit = (rng.normal(0, 1.2, 60)[code] + 0.04 * (amount - 50) + rng.normal(0, 1.2, 200)[text] - 1.5)
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"code": code.astype(float), "amount": amount, "text": [f"t{v}" for v in text],
                          "noise": rng.integers(0, 300, rows), "flag": rng.integers(0, 3, rows),
                          "price": rng.normal(100, 10, rows), "serial": np.arange(rows)})
    return frame, y


def _columns(frame: pd.DataFrame) -> dict:
    return {c: (canonical_levels(frame[c]), frame[c] if c != "text" else None) for c in frame.columns}


def test_auto_encodes_the_columns_whose_levels_tell_more_than_groups_and_says_why_for_every_column():
    from automlkit.features import AUTO_MIN_GAIN, choose_target_encodings

    frame, y = _table()
    encodings, out_of_fold, choices = choose_target_encodings(_columns(frame), y, smoothing=20, seed=1)
    by_column = {c.column: c for c in choices}
    assert set(by_column) == set(frame.columns)
    assert [e.column for e in encodings] == ["code", "text"] == [c for c in by_column if by_column[c].encoded]
    assert list(out_of_fold.columns) == ["te_code", "te_text"] and len(out_of_fold) == len(y)
    for name in ("code", "text"):
        choice = by_column[name]
        assert choice.explained_by_levels - choice.explained_by_groups >= AUTO_MIN_GAIN
        assert f"its {choice.levels} levels explain" in choice.reason
    assert "value ranges" in by_column["code"].reason and "frequent levels" in by_column["text"].reason
    assert by_column["amount"].explained_by_levels - by_column["amount"].explained_by_groups < AUTO_MIN_GAIN
    assert not by_column["noise"].encoded
    assert by_column["flag"].reason == "3 levels: the model sees each of them"
    assert "not all whole" in by_column["price"].reason
    assert "a level averages fewer than 10 rows" in by_column["serial"].reason
    # the chosen columns' values are those fit_target_encodings gives them (the same folds)
    alone, values = fit_target_encodings({"code": canonical_levels(frame["code"]),
                                          "text": canonical_levels(frame["text"])}, y, smoothing=20, seed=1)
    assert alone == encodings and values.equals(out_of_fold)


def test_auto_encodes_for_a_numeric_target_too_and_nothing_when_no_column_tells_more():
    from automlkit.features import choose_target_encodings

    frame, y = _table(seed=3)
    amount = np.random.default_rng(3).normal(0, 1, len(frame)) + 3 * y  # a regression target
    encodings, _, _ = choose_target_encodings(_columns(frame), amount, seed=1)
    assert {"code", "text"} <= {e.column for e in encodings}
    noise = np.random.default_rng(4).integers(0, 2, len(frame))
    encodings, out_of_fold, choices = choose_target_encodings(_columns(frame), noise, seed=1)
    assert encodings == [] and out_of_fold.empty and not any(c.encoded for c in choices)
