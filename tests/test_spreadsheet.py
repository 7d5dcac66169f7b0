"""Spreadsheet-safe CSV cells: formula text is made inert, numbers are not touched."""

from __future__ import annotations

import pandas as pd
import pytest

from automlkit.spreadsheet import has_formulas, is_formula, neutralise, neutralise_frame


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A2)",
                                  "\t=1", "\r=1", "-", "+", "=", "-inf", "-nan", "+1e"])
def test_formula_text_is_neutralised(cell):
    assert is_formula(cell)
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-5", "+5", "-1.5", "-.5", "+1.5e3", "-2E-7", "1-2 Year", "< 1 Year", "",
                                  "a=b", "Male", "'=already quoted"])
def test_numbers_and_plain_text_are_left_alone(cell):
    assert not is_formula(cell)
    assert neutralise(cell) == cell


def test_non_text_values_are_left_alone():
    assert neutralise(-5) == -5 and neutralise(None) is None and neutralise(-1.5) == -1.5


def test_has_formulas_scans_every_cell_and_the_header():
    assert not has_formulas("id,Age,Vehicle_Age\n1,-5,1-2 Year\n2,+3,< 1 Year\r\n3,4,\r\n")
    assert has_formulas("id,Name\n1,Bob\n2,=HYPERLINK(\"x\")\n")
    assert has_formulas("id,@Name\n1,Bob\n")
    assert has_formulas("id,Name\n1,-cmd\n")


def test_neutralise_frame_changes_text_cells_and_names_only():
    frame = pd.DataFrame({"id": [1, 2], "=evil": ["ok", "+x"], "amount": [-5.0, 3.0], "code": ["-7", "-x"]})
    safe = neutralise_frame(frame)
    assert list(safe.columns) == ["id", "'=evil", "amount", "code"]
    assert safe["'=evil"].tolist() == ["ok", "'+x"]
    assert safe["amount"].tolist() == [-5.0, 3.0] and safe["code"].tolist() == ["-7", "'-x"]
    assert frame["=evil"].tolist() == ["ok", "+x"]  # the input is not modified
