"""Spreadsheet-safe CSV cells: text a spreadsheet would run as a formula is written as plain text.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel and
LibreOffice (OWASP "CSV injection"). Such a cell is prefixed with a single quote, which spreadsheets show
as text; numbers such as ``-5`` or ``+1.5e3`` are left exactly as they are.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_START = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: Cells of an unquoted CSV that start like a formula (the header included).
_CANDIDATE = re.compile(r"(?:^|,)([=+\-@\t\r][^,\n]*)", re.MULTILINE)


def is_formula(cell: str) -> bool:
    """True when a spreadsheet would evaluate ``cell``: it starts like a formula and is not a number."""
    return bool(cell) and cell[0] in FORMULA_START and _NUMBER.fullmatch(cell) is None


def neutralise(cell):
    """``cell`` made inert when it is formula text (``'`` in front); anything else unchanged."""
    return "'" + cell if isinstance(cell, str) and is_formula(cell) else cell


def has_formulas(unquoted_csv: str) -> bool:
    """Whether any cell of a CSV text without quoting (header included) is formula text."""
    return any(is_formula(match.group(1).rstrip("\r")) for match in _CANDIDATE.finditer(unquoted_csv))


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are spreadsheet-safe (numbers untouched)."""
    safe = frame.rename(columns=lambda name: neutralise(name) if isinstance(name, str) else name)
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    return safe
