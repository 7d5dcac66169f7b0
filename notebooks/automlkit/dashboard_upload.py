"""An upload before it is sent: its first rows, and the check with the API's own rules (``automlkit.schema``)
against the schema on the model card, with the drift against the training data (``automlkit.drift``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from .dashboard_card import schema_of
from .drift import batch_drift
from .errors import Problem
from .schema import conform, decode_csv, parse_csv, read_csv


def preview(content: bytes, max_bytes: int, rows: int = 5) -> tuple[pd.DataFrame, int]:
    """The first ``rows`` rows and the row count of an uploaded CSV (raises DataContractError)."""
    frame = read_csv(content, max_bytes=max_bytes)
    return frame.head(rows), len(frame)


@dataclass
class Checked:
    """An upload checked against the served model's input schema before it is sent."""

    rows: int
    #: what the API would warn about too: unseen categories, numbers outside the training range, extra columns
    warnings: list[Problem] = field(default_factory=list)
    #: each feature's population stability index against the training data (None: the card has no reference)
    drift: list[dict] | None = None
    #: whether the card's schema was checked (else only the CSV itself: the API checks the rest)
    schema_checked: bool = False


def check_upload(content: bytes, card: dict | None, max_bytes: int,
                 step: Callable[[float, str], None] | None = None) -> Checked:
    """Check an upload with the API's own rules (``automlkit.schema``: the same code, the same messages) against
    the schema on the model card, before anything is sent: raises :class:`DataContractError` naming columns and
    rows; returns the row count, the warnings and the drift against the training data (``automlkit.drift``).
    Without a readable schema only the CSV itself is checked (the API checks the rest). ``step(fraction, what)``
    follows the work."""
    step = step or (lambda fraction, what: None)
    text = decode_csv(content, max_bytes)
    schema = schema_of(card)
    step(0.2, "reading the rows")
    if schema is None:
        return Checked(len(parse_csv(text)))
    frame = parse_csv(text, numeric=[c.name for c in schema.columns if c.kind == "numeric"])
    step(0.5, f"checking {len(frame):,} rows against the model's {len(schema.columns)} columns")
    conformed = conform(frame, schema)
    step(0.9, "comparing with the training data")
    drift = (batch_drift(schema.drift_reference, conformed.features, len(frame)) if schema.drift_reference
             else None)
    return Checked(len(frame), conformed.warnings, drift, schema_checked=True)


def scored_filename(uploaded: str) -> str:
    """``customers.csv.gz`` -> ``customers-scored.csv``."""
    stem = uploaded
    for suffix in (".gz", ".csv"):
        stem = stem.removesuffix(suffix)
    return f"{stem or 'customers'}-scored.csv"
