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
from pathlib import Path
from typing import BinaryIO, Iterable, Literal

import numpy as np
import pandas as pd

from .errors import DataContractError, Problem, make_problem
from .drift import DriftReference
from .features import TargetEncoding

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: Characters that, found in a one-column header, mean the file uses another delimiter.
FOREIGN_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}

ColumnKind = Literal["numeric", "categorical"]
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


# ------------------------------------------------------------------------------------ learning the schema


def canonical_levels(values: pd.Series) -> pd.Series:
    """Categorical values as text, with whole numbers written without decimals ("28.0" -> "28").

    Missing values (NaN, None, empty text) stay missing. Each distinct value is converted once.
    """
    values = pd.Series(values)
    if values.nunique(dropna=True) * 2 > len(values):  # mostly distinct (ids): convert each value
        return _canonical(values.reset_index(drop=True)).set_axis(values.index)
    return pd.Series(canonical_categorical(values), index=values.index).astype(object)


def canonical_categorical(values: pd.Series) -> pd.Categorical:
    """:func:`canonical_levels` as a ``pandas.Categorical`` (codes plus canonical text categories)."""
    codes, uniques = pd.factorize(pd.Series(values).astype(object), use_na_sentinel=True)
    canonical = _canonical(pd.Series(uniques, dtype=object))  # "28" and "28.0" both become "28"
    merged, categories = pd.factorize(canonical, use_na_sentinel=True)
    final = np.append(merged, -1)[codes]  # code -1 (missing) picks the appended -1
    return pd.Categorical.from_codes(final, categories=pd.Index(categories, dtype=object))


def _canonical(values: pd.Series) -> pd.Series:
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    whole = numbers.notna() & np.isfinite(numbers) & (numbers == np.floor(numbers)) & (numbers.abs() < 2**53)
    out = text.copy()
    out[whole] = numbers[whole].astype(np.int64).astype(str)
    return out.where(out != "", other=np.nan)


def infer_schema(frame: pd.DataFrame, target: str, id_column: str | None = "id",
                 categorical: Iterable[str] = ()) -> Schema:
    """Learn the schema of ``frame``: text columns and ``categorical`` become categorical, the rest numeric.

    The target and the id column are not features. The target must have exactly two classes.
    """
    if target not in frame.columns:
        raise DataContractError([Problem(target, f"the target column is missing; columns are {list(frame.columns)}")])
    classes = sorted(canonical_levels(frame[target]).dropna().unique().tolist())
    if len(classes) != 2:
        raise DataContractError([Problem(target, f"the target must have two classes, found {classes[:10]}")])
    categorical = set(categorical)
    unknown = categorical - set(frame.columns)
    if unknown:
        raise DataContractError([Problem(c, "named as categorical but not in the data") for c in sorted(unknown)])
    specs = []
    for name in frame.columns:
        if name in (target, id_column):
            continue
        series = frame[name]
        missing = int(series.isna().sum())
        if name in categorical or not pd.api.types.is_numeric_dtype(series):
            levels = sorted(canonical_levels(series).dropna().unique().tolist())
            specs.append(ColumnSpec(name, "categorical", str(series.dtype), levels=levels,
                                    missing_in_training=missing))
        else:
            specs.append(ColumnSpec(name, "numeric", str(series.dtype), minimum=float(series.min()),
                                    maximum=float(series.max()), missing_in_training=missing))
    positive = "1" if "1" in classes else classes[1]
    return Schema(target=target, columns=specs, id_column=id_column if id_column in frame.columns else None,
                  positive_class=positive, classes=classes)


# --------------------------------------------------------------------------------------------- checking


@dataclass
class Conformed:
    """Input checked against a schema: typed features, the untouched extra columns, and warnings.

    ``features`` maps each feature to its values: floats (NaN = missing) for numeric columns,
    canonical level text (missing = NaN/None) for categorical ones; levels the model never saw are kept
    (with a warning) and scored as missing, as H2O scores them.
    """

    features: "pd.DataFrame | dict[str, list]"
    passthrough: pd.DataFrame | None
    warnings: list[Problem]


def _row_numbers(mask: np.ndarray | pd.Series) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask)) + 1


def conform(frame: pd.DataFrame, schema: Schema) -> Conformed:
    """Check ``frame`` against ``schema`` and return typed features in training order.

    Errors (raised together as one :class:`DataContractError`): missing columns, text in numeric
    columns, infinities. Warnings (returned): unseen categories, which are scored as missing (as H2O
    scores them), and
    numbers outside the training range. Column order does not matter; other columns pass through.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    missing = [c for c in schema.feature_names if c not in frame.columns]
    for name in missing:
        problems.append(Problem(name, "required column is missing"))
    if problems:
        present = ", ".join(map(str, frame.columns[:20]))
        problems.append(Problem(None, f"the input has the columns: {present}"))
        raise DataContractError(problems)
    features = {}
    for spec in schema.columns:
        raw = frame[spec.name]
        if spec.kind == "numeric":
            values, bad, nonfinite = _to_numbers(raw)
            if bad.any():
                examples = raw[bad].astype(str).head(3).tolist()
                problems.append(make_problem(spec.name, f"expected a number, got {examples}", _row_numbers(bad)))
            if nonfinite.any():
                problems.append(make_problem(spec.name, "infinite or NaN text is not a number",
                                             _row_numbers(nonfinite)))
            if spec.minimum is not None and spec.maximum is not None:
                outside = (values < spec.minimum) | (values > spec.maximum)
                if outside.any():
                    warnings.append(make_problem(
                        spec.name, f"outside the training range [{spec.minimum:g}, {spec.maximum:g}]",
                        _row_numbers(outside)))
            features[spec.name] = values
        else:
            values = canonical_categorical(raw)
            known = np.asarray(values.categories.isin(spec.levels or []))
            if not known.all():
                unseen = ~np.append(known, True)[values.codes]  # code -1 (missing) is not unseen
                examples = sorted(values.categories[~known].tolist())[:3]
                warnings.append(make_problem(spec.name, UNSEEN_MESSAGE.format(examples), _row_numbers(unseen)))
            features[spec.name] = values
    if problems:
        raise DataContractError(problems)
    for encoding in schema.target_encodings:
        levels = features[encoding.column]
        if not isinstance(levels, pd.Categorical):  # a numeric code column: 28.0 is the level "28"
            levels = canonical_categorical(pd.Series(np.asarray(levels)))
        features[encoding.name] = encoding.values(levels)
    index = pd.RangeIndex(len(frame))
    typed = pd.DataFrame({k: (v if isinstance(v, pd.Categorical) else np.asarray(v)) for k, v in features.items()},
                         index=index)
    extra = [c for c in frame.columns if c not in set(schema.feature_names) and c != schema.target]
    passthrough = frame[extra].reset_index(drop=True)
    return Conformed(features=typed, passthrough=passthrough, warnings=warnings)


def _to_numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Numbers from text or JSON values; returns (values, not-a-number mask, non-finite mask)."""
    no_rows = pd.Series(np.zeros(len(raw), bool))
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype(float).reset_index(drop=True)
        nonfinite = pd.Series(np.isinf(values.to_numpy()))
        return values, no_rows, nonfinite
    if pd.api.types.infer_dtype(raw, skipna=False) == "string":
        try:  # fast path: every cell is plain finite number text
            fast = pd.to_numeric(raw.reset_index(drop=True), errors="raise")
        except (ValueError, TypeError):
            pass
        else:
            if pd.api.types.is_numeric_dtype(fast) and not pd.api.types.is_bool_dtype(fast):
                fast = fast.astype(float)
                if np.isfinite(fast.to_numpy()).all():
                    return fast, no_rows, no_rows
    obj = raw.astype(object).reset_index(drop=True)
    is_bool = obj.map(lambda v: isinstance(v, (bool, np.bool_)))
    text = obj.where(obj.notna(), "").astype(str).str.strip()
    values = pd.to_numeric(text.where(~is_bool, "x"), errors="coerce")
    empty = text == ""
    lowered = text.str.lower()
    nonfinite_text = lowered.isin(["nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"])
    bad = values.isna() & ~empty & ~nonfinite_text
    nonfinite = nonfinite_text | np.isinf(values.fillna(0).to_numpy(dtype=float))
    values = values.where(~nonfinite)
    return values.astype(float), bad, pd.Series(np.asarray(nonfinite))


# ------------------------------------------------------------------- the same rules, one value at a time

_NONFINITE_TEXT = frozenset(["nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"])
_BAD, _NONFINITE = object(), object()


def number_of(value) -> float | object:
    """One JSON value as a number under :func:`conform`'s rules; NaN when missing, or a marker when bad."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return _BAD
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isnan(number):
            return math.nan
        return number if math.isfinite(number) else _NONFINITE
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan
        if text.lower() in _NONFINITE_TEXT:
            return _NONFINITE
        if "_" in text:
            return _BAD
        try:
            number = float(text)
        except ValueError:
            return _BAD
        return number if math.isfinite(number) else _NONFINITE
    return _BAD


def level_of(value) -> str | None | object:
    """One JSON value as a canonical category (see :func:`canonical_levels`); None when missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return None
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text) if "_" not in text else math.nan
        except ValueError:
            return text
        if not (math.isfinite(number) and number == math.floor(number) and abs(number) < 2**53):
            return text
    else:
        return _BAD
    if math.isfinite(number) and number == math.floor(number) and abs(number) < 2**53:
        return str(int(number))
    return str(value)


def conform_records(records: list[dict], schema: Schema) -> Conformed:
    """:func:`conform` for JSON records (a list of objects), without building a DataFrame.

    Same rules, errors and warnings as :func:`conform`; fast for a handful of rows.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    present = set().union(*(r.keys() for r in records)) if records else set()
    missing = [c for c in schema.feature_names if c not in present]
    if missing:
        problems = [Problem(name, "required column is missing") for name in missing]
        problems.append(Problem(None, f"the records have the keys: {', '.join(sorted(map(str, present))[:20])}"))
        raise DataContractError(problems)
    features: dict[str, list] = {}
    for spec in schema.columns:
        raw = [r.get(spec.name) for r in records]
        if spec.kind == "numeric":
            values = [number_of(v) for v in raw]
            bad = [i + 1 for i, v in enumerate(values) if v is _BAD]
            nonfinite = [i + 1 for i, v in enumerate(values) if v is _NONFINITE]
            if bad:
                examples = [raw[i - 1] for i in bad[:3]]
                problems.append(make_problem(spec.name, f"expected a number, got {examples}", bad))
            if nonfinite:
                problems.append(make_problem(spec.name, "infinite or NaN text is not a number", nonfinite))
            if bad or nonfinite:
                continue
            if spec.minimum is not None and spec.maximum is not None:
                outside = [i + 1 for i, v in enumerate(values) if v < spec.minimum or v > spec.maximum]
                if outside:
                    warnings.append(make_problem(
                        spec.name, f"outside the training range [{spec.minimum:g}, {spec.maximum:g}]", outside))
            features[spec.name] = values
        else:
            values = [level_of(v) for v in raw]
            bad = [i + 1 for i, v in enumerate(values) if v is _BAD]
            if bad:
                problems.append(make_problem(spec.name, "expected a text or number category, got an object "
                                                        "or list", bad))
                continue
            known = set(spec.levels or [])
            unseen = [i + 1 for i, v in enumerate(values) if v is not None and v not in known]
            if unseen:
                examples = sorted({values[i - 1] for i in unseen})[:3]
                warnings.append(make_problem(spec.name, UNSEEN_MESSAGE.format(examples), unseen))
            features[spec.name] = values
    if problems:
        raise DataContractError(problems)
    for encoding in schema.target_encodings:
        features[encoding.name] = encoding.values([level_of(v) for v in features[encoding.column]]).tolist()
    return Conformed(features=features, passthrough=None, warnings=warnings)


def check_training_frame(frame: pd.DataFrame, target: str, id_column: str | None) -> None:
    """Fail clearly when training data cannot be used: no rows, no target, a non-binary target, bad ids."""
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
