"""The data contract: every kind of bad CSV gets a clear error naming the column and rows."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from automlkit.errors import DataContractError, Problem
from automlkit.schema import Schema, canonical_levels, conform, conform_records, infer_schema, read_csv

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


@pytest.mark.parametrize("values, problem, why", [
    ([0, 1, 1, 0], "binary", "two values"),
    (["yes", "no", "no"], "binary", "two values"),
    (["a", "b", "c", "a"], "multiclass", "text with 3"),
    ([1, 2, 3, 3, 2], "multiclass", "whole numbers with 3"),
    ([1.0, 2.0, 3.0], "multiclass", "whole numbers with 3"),
    (list(range(11)), "regression", "11 distinct values"),
    ([0.5, 1.5, 2.0], "regression", "not all whole"),
])
def test_auto_decides_the_problem_from_the_target_and_says_why(values, problem, why):
    frame = pd.DataFrame({"x": range(len(values)), "y": values})
    schema = infer_schema(frame, "y", None)
    assert schema.problem == problem and why in schema.problem_reason and schema.problem_reason.startswith("auto")
    assert schema.classes == ([] if problem == "regression" else sorted(canonical_levels(frame["y"]).unique()))
    assert schema.is_binary == (problem == "binary") and bool(schema.positive_class) == (problem == "binary")


@pytest.mark.parametrize("values, requested, message", [
    ([0, 1, 2], "binary", "a binary target needs two classes, found 3"),
    ([7, 7, 7], "auto", "single value ('7')"),
    ([None, None, None], "auto", "missing in every row"),
    (list(range(60)), "multiclass", "60 classes, more than the 50"),
    (["a", "b", "c"], "regression", "a regression target must be numeric"),
    ([0, 1, 0], "ranking", "problem must be auto or one of binary, multiclass, regression"),
])
def test_a_target_that_cannot_make_the_problem_is_refused_naming_the_column(values, requested, message):
    frame = pd.DataFrame({"x": range(len(values)), "y": values})
    error = error_of(lambda: infer_schema(frame, "y", None, problem=requested))
    assert error.problems[0].column == "y" and message in error.problems[0].message


def test_a_problem_that_the_target_allows_can_be_set():
    frame = pd.DataFrame({"x": range(4), "y": [1, 2, 3, 4]})
    assert infer_schema(frame, "y", None).problem == "multiclass"
    forced = infer_schema(frame, "y", None, problem="regression")
    assert forced.problem == "regression" and forced.problem_reason == "set by the problem parameter"


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
    # the id and the target are expected; an unknown column is named (both paths alike)
    unknown = [Problem("extra", "not a column of the model: passed through, not scored")]
    assert result.warnings == unknown
    records = read_csv(body).to_dict("records")
    assert conform_records(records, schema).warnings == unknown


def test_a_date_column_the_model_ignores_is_named_with_why(schema):
    dated = Schema.from_dict({**schema.to_dict(), "ignored_columns": {"signed_up": "a date column"}})
    body = csv_bytes("40454.0,28.0,44,Male,1,2024-03-01", header="Annual_Premium,Region_Code,Age,Gender,id,signed_up")
    assert conform(read_csv(body), dated).warnings == [
        Problem("signed_up", "ignored by the model (a date column): passed through, not scored")]


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
          "nan", float("nan"), "1_000", -0.0, 2**60, "Male", "28.0", 28,
          # where the two paths used to differ
          False, "-nan", "+NaN", " -Infinity ", float("-inf"), "\u0661\u0662", 10**400, [1], {"a": 1},
          2**53, float(2**53), 2**53 - 1, "9007199254740993", 1e20, "1e20", "  Female ", "\xa05", "0x10", "-0"]


def _outcome(call, columns):
    """What a conform call gives: every problem in full, or the features of ``columns`` and every warning."""
    try:
        result = call()
    except DataContractError as err:
        return ("error", [(p.column, p.message, p.rows, p.count) for p in err.problems])
    features = {c: [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v
                    for v in list(result.features[c])] for c in columns}
    return ("ok", features, [(w.column, w.message, w.rows, w.count) for w in result.warnings])


def _frames(records):
    """The DataFrames a caller may build from ``records``: object columns, and pandas' own dtypes (unless that
    turns integers past 2**53 into other floats)."""
    yield "object", pd.DataFrame(records, dtype=object)
    if not any(type(v) is int and abs(v) >= 2**53 for r in records for v in r.values()):
        yield "inferred", pd.DataFrame(records)


BASE = {"Gender": "Male", "Age": 40, "Region_Code": "28", "Annual_Premium": 30000.0}


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("column", ["Age", "Region_Code", "Gender"])
def test_records_and_frames_follow_the_same_rules(schema, column, value):
    """The JSON path (conform_records) and the DataFrame path (conform) agree value for value: the same
    features, and the same problems and warnings, message for message."""
    from automlkit.schema import conform_records

    records = [BASE, {**BASE, column: value}]
    expected = _outcome(lambda: conform_records(records, schema), [column])
    for dtype, frame in _frames(records):
        assert _outcome(lambda: conform(frame, schema), [column]) == expected, dtype


def test_records_and_frames_agree_on_many_mixed_rows(schema):
    """Many rows of mixed values in one column: a DataFrame column is checked per distinct value, and values
    that compare equal but follow different rules (True == 1 == 1.0, 2**53 == 2.0**53) must not be merged."""
    from automlkit.schema import conform_records

    rng = np.random.default_rng(7)
    for column in ("Age", "Region_Code", "Gender"):
        for _ in range(30):
            picks = rng.integers(0, len(VALUES), 12)
            records = [{**BASE, column: VALUES[i]} for i in picks]
            expected = _outcome(lambda: conform_records(records, schema), [column])
            for dtype, frame in _frames(records):
                assert _outcome(lambda: conform(frame, schema), [column]) == expected, (column, picks, dtype)
    mixed = [True, 1, 1.0, "1", 2**53, float(2**53), None, False, 0]
    records = [{**BASE, "Region_Code": v} for v in mixed]
    levels = _outcome(lambda: conform(pd.DataFrame(records, dtype=object), schema), ["Region_Code"])[1]
    assert levels["Region_Code"] == ["True", "1", "1", "1", "9007199254740992", "9007199254740992.0", None,
                                     "False", "0"]
    assert error_of(lambda: conform(pd.DataFrame([{**BASE, "Age": v} for v in mixed], dtype=object),
                                    schema)).problems[0].rows == [1, 8]  # the bools, not the equal 1 and 0
    numbers = [{**BASE, "Region_Code": v} for v in (2**53, float(2**53), 28, 28.0)]  # only ints and floats
    assert _outcome(lambda: conform(pd.DataFrame(numbers, dtype=object), schema), ["Region_Code"])[1] == {
        "Region_Code": ["9007199254740992", "9007199254740992.0", "28", "28"]}


def test_every_message_is_the_same_from_both_paths(schema):
    """The exact text of each error and warning, from records and from a DataFrame of the same rows."""
    from automlkit.schema import conform_records

    rows = [{**BASE, "Age": "old"}, {**BASE, "Age": True}, {**BASE, "Age": "old", "Annual_Premium": "inf"},
            {**BASE, "Gender": ["M"]}, {**BASE, "Annual_Premium": 1e500}, {**BASE, "Annual_Premium": "NaN"}]
    problems = [(p.column, p.message, p.rows) for p in error_of(lambda: conform_records(rows, schema)).problems]
    assert problems == [
        ("Gender", "expected a text or number category, got an object or list", [4]),
        ("Age", "expected a number, got ['old', True, 'old']", [1, 2, 3]),
        ("Annual_Premium", "infinite or NaN text is not a number", [3, 5, 6]),
    ]
    for _, frame in _frames(rows):
        assert [(p.column, p.message, p.rows) for p in error_of(lambda: conform(frame, schema)).problems] == problems
    rows = [{**BASE, "Age": 120, "Region_Code": 99.0}, {**BASE, "Gender": "X", "Region_Code": "7"}]
    warnings = [(w.column, w.message, w.rows) for w in conform_records(rows, schema).warnings]
    assert warnings == [("Gender", "unseen category ['X'] scored as missing, as H2O does", [2]),
                        ("Age", "outside the training range [21, 76]", [1]),
                        ("Region_Code", "unseen category ['7', '99'] scored as missing, as H2O does", [1, 2])]
    for _, frame in _frames(rows):
        assert [(w.column, w.message, w.rows) for w in conform(frame, schema).warnings] == warnings
    short = [{"Gender": "Male", "Age": 40, "zip": 1}]
    assert [str(p) for p in error_of(lambda: conform_records(short, schema)).problems] == [
        "column 'Region_Code': required column is missing", "column 'Annual_Premium': required column is missing",
        "file: the records have the keys: Age, Gender, zip"]
    assert [str(p) for p in error_of(lambda: conform(pd.DataFrame(short), schema)).problems] == [
        "column 'Region_Code': required column is missing", "column 'Annual_Premium': required column is missing",
        "file: the input has the columns: Gender, Age, zip"]


def test_canonical_levels_are_the_level_rule_value_by_value():
    from automlkit.schema import canonical_categorical, level_of

    values = pd.Series([v for v in VALUES if not isinstance(v, (list, dict))], dtype=object)
    expected = [level_of(v) for v in values]
    assert [None if pd.isna(v) else v for v in canonical_levels(values)] == expected
    assert [None if pd.isna(v) else v for v in canonical_categorical(values)] == expected
    as_text = pd.Series(["28", "28.0", " 28", None, "Male"], dtype="str")
    assert [None if pd.isna(v) else v for v in canonical_levels(as_text)] == ["28", "28", "28", None, "Male"]


# ------------------------------------------------------------------------- the single definitions


def test_nonfinite_words_are_one_constant_both_paths_read(schema, monkeypatch):
    import automlkit.schema as module
    from automlkit.schema import NONFINITE_WORDS, conform_records

    assert {"nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"} <= NONFINITE_WORDS
    for word in sorted(NONFINITE_WORDS):
        for text in (word, word.upper(), f" {word.title()} "):
            records = [{**BASE, "Age": text}]
            for call in (lambda: conform_records(records, schema), lambda: conform(pd.DataFrame(records), schema)):
                (problem,) = error_of(call).problems
                assert (problem.column, problem.message) == ("Age", "infinite or NaN text is not a number")
    # a word added to the constant is non-finite on both paths (without it, "∞" is text that is no number)
    records = [{**BASE, "Age": "∞"}]
    assert "expected a number" in error_of(lambda: conform_records(records, schema)).problems[0].message
    monkeypatch.setattr(module, "NONFINITE_WORDS", NONFINITE_WORDS | {"∞"})
    for call in (lambda: conform_records(records, schema), lambda: conform(pd.DataFrame(records), schema)):
        assert error_of(call).problems[0].message == "infinite or NaN text is not a number"


EDGES = [0.0, -0.0, 28.0, 28.5, -3.0, 0.1, 2.0**53 - 1, 2.0**53, -(2.0**53 - 1), -(2.0**53), 1e300,
         float("nan"), float("inf"), float("-inf")]
WHOLE = [True, True, True, False, True, False, True, False, True, False, False, False, False, False]


def test_whole_number_rule_vectorised_and_scalar_agree():
    from automlkit.schema import MAX_EXACT_INTEGER, is_whole_number, whole_numbers

    assert MAX_EXACT_INTEGER == 2**53
    assert whole_numbers(EDGES).tolist() == WHOLE
    assert whole_numbers(pd.Series(EDGES)).tolist() == WHOLE
    assert [is_whole_number(x) for x in EDGES] == WHOLE


def test_whole_number_limit_is_one_constant_every_path_reads(schema, monkeypatch):
    import automlkit.schema as module
    from automlkit.schema import conform_records, level_of, whole_number_values

    assert whole_number_values(pd.Series(["1", " 2.0 ", "4.4e1", str(2**53 - 1)])) == [1, 2, 44, 2**53 - 1]
    for not_all_whole in (["1", "x"], ["1", ""], ["1", "2.5"], ["1", str(2**53)], ["1", "inf"], ["1", "1_0"]):
        assert whole_number_values(pd.Series(not_all_whole)) is None, not_all_whole
    assert whole_number_values(pd.Series([3.0, 4.0])) == [3, 4]
    monkeypatch.setattr(module, "MAX_EXACT_INTEGER", 1000)
    assert whole_number_values(pd.Series(["999", "1000"])) is None
    assert level_of(999.0) == "999" and level_of(1000.0) == "1000.0" and level_of("1000.0") == "1000.0"
    assert canonical_levels(pd.Series([999.0, 1000.0])).tolist() == ["999", "1000.0"]
    records = [{**BASE, "Region_Code": 5000.0}, {**BASE, "Region_Code": "5000.0"}]
    for call in (lambda: conform_records(records, schema), lambda: conform(pd.DataFrame(records), schema)):
        (warning,) = call().warnings
        assert warning.message == "unseen category ['5000.0'] scored as missing, as H2O does"


def test_positive_class_rule():
    from automlkit.schema import positive_class_of, positive_labels

    assert positive_class_of(["0", "1"]) == "1" and positive_class_of(["1", "2"]) == "1"
    assert positive_class_of(["yes", "no"]) == "yes" and positive_class_of(["2", "3"]) == "3"
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "y": ["no", "yes", "no", "yes"]})
    assert infer_schema(frame, "y", None).positive_class == "yes"
    schema = infer_schema(pd.DataFrame({"x": [1, 2, 3], "y": [0.0, 1.0, 0.0]}), "y", None)
    values = pd.Series(["1", "0", "1.0", 1.0, 1, None, " 1 ", "1.00", "1e0", "", "x"], dtype=object)
    expected = [1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0]
    assert schema.positive_class == "1" and schema.is_positive(values).tolist() == expected
    assert positive_labels(values, "1").tolist() == expected
    assert positive_labels(values, "absent").tolist() == [0] * len(values)


def test_training_exploration_and_dashboard_read_the_target_alike():
    """Every reader of true labels uses the schema's rule: training's labels, exploration's, the dashboard's."""
    from automlkit import dashboard_fit, explore, training

    frame = pd.DataFrame({"x": [1, 2, 3, 4, 5, 6], "Response": ["1", "0", "1.00", " 1", "1e0", ""]})
    schema = infer_schema(frame.assign(Response=[1, 0, 1, 1, 1, 0]), "Response", None)
    expected = [1, 0, 1, 1, 1, 0]
    assert schema.is_positive(frame["Response"]).tolist() == expected
    assert training.truth(frame, schema).tolist() == expected
    assert explore._positive(frame, schema).tolist() == expected
    card = {"input_schema": {"target": "Response", "positive_class": schema.positive_class}}
    assert dashboard_fit.upload_truth(frame, card, "binary").tolist() == expected


@pytest.mark.parametrize("problem, values, expected", [
    ("binary", ["yes", "no", "", None, " yes"], [1, 0, 0, 0, 1]),
    ("multiclass", ["2.0", "1", "", None, "b"], ["2", "1", None, None, "b"]),
    ("regression", ["2.5", "x", "", None, 3], [2.5, None, None, None, 3.0]),
])
def test_the_target_is_taken_out_of_a_frame_by_one_rule(problem, values, expected):
    """schema.target_truth is the one rule: training's truth and monitoring's agree with it on the rows whose
    target is known, and the dashboard's upload_truth is it."""
    from automlkit import dashboard_fit, monitoring, training
    from automlkit.schema import target_truth

    frame = pd.DataFrame({"y": pd.Series(values, dtype=object)})
    got = target_truth(frame["y"], problem, "yes")
    assert [None if pd.isna(v) else v for v in got] == expected
    card = {"input_schema": {"target": "y", "positive_class": "yes"}}
    shown = dashboard_fit.upload_truth(frame, card, problem)
    assert [None if pd.isna(v) else v for v in shown] == expected
    assert dashboard_fit.upload_truth(frame.rename(columns={"y": "z"}), card, problem) is None
    schema = Schema(target="y", columns=[], positive_class="yes", problem=problem)
    known = [i for i, v in enumerate(expected) if v is not None]
    assert [training.truth(frame, schema)[i] for i in known] == [got[i] for i in known]
    if problem != "binary":  # monitoring's binary truth counts a missing value as unknown, not a negative
        values_known, mask = monitoring.truth_of(frame["y"], schema)
        assert list(values_known) == [got[i] for i in known] and np.flatnonzero(mask).tolist() == known


def test_a_target_that_is_not_a_finite_number_is_unknown():
    """As the data contract reads numbers (:func:`automlkit.schema.number_of`): ±inf is not a value."""
    from automlkit.schema import target_truth

    assert np.isnan(target_truth(pd.Series(["inf", "-inf", "1e500", "nan"]), "regression")).all()
