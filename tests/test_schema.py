"""The data contract: every kind of bad CSV gets a clear error naming the column and rows."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from automlkit.errors import DataContractError
from automlkit.schema import Schema, canonical_levels, conform, infer_schema, read_csv

HEADER = "id,Gender,Age,Region_Code,Annual_Premium,Response"
ROWS = ["1,Male,44,28.0,40454.0,1", "2,Female,76,3.0,33536.0,0", "3,Male,47,28.0,38294.0,1",
        "4,Female,21,11.0,28619.0,0"]


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


@pytest.fixture
def schema() -> Schema:
    frame = pd.read_csv(__import__("io").BytesIO(csv_bytes(*ROWS)))
    return infer_schema(frame, "Response", "id", categorical=["Region_Code"])


def error_of(call) -> DataContractError:
    with pytest.raises(DataContractError) as info:
        call()
    return info.value


def test_infer_schema_kinds_levels_and_ranges(schema):
    assert schema.feature_names == ["Gender", "Age", "Region_Code", "Annual_Premium"]
    assert schema.column("Region_Code").kind == "categorical"
    assert schema.column("Region_Code").levels == ["11", "28", "3"]
    assert schema.column("Age").kind == "numeric"
    assert (schema.column("Age").minimum, schema.column("Age").maximum) == (21.0, 76.0)
    assert schema.positive_class == "1" and schema.id_column == "id"
    assert Schema.from_dict(schema.to_dict()) == schema


def test_target_must_be_binary():
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 2]})
    assert "two classes" in str(error_of(lambda: infer_schema(frame, "y", None)))


def test_canonical_levels_write_whole_numbers_without_decimals():
    values = pd.Series([28.0, "28.0", " 28 ", "Male", None, 3.5, ""], dtype=object)
    assert canonical_levels(values).tolist()[:4] == ["28", "28", "28", "Male"]
    assert pd.isna(canonical_levels(values)[4]) and canonical_levels(values)[5] == "3.5"
    assert pd.isna(canonical_levels(values)[6])


def test_good_csv_conforms_in_any_column_order_with_extras_passed_through(schema):
    header = "Annual_Premium,Response,Region_Code,Age,Gender,id,extra"
    body = csv_bytes("40454.0,1,28.0,44,Male,1,a", "33536,0,3,76,Female,2,b", header=header)
    result = conform(read_csv(body), schema)
    assert list(result.features.columns) == schema.feature_names
    assert result.features["Age"].tolist() == [44.0, 76.0]
    assert result.features["Region_Code"].tolist() == ["28", "3"]
    assert result.passthrough.columns.tolist() == ["id", "extra"]
    assert result.warnings == []


@pytest.mark.parametrize("rows", [ROWS, ["1,Male,,28,,1", "2,Female,33,,1.5e3,0"], ["1,Male,inf,28,1,0"],
                                  ["1,Male,old,28,1,0", "2,Male,nan,3,2,0"], ['1,"Male",44,28,"1,000",0']])
def test_numbers_parsed_while_reading_conform_like_text(schema, rows):
    """parse_csv's typed fast path gives the same features, errors and warnings as the all-text path."""
    from automlkit.schema import parse_csv

    text = csv_bytes(*rows).decode()

    def outcome(frame):
        try:
            result = conform(frame, schema)
        except DataContractError as err:
            return [str(p) for p in err.problems]
        cells = [[None if pd.isna(v) else v for v in row] for row in result.features.astype(object).values]
        return cells, result.warnings

    assert outcome(parse_csv(text, numeric=["Age", "Annual_Premium"])) == outcome(parse_csv(text))


def test_bom_crlf_and_gzip_are_read(schema):
    raw = b"\xef\xbb\xbf" + csv_bytes(*ROWS).replace(b"\n", b"\r\n")
    for body in (raw, gzip.compress(raw)):
        frame = read_csv(body)
        assert frame.columns[0] == "id" and len(frame) == 4
        assert conform(frame, schema).features["Annual_Premium"].iloc[-1] == 28619.0


def test_empty_file():
    err = error_of(lambda: read_csv(b""))
    assert err.status == 400 and "empty" in str(err)
    assert "empty" in str(error_of(lambda: read_csv(b"  \n\n")))


def test_header_only():
    err = error_of(lambda: read_csv(csv_bytes()))
    assert "no data rows" in str(err)


@pytest.mark.parametrize("delimiter,name", [(";", "semicolon"), ("\t", "tab")])
def test_other_delimiter(delimiter, name):
    body = csv_bytes(*(r.replace(",", delimiter) for r in ROWS), header=HEADER.replace(",", delimiter))
    assert f"{name}-delimited" in str(error_of(lambda: read_csv(body)))


def test_non_utf8_names_the_row():
    body = csv_bytes(ROWS[0]) + b"2,F\xe9male,76,3.0,33536.0,0\n"
    err = error_of(lambda: read_csv(body))
    assert "not UTF-8" in str(err) and "row 2" in str(err)
    assert err.problems[0].rows == [2]


def test_ragged_rows_are_malformed_with_their_row_numbers():
    err = error_of(lambda: read_csv(csv_bytes(ROWS[0], "2,Female,76,3.0,33536.0,0,extra,more", ROWS[2], "4,Male")))
    assert "malformed" in str(err) and "rows 2, 4" in str(err) and "header's 6" in str(err)
    assert err.problems[0].rows == [2, 4] and err.status == 400
    quoted = csv_bytes('1,"Male, or not",44,28.0,40454.0,1', '2,"x",1')
    assert error_of(lambda: read_csv(quoted)).problems[0].rows == [2]


def test_missing_columns_are_named(schema):
    frame = read_csv(csv_bytes("1,Male,44,1", header="id,Gender,Age,Response"))
    err = error_of(lambda: conform(frame, schema))
    missing = {p.column for p in err.problems if "missing" in p.message}
    assert missing == {"Region_Code", "Annual_Premium"}


def test_wrong_types_name_column_and_first_rows(schema):
    rows = [f"{i},Male,{'old' if i in (3, 5, 9) else 40},28,100.0,0" for i in range(1, 11)]
    err = error_of(lambda: conform(read_csv(csv_bytes(*rows)), schema))
    (problem,) = err.problems
    assert problem.column == "Age" and problem.rows == [3, 5, 9] and problem.count == 3
    assert "expected a number" in problem.message and "old" in problem.message
    assert "column 'Age', rows 3, 5, 9" in str(err)


def test_many_bad_rows_are_capped_with_a_count(schema):
    rows = [f"{i},Male,x,28,100.0,0" for i in range(1, 21)]
    problem = error_of(lambda: conform(read_csv(csv_bytes(*rows)), schema)).problems[0]
    assert problem.rows == [1, 2, 3, 4, 5] and problem.count == 20 and "15 more" in str(problem)


def test_infinity_is_not_a_number(schema):
    err = error_of(lambda: conform(read_csv(csv_bytes("1,Male,44,28,inf,0")), schema))
    assert err.problems[0].column == "Annual_Premium"


def test_unseen_category_is_kept_with_a_warning(schema):
    result = conform(read_csv(csv_bytes("1,Male,44,99.0,100.0,0", "2,Female,30,28,100.0,1")), schema)
    (warning,) = [w for w in result.warnings if w.column == "Region_Code"]
    assert warning.rows == [1] and "unseen category ['99']" in warning.message
    assert "scored as missing, as H2O does" in warning.message
    assert result.features["Region_Code"].tolist() == ["99", "28"]


def test_out_of_range_number_is_a_warning(schema):
    result = conform(read_csv(csv_bytes("1,Male,120,28,30000.0,0")), schema)
    assert [(w.column, w.rows) for w in result.warnings] == [("Age", [1])]


def test_empty_cells_are_missing_not_errors(schema):
    result = conform(read_csv(csv_bytes("1,Male,,,100.0,0")), schema)
    assert np.isnan(result.features["Age"][0]) and pd.isna(result.features["Region_Code"][0])


def test_json_values_conform_like_csv_text(schema):
    frame = pd.DataFrame([{"Gender": "Male", "Age": 44, "Region_Code": 28.0, "Annual_Premium": "100"},
                          {"Gender": "Female", "Age": None, "Region_Code": "3", "Annual_Premium": 5.5}])
    result = conform(frame, schema)
    assert result.features["Age"].tolist()[0] == 44.0 and np.isnan(result.features["Age"][1])
    assert result.features["Region_Code"].tolist() == ["28", "3"]
    bad = pd.DataFrame([{"Gender": "Male", "Age": True, "Region_Code": 28, "Annual_Premium": 1.0}])
    assert error_of(lambda: conform(bad, schema)).problems[0].column == "Age"


def test_size_limits_give_413():
    body = csv_bytes(*ROWS)
    assert error_of(lambda: read_csv(body, max_bytes=20)).status == 413
    assert error_of(lambda: read_csv(body, max_rows=2)).status == 413


def test_gzip_bomb_is_stopped_at_the_limit():
    bomb = gzip.compress(csv_bytes(*ROWS) + b"0" * 50_000_000)
    assert len(bomb) < 100_000
    err = error_of(lambda: read_csv(bomb, max_bytes=1_000_000))
    assert err.status == 413 and "decompressed" in str(err)


def test_corrupt_gzip():
    assert "corrupt" in str(error_of(lambda: read_csv(b"\x1f\x8b" + b"garbage" * 10)))


VALUES = [None, "", " ", 44, 44.0, "44", " 44.0 ", "4.4e1", 3.5, "x", True, "inf", float("inf"), "1e500",
          "nan", float("nan"), "1_000", -0.0, 2**60, "Male", "28.0", 28]


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("column", ["Age", "Region_Code", "Gender"])
def test_records_and_frames_follow_the_same_rules(schema, column, value):
    """The JSON fast path (conform_records) and the DataFrame path (conform) agree value for value."""
    from automlkit.schema import conform_records

    base = {"Gender": "Male", "Age": 40, "Region_Code": "28", "Annual_Premium": 30000.0}
    records = [base, {**base, column: value}]

    def outcome(call):
        try:
            result = call()
        except DataContractError as err:
            return ("error", [(p.column, p.rows) for p in err.problems])
        got = result.features[column]
        got = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in list(got)]
        return ("ok", got, [(w.column, w.rows, w.message) for w in result.warnings])

    assert outcome(lambda: conform_records(records, schema)) == outcome(
        lambda: conform(pd.DataFrame(records, dtype=object), schema))
