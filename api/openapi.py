"""The OpenAPI document with examples of the served model's own: a request row built from its schema,
and the answer that model really gives to it."""

from __future__ import annotations

from typing import Callable

import orjson
from fastapi import FastAPI

from automlkit.schema import Schema

from .model_store import ServedModel
from .responses import csv_body, json_body


def example_record(schema: Schema) -> dict:
    """One input row the model accepts: the middle of each numeric training range, each categorical
    column's first level, and an id when the model has an id column."""
    record: dict = {schema.id_column: 1} if schema.id_column else {}
    for column in schema.columns:
        if column.kind == "categorical":
            record[column.name] = (column.levels or [""])[0]
        elif column.minimum is not None and column.maximum is not None:
            middle = (column.minimum + column.maximum) / 2
            record[column.name] = round(middle) if column.dtype.startswith("int") else middle
        else:
            record[column.name] = None
    return record


def add_examples(document: dict, served: ServedModel) -> None:
    """Put the served model's example request and its real answers (JSON and CSV) on ``POST /predict``."""
    record = example_record(served.model.schema)
    scored = served.model.score_records([record])
    operation = document["paths"]["/predict"]["post"]
    summary = f"one row for {served.name} v{served.version}"
    operation["requestBody"]["content"]["application/json"]["examples"] = {
        "one row": {"summary": summary, "value": {"records": [record]}}}
    answers = operation["responses"]["200"]["content"]
    answers["application/json"]["examples"] = {
        "one row": {"summary": summary, "value": orjson.loads(json_body(served, scored, None))}}
    answers["text/csv"]["examples"] = {"one row": {"summary": summary, "value": csv_body(scored, None)}}


def install(app: FastAPI) -> None:
    """Serve the document with the current model's examples; rebuilt when the served version changes."""
    build: Callable[[], dict] = app.openapi

    def openapi() -> dict:
        store = getattr(app.state, "store", None)
        served = store.current if store is not None else None
        version = served.version if served is not None else None
        if app.openapi_schema is None or getattr(app.state, "openapi_version", "none") != version:
            app.openapi_schema = None
            document = build()
            if served is not None:
                add_examples(document, served)
            app.state.openapi_version = version
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
