"""The ranked table of the dashboard: the API's ranked CSV answer read as text cells, its columns in the order
the page shows them, searched, sorted and cut into pages; probabilities shortened for the eye (the download
keeps every digit); a row turned back into the record it came from."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

#: Rows per page of the ranked table.
PAGE_ROWS = 20


#: The score columns the ranked table shows first, per problem type.
RANKED_FIRST = {"binary": ("probability", "label"), "multiclass": ("label", "probability"),
                "regression": ("prediction",)}


#: Columns the API adds to a scored CSV: not inputs of the model (multiclass adds probability_<class> too).
SCORE_COLUMNS = ("probability", "label", "rank", "prediction")


#: Significant digits of a probability in the tables (the download keeps every digit).
PROBABILITY_DIGITS = 4


def read_scored(path: str | Path) -> pd.DataFrame:
    """The API's CSV answer as text cells, exactly as written (every digit kept)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def predicted_probability(scored: pd.DataFrame, classes: list[str] | None = None) -> pd.Series:
    """Per row of a multiclass answer, the probability of its predicted class (``probability_<label>``)."""
    out = pd.Series("", index=scored.index, dtype=object)
    if "label" not in scored.columns:
        return out
    names = classes or [c.removeprefix("probability_") for c in scored.columns if c.startswith("probability_")]
    for name in names:
        column = f"probability_{name}"
        if column in scored.columns:
            chosen = (scored["label"] == name).to_numpy()
            out[chosen] = scored.loc[chosen, column].to_numpy()
    return out


def ranked_table(scored: pd.DataFrame, id_column: str | None = None, problem: str = "binary",
                 classes: list[str] | None = None) -> pd.DataFrame:
    """The API's ranked CSV answer as the table shows it: rank, id, the scores (binary: probability, label;
    multiclass: the predicted class (label) and its probability; regression: prediction), then the other
    columns. The rows keep the API's order (``rank``; added 1, 2, ... when the answer has none)."""
    table = scored.reset_index(drop=True)
    if "rank" not in table.columns:
        table.insert(0, "rank", [str(k) for k in range(1, len(table) + 1)])
    if problem == "multiclass" and "probability" not in table.columns:
        table = table.assign(probability=predicted_probability(table, classes))
    first = list(dict.fromkeys(c for c in ("rank", id_column, *RANKED_FIRST[problem]) if c in table.columns))
    return table[first + [c for c in table.columns if c not in first]]


def significant(value, digits: int = PROBABILITY_DIGITS) -> str:
    """A number (as the API wrote it) with ``digits`` significant digits, trailing zeros kept (0.5 -> 0.5000);
    anything that is not a finite number is shown as it is."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return f"{number:#.{digits}g}" if math.isfinite(number) else str(value)


def is_probability_column(column: str, classes: list[str] | None = None) -> bool:
    """``probability``, or a multiclass ``probability_<class>`` (see :func:`is_score_column`)."""
    return column == "probability" or (column.startswith("probability_") and is_score_column(column, classes))


def is_score_column(column: str, classes: list[str] | None = None) -> bool:
    """Whether the API added ``column`` to a scored CSV: one of :data:`SCORE_COLUMNS`, or a multiclass
    ``probability_<class>`` (of one of ``classes``; of any class when they are not given)."""
    if column in SCORE_COLUMNS:
        return True
    if classes is None:
        return column.startswith("probability_")
    return column in {f"probability_{c}" for c in classes}


def shown_rows(rows: pd.DataFrame, classes: list[str] | None = None) -> pd.DataFrame:
    """``rows`` as the table shows them: probabilities with :data:`PROBABILITY_DIGITS` significant digits."""
    shown = rows.copy()
    for column in shown.columns:
        if is_probability_column(str(column), classes):
            shown[column] = [significant(v) for v in shown[column]]
    return shown


def customer_record(scored: pd.DataFrame, position: int, classes: list[str] | None = None) -> dict:
    """Row ``position`` of the scored CSV as the input record it came from (the API's own columns dropped)."""
    row = scored.iloc[position]
    return {k: v for k, v in row.items() if not is_score_column(str(k), classes)}


def matching(table: pd.DataFrame, search: str) -> np.ndarray:
    """Which rows hold ``search`` in any cell (as text, ignoring case; empty: every row)."""
    needle = search.strip()
    found = np.ones(len(table), dtype=bool) if not needle else np.zeros(len(table), dtype=bool)
    if needle:
        for column in table.columns:
            cells = table[column]
            if not pd.api.types.is_string_dtype(cells):
                cells = cells.astype(str)
            found |= cells.str.contains(needle, case=False, regex=False).fillna(False).to_numpy(dtype=bool)
    return found


def sort_key(cells: pd.Series) -> pd.Series:
    """What a column sorts by: numbers by value when every non-empty cell is a number, else the text ignoring
    case; empty cells are missing (sorted last)."""
    text = cells.astype(str) if not pd.api.types.is_string_dtype(cells) else cells
    empty = (text.str.strip() == "").to_numpy(dtype=bool)
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    if (numbers.notna().to_numpy() | empty).all() and not empty.all():
        return numbers
    return text.str.lower().where(~empty)


def arrange(table: pd.DataFrame, sort_by: str | None = None, descending: bool = False,
            search: str = "") -> np.ndarray:
    """The positions of the rows of ``table`` to show, in order: those matching ``search``
    (:func:`matching`), sorted by ``sort_by`` (:func:`sort_key`; ties keep the table's order, empty cells
    last either way); ``sort_by`` None or not a column: the table's order."""
    positions = np.flatnonzero(matching(table, search))
    if sort_by is None or sort_by not in table.columns or len(positions) < 2:
        return positions
    key = sort_key(table[sort_by].iloc[positions]).reset_index(drop=True)
    order = key.sort_values(ascending=not descending, kind="stable", na_position="last").index.to_numpy()
    return positions[order]


def pages(rows: pd.DataFrame | np.ndarray | int, size: int = PAGE_ROWS) -> int:
    """How many pages ``rows`` (a table, positions or a count) fill (at least one)."""
    count = rows if isinstance(rows, int) else len(rows)
    return max(1, -(-count // size))


def clamp_page(number: int, rows: pd.DataFrame | np.ndarray | int, size: int = PAGE_ROWS) -> int:
    """Page ``number`` (0-based) within the pages that exist."""
    return min(max(number, 0), pages(rows, size) - 1)


def page(table: pd.DataFrame, number: int, size: int = PAGE_ROWS,
         positions: np.ndarray | None = None) -> pd.DataFrame:
    """Page ``number`` (0-based, clamped to the pages that exist) of ``table``, or of its rows at
    ``positions`` (:func:`arrange`) in that order."""
    order = np.arange(len(table)) if positions is None else positions
    number = clamp_page(number, order, size)
    return table.iloc[order[number * size:(number + 1) * size]]


def page_text(number: int, positions: np.ndarray | int, total: int, search: str = "") -> str:
    """``page 2 of 20`` and, while searching, how many rows match."""
    count = positions if isinstance(positions, int) else len(positions)
    text = f"page {number + 1} of {pages(count)}"
    if search.strip():
        text += f" · {count:,} of {total:,} rows match “{search.strip()}”"
    return text


def above(probability: np.ndarray, threshold: float) -> int:
    """How many customers have a probability at or above ``threshold``."""
    return int(np.count_nonzero(np.asarray(probability) >= threshold))
