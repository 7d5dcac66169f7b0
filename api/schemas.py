"""Request and response bodies of the API (what the OpenAPI page documents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PredictRecords(BaseModel):
    """JSON form of ``POST /predict``: one object per customer, keys are column names."""

    records: list[dict[str, Any]] = Field(description="rows to score; extra keys such as the id pass through")


class ProblemOut(BaseModel):
    """One problem with the input: the column, the first offending 1-based rows, and the total count."""

    column: str | None
    message: str
    rows: list[int] = []
    count: int = 0


class Prediction(BaseModel):
    """One scored row."""

    row: int = Field(description="1-based position of the row in the request")
    id: Any | None = Field(default=None, description="the id column's value, when the input has one")
    probability: float = Field(description="probability of the positive class")
    label: int = Field(description="1 when probability >= the model's threshold")
    rank: int | None = Field(default=None, description="1 = most likely (with ?rank=true)")


class PredictResponse(BaseModel):
    """Predictions row for row (or ranked), with the model that made them and per-row warnings."""

    model: str
    version: str
    threshold: float
    rows: int
    predictions: list[Prediction]
    warnings: list[ProblemOut] = []


class ErrorBody(BaseModel):
    """Every 4xx: what is wrong, and where."""

    detail: str
    problems: list[ProblemOut] = []


class ModelCard(BaseModel):
    """The served model (``GET /model``)."""

    name: str
    version: str | None
    alias: str
    run_id: str | None = None
    trained_at: str | None = None
    loaded_at: str | None = None
    algorithm: str | None = None
    threshold: float | None = None
    holdout_metrics: dict[str, float] = {}
    input_schema: dict[str, Any] | None = None
    load_error: dict[str, Any] | None = None
