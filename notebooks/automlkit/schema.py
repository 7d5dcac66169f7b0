"""The data contract: read CSVs, learn a schema from training data, and check input against it.

Row numbers in every message are 1-based data rows: row 1 is the first line after the header.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Iterable, Literal

import numpy as np
import pandas as pd

from .errors import DataContractError, Problem, make_problem
from .drift import DriftReference
from .features import TargetEncoding
from .problems import PROBLEMS

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: Characters that, found in a one-column header, mean the file uses another delimiter.
FOREIGN_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}

ColumnKind = Literal["numeric", "categorical"]
#: ``auto`` takes a whole-number target with at most this many distinct values for classes, not amounts.
MAX_AUTO_CLASSES = 10
#: The most classes a multiclass target may have: H2O's tree learners build one tree per class per round,
#: so training time and the MOJO grow with the classes; past a few dozen, regression or grouping serves better.
MAX_CLASSES = 50
#: Text that reads as a date or a timestamp (ISO 2024-03-01[T12:00[:00]], or 1/3/2024 and 01.03.2024).
DATE_PATTERN = (r"^\s*(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
                r"|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})\s*$")
#: A text column is a date column when at least this share of its values (of a sample) read as dates.
DATE_SHARE = 0.95
DATE_REASON = ("a date column: dates are not features (as text every day would be a level of its own); derive "
               "numbers from it before training (days since, month, weekday) if it matters")
#: The warning for categories the model never saw (H2O scores them as missing; so does the scorer).
UNSEEN_MESSAGE = "unseen category {} scored as missing, as H2O does"


@dataclass
class ColumnSpec:
    """One input column as learned from the training data."""

    name: str
    kind: ColumnKind
    dtype: str
    levels: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    missing_in_training: int = 0

    @cached_property
    def known_levels(self) -> frozenset[str]:
        """:attr:`levels` as a set, computed once (levels are fixed once learned; the records path looks
        them up in every request)."""
        return frozenset(self.levels or ())


@dataclass
class Schema:
    """Columns, types, levels and ranges a model was trained on, and its learned encodings; saved with it."""

    target: str
    columns: list[ColumnSpec]
    id_column: str | None = None
    positive_class: str = "1"
    classes: list[str] = field(default_factory=lambda: ["0", "1"])
    target_encodings: list[TargetEncoding] = field(default_factory=list)
    #: per-feature training distributions (``automlkit.drift``); empty for models trained without them
    drift_reference: list[DriftReference] = field(default_factory=list)
    #: ``binary``, ``multiclass`` or ``regression`` (models saved before there was a choice are binary)
    problem: str = "binary"
    #: why training took that problem type
    problem_reason: str = ""
    #: columns of the training data left out of the features, and why (dates: :data:`DATE_PATTERN`); they
    #: pass through scoring like any extra column
    ignored_columns: dict[str, str] = field(default_factory=dict)

    @property
    def is_binary(self) -> bool:
        """Whether the model answers a yes/no question (a positive class, a threshold)."""
        return self.problem == "binary"

    @property
    def feature_names(self) -> list[str]:
        """Input columns the model uses, in training order."""
        return [c.name for c in self.columns]

    @property
    def model_features(self) -> list[str]:
        """What the model is trained on: the input columns, then the derived (target-encoded) features."""
        return self.feature_names + [e.name for e in self.target_encodings]

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``."""
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def is_positive(self, values) -> np.ndarray:
        """1 where a target value is :attr:`positive_class`, else 0 (see :func:`positive_labels`)."""
        return positive_labels(values, self.positive_class)

    def sample_rows(self, rows: int, seed: int = 0) -> pd.DataFrame:
        """Made-up rows within the contract: each categorical column a random level, each numeric one a
        random value in its training range (whole numbers for integer columns), a few missing."""
        random = np.random.default_rng(seed)
        frame = {}
        for column in self.columns:
            if column.kind == "categorical":
                values = random.choice(np.array(column.levels or [""], dtype=object), rows)
            else:
                low, high = column.minimum or 0.0, column.maximum if column.maximum is not None else 1.0
                values = random.uniform(low, max(low, high), rows)
                if column.dtype.startswith("int"):
                    values = np.round(values)
            values = pd.Series(values, dtype=object if column.kind == "categorical" else float)
            frame[column.name] = values.mask(random.random(rows) < 0.02)
        return pd.DataFrame(frame)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Schema":
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["columns"] = [ColumnSpec(**c) for c in data["columns"]]
        data["target_encodings"] = [TargetEncoding(**e) for e in data.get("target_encodings", [])]
        data["drift_reference"] = [DriftReference(**r) for r in data.get("drift_reference", [])]
        return cls(**data)


# --------------------------------------------------------------------------------------------- reading


def _read_bytes(source: str | Path | bytes | BinaryIO, max_bytes: int | None) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif hasattr(source, "read"):
        raw = source.read() if max_bytes is None else source.read(max_bytes + 1)
    else:
        with open(source, "rb") as handle:
            raw = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(raw) > max_bytes:
        raise DataContractError([Problem(None, f"the upload is larger than the limit of {max_bytes} bytes")], 413)
    if raw[:2] == GZIP_MAGIC:
        raw = _gunzip(raw, max_bytes)
    return raw


def _gunzip(raw: bytes, max_bytes: int | None) -> bytes:
    """Decompress gzip, refusing output past ``max_bytes`` (a gzip bomb never fills memory)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    limit = max_bytes if max_bytes is not None else 0
    try:
        out = inflater.decompress(raw, limit) if limit else inflater.decompress(raw)
    except zlib.error as exc:
        raise DataContractError([Problem(None, f"the gzip data is corrupt ({exc})")], 400) from exc
    if limit and (inflater.unconsumed_tail or len(out) > limit):
        raise DataContractError(
            [Problem(None, f"the decompressed data is larger than the limit of {max_bytes} bytes")], 413
        )
    return out


def _decode(raw: bytes) -> str:
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = raw.count(b"\n", 0, exc.start)  # header is line 0, so this is the 1-based data row
        where = "the header" if row == 0 else f"row {row}"
        raise DataContractError(
            [Problem(None, f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} in {where} "
                           f"(save it as UTF-8)", rows=[row] if row else [], count=1 if row else 0)],
            400,
        ) from exc


def read_csv(source: str | Path | bytes | BinaryIO, max_bytes: int | None = None,
             max_rows: int | None = None) -> pd.DataFrame:
    """Read a CSV (plain or gzip, UTF-8, BOM and CRLF allowed) into a DataFrame of strings.

    Every cell stays text so that :func:`conform` can name the exact rows whose values are wrong.
    Raises :class:`DataContractError` for empty files, header-only files, a foreign delimiter,
    non-UTF-8 bytes, ragged rows, and (413) more than ``max_bytes`` bytes or ``max_rows`` rows.
    """
    return parse_csv(decode_csv(source, max_bytes), max_rows)


def decode_csv(source: str | Path | bytes | BinaryIO, max_bytes: int | None = None) -> str:
    """The text of a CSV upload or file: gunzipped (with the size limit), BOM dropped, checked UTF-8."""
    return _decode(_read_bytes(source, max_bytes))


def parse_csv(text: str, max_rows: int | None = None, numeric: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of CSV ``text`` (see :func:`decode_csv`) as a DataFrame of strings; see :func:`read_csv`.

    Columns named in ``numeric`` are parsed straight to floats (empty = NaN) when every cell of them is a
    number; otherwise everything stays text and :func:`conform` names the offending rows.
    """
    if not text.strip():
        raise DataContractError([Problem(None, "the file is empty")], 400)
    ragged = _ragged_rows(text)
    if ragged is not None:
        rows, expected = ragged
        raise DataContractError([make_problem(
            None, f"the CSV is malformed: rows with another number of fields than the header's {expected}",
            rows)], 400)
    try:
        frame = _typed_read(text, list(numeric)) if numeric else None
        if frame is None:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                                skipinitialspace=False, engine="c")
    except pd.errors.ParserError as exc:
        raise DataContractError([Problem(None, f"the CSV is malformed: {exc}".strip())], 400) from exc
    header = list(frame.columns)
    if len(header) == 1:
        for char, name in FOREIGN_DELIMITERS.items():
            if char in header[0]:
                raise DataContractError([Problem(
                    None, f"the file looks {name}-delimited; send comma-separated values")], 400)
    if frame.empty:
        raise DataContractError([Problem(None, "the file has a header but no data rows")], 400)
    if max_rows is not None and len(frame) > max_rows:
        raise DataContractError([Problem(None, f"{len(frame)} rows is more than the limit of {max_rows}")], 413)
    duplicated = sorted({c for c in header if header.count(c) > 1 or str(c).startswith("Unnamed: ")})
    if duplicated:
        raise DataContractError([Problem(c, "duplicated or empty column name") for c in duplicated], 400)
    return frame


def _typed_read(text: str, numeric: list[str]) -> pd.DataFrame | None:
    """``text`` parsed with ``numeric`` columns as floats; None when a cell there is not a plain number."""
    dtypes = defaultdict(lambda: str, {name: "float64" for name in numeric})
    try:
        return pd.read_csv(io.StringIO(text), dtype=dtypes, keep_default_na=False,
                           na_values={name: [""] for name in numeric}, skipinitialspace=False, engine="c")
    except (ValueError, TypeError, OverflowError):
        return None


def _ragged_rows(text: str) -> tuple[list[int], int] | None:
    """1-based data rows whose field count differs from the header's, and that count; None if all match.

    Blank lines are skipped (as the parser skips them). Unquoted text is checked by counting commas.
    """
    if '"' in text:
        counts = [len(fields) for fields in csv.reader(io.StringIO(text)) if fields]
    else:
        counts = [line.count(",") + 1 for line in text.split("\n") if line.strip("\r")]
    if not counts:
        return None
    expected = counts[0]
    rows = [i for i, n in enumerate(counts[1:], start=1) if n != expected]
    return (rows, expected) if rows else None


def csv_fingerprint(path: str | Path) -> str:
    """sha256 of the uncompressed CSV bytes (what the data README lists)."""
    import hashlib

    digest = hashlib.sha256()
    opener = gzip.open if Path(path).read_bytes()[:2] == GZIP_MAGIC else open
    with opener(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- the rules, defined once
#
# What a value means is decided here, one value at a time, by number_of and level_of. Every path applies
# these two functions (through _check_column): JSON records to each value, DataFrames to each distinct
# value of a column, then spread to its rows. Only a numeric column of a numeric dtype skips number_of:
# its floats are their own numbers (NaN missing, ±inf not finite), exactly what number_of gives a float.

#: Text read as a non-finite number (compared stripped and lower-cased): an error in a numeric column.
NONFINITE_WORDS = frozenset(["nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"])
#: Floats hold every integer of smaller magnitude exactly: below it, 28.0 is the whole number 28.
MAX_EXACT_INTEGER = 2**53

_BAD, _NONFINITE = object(), object()  # what number_of / level_of return for a value they cannot take


def is_whole_number(number: float) -> bool:
    """Whether ``number`` is a whole number of magnitude below :data:`MAX_EXACT_INTEGER` (NaN and
    infinities are not); the one-value form of :func:`whole_numbers`."""
    return abs(number) < MAX_EXACT_INTEGER and number == math.floor(number)


def whole_numbers(values) -> np.ndarray:
    """Per number (NaN for missing), whether it is whole and below :data:`MAX_EXACT_INTEGER` in magnitude
    (see :func:`is_whole_number`): such a number is written as an integer ("28.0" is the level "28")."""
    numbers = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return (np.abs(numbers) < MAX_EXACT_INTEGER) & (numbers == np.floor(numbers))


def _number_text(text: str) -> float | None:
    """The number ``text`` (stripped, not empty) writes, or None: ASCII decimal notation, no underscores."""
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def number_of(value) -> float | object:
    """The rule for a value of a numeric column: a float (NaN when missing), or a marker when the value is
    not a number (``_BAD``: text that is no number, a bool, an object) or is not finite (``_NONFINITE``:
    ±inf, the :data:`NONFINITE_WORDS`, a number too large for a float)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan
        if text.lower() in NONFINITE_WORDS:
            return _NONFINITE
        number = _number_text(text)
        if number is None:
            return _BAD
        return number if math.isfinite(number) else _NONFINITE  # 1e500
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return _BAD
    if isinstance(value, float):
        if value != value:
            return math.nan
        return float(value) if math.isfinite(value) else _NONFINITE
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return _NONFINITE
    if isinstance(value, np.bool_):
        return _BAD
    if isinstance(value, (np.integer, np.floating)):
        return number_of(value.item())
    if value is pd.NA or value is pd.NaT:
        return math.nan
    return _BAD


def level_of(value) -> str | None | object:
    """The rule for a value of a categorical column: its canonical level text ("28.0", 28.0 and " 28 " are
    "28"; see :func:`is_whole_number`), None when missing, or the marker ``_BAD`` for an object or list."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = _number_text(text)
        return str(int(number)) if number is not None and is_whole_number(number) else text
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return None
        return str(int(value)) if is_whole_number(value) else str(float(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return level_of(value.item())
    if value is pd.NA or value is pd.NaT:
        return None
    return _BAD


def positive_class_of(classes: Iterable[str]) -> str:
    """The positive one of a binary target's two (canonical) classes: "1" when it is one, else the second
    in sorted order."""
    classes = sorted(classes)
    return "1" if "1" in classes else classes[1]


def positive_labels(values, positive_class: str) -> np.ndarray:
    """1 where a target value is ``positive_class`` (compared as canonical levels, as training compares
    them: 1, 1.0 and "1.0" are the class "1"), else 0 (missing values too)."""
    levels = canonical_categorical(values)
    categories = levels.categories
    if positive_class not in categories:
        return np.zeros(len(levels), dtype=np.int64)
    return (levels.codes == categories.get_loc(positive_class)).astype(np.int64)


def target_truth(values, problem: str, positive_class: str = "1") -> np.ndarray:
    """Target values in the form the problem's metrics take: binary 1 where the value is ``positive_class``, else
    0 (missing too; :func:`positive_labels`); multiclass the class as canonical level text (NaN where missing;
    :func:`canonical_levels`); regression the number (NaN where missing or not a finite number)."""
    if problem == "binary":
        return positive_labels(values, positive_class)
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    if problem == "multiclass":
        return canonical_levels(values).to_numpy(dtype=object)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def whole_number_values(values) -> list[int] | None:
    """``values`` (text or numbers) as Python ints when every one is a whole number under the number rule
    (see :func:`number_of` and :func:`whole_numbers`); None when any is not (or is missing)."""
    distinct, codes = _column(pd.Series(values), "numeric")
    numbers = _expand("numeric", _numbers(distinct)[0], codes)
    if not whole_numbers(numbers).all():
        return None
    return numbers.astype(np.int64).tolist()


# ------------------------------------------------------------------------------------ learning the schema


def canonical_levels(values: pd.Series) -> pd.Series:
    """Categorical values as text, with whole numbers written without decimals ("28.0" -> "28"); see
    :func:`level_of`. Missing values (NaN, None, empty text), objects and lists are missing.

    Each distinct value is converted once.
    """
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    return pd.Series(canonical_categorical(values), index=values.index).astype(object)


def canonical_categorical(values: pd.Series) -> pd.Categorical:
    """:func:`canonical_levels` as a ``pandas.Categorical`` (codes plus canonical text categories)."""
    distinct, codes = _column(values if isinstance(values, pd.Series) else pd.Series(values), "categorical")
    return _expand("categorical", [None if v is _BAD else v for v in map(level_of, distinct)], codes)


def decide_problem(values: pd.Series, requested: str = "auto") -> tuple[str, str]:
    """The problem type of a target column and why: ``requested`` when it is not ``auto`` and the values
    allow it; under ``auto``, two distinct values make a binary problem, text or whole numbers with at most
    :data:`MAX_AUTO_CLASSES` distinct values a multiclass one, any other numbers a regression. Raises
    ``DataContractError`` naming the column for a target with fewer than two values, a multiclass target
    with more than :data:`MAX_CLASSES` classes, or a regression target that is not numeric."""
    name = str(values.name)
    if requested not in ("auto", *PROBLEMS):
        raise DataContractError([Problem(name, f"problem must be auto or one of {', '.join(PROBLEMS)}, "
                                               f"got {requested!r}")])
    present = values.dropna()
    if present.empty:
        raise DataContractError([Problem(name, "the target is missing in every row")])
    levels = canonical_levels(present)
    distinct = int(levels.nunique())
    if distinct < 2:
        raise DataContractError([Problem(name, f"the target has a single value ({levels.iloc[0]!r}): "
                                               "there is nothing to learn")])
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    whole = numeric and bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0))
    if requested == "auto":
        if distinct == 2:
            problem, reason = "binary", f"the target has two values ({', '.join(sorted(levels.unique()))})"
        elif not numeric:
            problem, reason = "multiclass", f"the target is text with {distinct} distinct values"
        elif whole and distinct <= MAX_AUTO_CLASSES:
            problem, reason = "multiclass", (f"the target is whole numbers with {distinct} distinct values "
                                             f"(at most {MAX_AUTO_CLASSES} make classes)")
        else:
            problem, reason = "regression", (f"the target is numbers with {distinct} distinct values"
                                             + ("" if whole else ", not all whole"))
        reason = f"auto: {reason}"
    else:
        problem, reason = requested, "set by the problem parameter"
    if problem == "binary" and distinct != 2:
        raise DataContractError([Problem(name, f"a binary target needs two classes, found {distinct}")])
    if problem == "multiclass" and distinct > MAX_CLASSES:
        raise DataContractError([Problem(name, f"the target has {distinct} classes, more than the "
                                               f"{MAX_CLASSES} a multiclass model here takes")])
    if problem == "regression" and not numeric:
        raise DataContractError([Problem(name, "a regression target must be numeric")])
    return problem, reason


def infer_schema(frame: pd.DataFrame, target: str, id_column: str | None = "id",
                 categorical: Iterable[str] = (), problem: str = "auto") -> Schema:
    """Learn the schema of ``frame``: text columns and ``categorical`` become categorical, the rest numeric.

    The target and the id column are not features; the target's problem type is decided by
    :func:`decide_problem` (``problem``: ``auto`` or a type).
    """
    if target not in frame.columns:
        raise DataContractError([Problem(target, f"the target column is missing; columns are {list(frame.columns)}")])
    kind, reason = decide_problem(frame[target], problem)
    classes = [] if kind == "regression" else sorted(canonical_levels(frame[target]).dropna().unique().tolist())
    categorical = set(categorical)
    unknown = categorical - set(frame.columns)
    if unknown:
        raise DataContractError([Problem(c, "named as categorical but not in the data") for c in sorted(unknown)])
    specs, ignored = [], {}
    for name in frame.columns:
        if name in (target, id_column):
            continue
        series = frame[name]
        if name not in categorical and is_date_column(series):
            ignored[name] = DATE_REASON
            continue
        missing = int(series.isna().sum())
        if name in categorical or not pd.api.types.is_numeric_dtype(series):
            levels = sorted(canonical_levels(series).dropna().unique().tolist())
            specs.append(ColumnSpec(name, "categorical", str(series.dtype), levels=levels,
                                    missing_in_training=missing))
        else:
            specs.append(ColumnSpec(name, "numeric", str(series.dtype), minimum=float(series.min()),
                                    maximum=float(series.max()), missing_in_training=missing))
    positive = positive_class_of(classes) if kind == "binary" else ""
    return Schema(target=target, columns=specs, id_column=id_column if id_column in frame.columns else None,
                  positive_class=positive, classes=classes, problem=kind, problem_reason=reason,
                  ignored_columns=ignored)


def is_date_column(values: pd.Series, sample: int = 1000) -> bool:
    """Whether a text column holds dates (:data:`DATE_PATTERN` on at least :data:`DATE_SHARE` of a sample of
    its present values)."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return pd.api.types.is_datetime64_any_dtype(values)
    present = values.dropna()
    if present.empty:
        return False
    texts = present.sample(min(sample, len(present)), random_state=0).astype(str)
    return float(texts.str.match(DATE_PATTERN).mean()) >= DATE_SHARE


# --------------------------------------------------------------------------------------------- checking


@dataclass
class Conformed:
    """Input checked against a schema: typed features, the untouched extra columns, and warnings.

    ``features`` maps each feature to its values: floats (NaN = missing) for numeric columns,
    canonical level text (missing = NaN/None) for categorical ones; levels the model never saw are kept
    (with a warning) and scored as missing, as H2O scores them. From :func:`conform` a DataFrame (numeric
    columns as float arrays, categorical ones as ``pandas.Categorical``); from :func:`conform_records` a
    dict of lists.
    """

    features: "pd.DataFrame | dict[str, list]"
    passthrough: pd.DataFrame | None
    warnings: list[Problem]


def _row_numbers(mask: np.ndarray | pd.Series) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask)) + 1


#: Types (``pandas.api.types.infer_dtype``) of object columns whose equal values, as pandas' factorize
#: finds them, always get the same rule result. Other columns have each row checked: True == 1 but only 1
#: is a number, lists cannot be hashed, and 2**53 == 2.0**53 but the float is the level "9007199254740992.0".
_FACTORIZABLE = {"numeric": frozenset(["string", "empty", "floating", "integer", "mixed-integer-float", "boolean"]),
                 "categorical": frozenset(["string", "empty", "floating", "integer", "boolean"])}


def _column(raw: pd.Series, kind: ColumnKind) -> tuple[list | np.ndarray, np.ndarray | None]:
    """A DataFrame column as the rules of ``kind`` take it: its distinct values and, per row, the index of
    its value among them (-1 = missing). Without such codes (None), the values are the rows themselves: a
    float array for a numeric dtype in a numeric column, else a list (see :data:`_FACTORIZABLE`)."""
    if kind == "numeric" and raw.dtype.kind in "fiu":
        return raw.to_numpy(dtype=float, na_value=np.nan), None
    if raw.dtype == object and pd.api.types.infer_dtype(raw, skipna=True) not in _FACTORIZABLE[kind]:
        return raw.tolist(), None
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    return uniques.tolist(), codes


def _rows(flags: list[bool] | np.ndarray, codes: np.ndarray | None) -> "list[int] | np.ndarray":
    """1-based numbers of the rows whose value is flagged (``flags`` per value of :func:`_column`)."""
    if True not in flags:
        return []
    if codes is None:
        if isinstance(flags, np.ndarray):
            return _row_numbers(flags)
        return [i for i, flag in enumerate(flags, start=1) if flag]
    return _row_numbers(np.append(np.array(flags, dtype=bool), False)[codes])


def _raw(values: list, codes: np.ndarray | None, row: int):
    """The value as sent in 1-based ``row`` (plain Python for a numpy scalar), for messages."""
    value = values[row - 1] if codes is None else values[codes[row - 1]]
    return value.item() if isinstance(value, np.generic) else value


def _numbers(values: list | np.ndarray) -> tuple[list | np.ndarray, list[bool], list[bool] | np.ndarray]:
    """:func:`number_of` of each value: the numbers (NaN where missing or bad), which are not numbers,
    which are not finite. A float array is its own numbers (NaN is missing; ±inf is not finite)."""
    if isinstance(values, np.ndarray):
        return values, [False], np.isinf(values)
    numbers = [number_of(v) for v in values]
    bad = [n is _BAD for n in numbers]
    nonfinite = [n is _NONFINITE for n in numbers]
    if True in bad or True in nonfinite:
        numbers = [math.nan if n is _BAD or n is _NONFINITE else n for n in numbers]
    return numbers, bad, nonfinite


def _outside(spec: ColumnSpec, numbers: list | np.ndarray) -> list[bool] | np.ndarray:
    """Which numbers are outside ``spec``'s training range (never a missing one)."""
    low, high = spec.minimum, spec.maximum
    if low is None or high is None:
        return [False]
    if isinstance(numbers, np.ndarray):
        return (numbers < low) | (numbers > high)
    return [n < low or n > high for n in numbers]


def _check_column(spec: ColumnSpec, values: list | np.ndarray, codes: np.ndarray | None,
                  problems: list[Problem], warnings: list[Problem]) -> list | np.ndarray:
    """Apply ``spec``'s rules to one column (see :func:`_column`), add what is wrong to ``problems`` and
    ``warnings``, and return its typed values (per value of ``values``; see :func:`_expand`)."""
    if spec.kind == "numeric":
        numbers, bad, nonfinite = _numbers(values)
        if True in bad:
            rows = _rows(bad, codes)
            examples = [_raw(values, codes, r) for r in rows[:3]]
            problems.append(make_problem(spec.name, f"expected a number, got {examples}", rows))
        if True in nonfinite:
            problems.append(make_problem(spec.name, "infinite or NaN text is not a number", _rows(nonfinite, codes)))
        outside = _outside(spec, numbers)
        if True in outside:
            warnings.append(make_problem(spec.name, f"outside the training range [{spec.minimum:g}, "
                                                    f"{spec.maximum:g}]", _rows(outside, codes)))
        return numbers
    levels = [level_of(v) for v in values]
    bad = [level is _BAD for level in levels]
    if True in bad:
        problems.append(make_problem(spec.name, "expected a text or number category, got an object or list",
                                     _rows(bad, codes)))
        levels = [None if level is _BAD else level for level in levels]
    known = spec.known_levels
    unseen = [level is not None and level not in known for level in levels]
    if True in unseen:
        examples = sorted({level for level, flag in zip(levels, unseen) if flag})[:3]
        warnings.append(make_problem(spec.name, UNSEEN_MESSAGE.format(examples), _rows(unseen, codes)))
    return levels


def _expand(kind: ColumnKind, typed: list | np.ndarray, codes: np.ndarray | None) -> np.ndarray | pd.Categorical:
    """Typed values per value of :func:`_column` as per-row column values: floats, or a Categorical of the
    canonical levels (None = missing)."""
    if kind == "numeric":
        if codes is None:
            return np.asarray(typed, dtype=float)
        return np.append(np.array(typed, dtype=float), np.nan)[codes]  # code -1 (missing) picks the NaN
    merged, categories = pd.factorize(np.array(typed, dtype=object), use_na_sentinel=True)  # "28", 28.0: "28"
    if codes is not None:
        merged = np.append(merged, -1)[codes]
    return pd.Categorical.from_codes(merged, categories=pd.Index(categories, dtype=object))


def _encoded_levels(values: "pd.Categorical | np.ndarray | list") -> "pd.Categorical | list":
    """Canonical levels of a conformed feature, for its target encoding (a numeric code: 28.0 is "28")."""
    if isinstance(values, pd.Categorical):
        return values
    if isinstance(values, np.ndarray):
        return canonical_categorical(pd.Series(values))
    return [None if level is _BAD else level for level in map(level_of, values)]


def _missing_columns(schema: Schema, present) -> list[Problem]:
    """A problem for each feature not in ``present`` (the caller adds what the input has)."""
    return [Problem(name, "required column is missing") for name in schema.feature_names if name not in present]


def conform(frame: pd.DataFrame, schema: Schema) -> Conformed:
    """Check ``frame`` against ``schema`` and return typed features in training order.

    Errors (raised together as one :class:`DataContractError`): missing columns, text in numeric
    columns, infinities, objects or lists in categorical columns. Warnings (returned): unseen categories,
    which are scored as missing (as H2O scores them), and numbers outside the training range. Column order
    does not matter; other columns pass through. The rules are :func:`number_of` and :func:`level_of`,
    applied to each distinct value of a column.
    """
    missing = _missing_columns(schema, frame.columns)
    if missing:
        present = ", ".join(map(str, frame.columns[:20]))
        raise DataContractError(missing + [Problem(None, f"the input has the columns: {present}")])
    problems: list[Problem] = []
    warnings: list[Problem] = []
    features = {}
    for spec in schema.columns:
        values, codes = _column(frame[spec.name], spec.kind)
        typed = _check_column(spec, values, codes, problems, warnings)
        features[spec.name] = _expand(spec.kind, typed, codes)
    if problems:
        raise DataContractError(problems)
    for encoding in schema.target_encodings:
        features[encoding.name] = encoding.values(_encoded_levels(features[encoding.column]))
    typed_frame = pd.DataFrame(features, index=pd.RangeIndex(len(frame)))
    extra = [c for c in frame.columns if c not in set(schema.feature_names) and c != schema.target]
    passthrough = frame[extra].reset_index(drop=True)
    return Conformed(features=typed_frame, passthrough=passthrough,
                     warnings=warnings + unknown_column_warnings(schema, frame.columns))


def conform_records(records: list[dict], schema: Schema) -> Conformed:
    """:func:`conform` for JSON records (a list of objects), without building a DataFrame.

    Same rules, errors and warnings as :func:`conform` (the same code, applied to each value); fast for a
    handful of rows. ``features`` is a dict of lists (see :class:`Conformed`).
    """
    present = set().union(*(r.keys() for r in records)) if records else set()
    missing = _missing_columns(schema, present)
    if missing:
        keys = ", ".join(sorted(map(str, present))[:20])
        raise DataContractError(missing + [Problem(None, f"the records have the keys: {keys}")])
    problems: list[Problem] = []
    warnings: list[Problem] = []
    features: dict[str, list] = {}
    for spec in schema.columns:
        features[spec.name] = _check_column(spec, [r.get(spec.name) for r in records], None, problems, warnings)
    if problems:
        raise DataContractError(problems)
    for encoding in schema.target_encodings:
        features[encoding.name] = encoding.values(_encoded_levels(features[encoding.column])).tolist()
    return Conformed(features=features, passthrough=None, warnings=warnings + unknown_column_warnings(schema, present))


def unknown_column_warnings(schema: Schema, columns: Iterable) -> list[Problem]:
    """A warning per input column the model does not use (the id and the target aside): it passes through
    unscored. A column the schema ignores says why (dates)."""
    known = {*schema.feature_names, schema.target, schema.id_column}
    out = []
    for column in columns:
        if column in known:
            continue
        if column in schema.ignored_columns:
            out.append(Problem(str(column), "ignored by the model (a date column): passed through, not scored"))
        else:
            out.append(Problem(str(column), "not a column of the model: passed through, not scored"))
    return out


def check_training_frame(frame: pd.DataFrame, target: str, id_column: str | None) -> None:
    """Fail clearly when training data cannot be used: no rows, no target, rows without a target, bad ids."""
    problems = []
    if frame.empty:
        problems.append(Problem(None, "the training data has no rows"))
    elif target not in frame.columns:
        problems.append(Problem(target, f"the target column is missing; columns are {list(frame.columns)}"))
    else:
        missing = frame[target].isna()
        if missing.any():
            problems.append(make_problem(target, "the target is empty", _row_numbers(missing)))
    if id_column and id_column in frame.columns:
        dup = frame[id_column].duplicated(keep="first")
        if dup.any():
            problems.append(make_problem(id_column, "duplicated id", _row_numbers(dup)))
    if problems:
        raise DataContractError(problems)


def load_training_data(path: str | Path, target: str, id_column: str | None = "id",
                       sample_rows: int = 0, seed: int = 1) -> pd.DataFrame:
    """Read labelled training data (CSV or CSV.gz) with inferred types, optionally a seeded sample."""
    path = Path(path)
    if not path.exists():
        raise DataContractError([Problem(None, f"no data file at {path}")], 404)
    frame = pd.read_csv(path, low_memory=False)
    check_training_frame(frame, target, id_column)
    if sample_rows and sample_rows < len(frame):
        frame = frame.sample(n=sample_rows, random_state=seed).sort_index().reset_index(drop=True)
    return frame
