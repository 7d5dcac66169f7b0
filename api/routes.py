"""The routes: /predict, /model, /models, /monitoring, /health, /ready, /reload. Thin: they turn HTTP into calls of the
served model's :class:`~automlkit.scoring.ScoringModel` and its results into responses."""

from __future__ import annotations

import hmac
import json
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import UploadFile

from automlkit import monitoring
from automlkit.errors import Problem, make_problem
from automlkit.registry import version_history
from automlkit.scoring import TooManyToExplain
from automlkit.settings import ApiSettings

from . import responses
from .errors import ApiError
from .model_store import ModelStore, ServedModel
from .schemas import (ErrorBody, Health, ModelCard, ModelVersions, MonitoringReport, PredictRecords, PredictResponse,
                      Ready, ReloadResult)

router = APIRouter()

#: JSON requests with at most this many records are scored on the event loop (faster than a thread hop).
INLINE_ROWS = 64
#: The query parameters of POST /predict (any other is refused with a 422).
PREDICT_FLAGS = frozenset({"rank", "drift", "explain"})
#: Slack over the upload limit for multipart framing.
MULTIPART_SLACK = 64 * 1024

PREDICT_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": PredictRecords.model_json_schema(),  # inline: nothing else registers the model
                # the example is the served model's own (api.openapi fills it in once a model is loaded)
            },
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary",
                                                   "description": "CSV with a header row; .csv.gz accepted"}}},
                "examples": {"csv file": {"summary": "a CSV with a header row, as field `file`",
                                          "value": {"file": "customers.csv"}}},
            },
        },
    },
}
ERRORS = {status: {"model": ErrorBody} for status in (400, 413, 415, 422, 503)}
#: /reload's token: declared in the OpenAPI document (the Authorize button of /docs); a missing or
#: non-bearer header reaches the route as None, which answers with the API's own 401 body
RELOAD_BEARER = HTTPBearer(auto_error=False, scheme_name="reload token",
                           description="the RELOAD_TOKEN the service was started with")


# The dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, and three
# thread hops cost a single-row request 0.5-0.9 ms (measured: p50 2.0-2.8 ms against 1.3-1.8 ms).
async def get_store(request: Request) -> ModelStore:
    """The app's model store (a FastAPI dependency)."""
    return request.app.state.store


async def get_settings(request: Request) -> ApiSettings:
    """The app's settings (a FastAPI dependency)."""
    return request.app.state.settings


async def get_served(store: Annotated[ModelStore, Depends(get_store)]) -> ServedModel:
    """The model being served, taken once for the whole request; 503 with the reason when there is none."""
    served = store.current
    if served is None:
        reason = (store.last_error or {}).get("message", "no model loaded yet")
        raise ApiError(503, f"no model is loaded: {reason}")
    return served


Store = Annotated[ModelStore, Depends(get_store)]
Settings = Annotated[ApiSettings, Depends(get_settings)]
Served = Annotated[ServedModel, Depends(get_served)]


def refuse_unknown_parameters(request: Request, known: frozenset[str]) -> None:
    """A 422 naming the query parameters the route does not take: a typo such as ?rnak=true must not be
    silently ignored."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(422, f"unknown query parameter {', '.join(map(repr, unknown))}: {request.url.path} takes "
                            f"{', '.join(sorted(known))}",
                       [Problem(name or None, "unknown query parameter") for name in unknown])


async def _read_body(request: Request, limit: int, slack: int = 0) -> bytes:
    """The request body, refused with a 413 as soon as it (or its declared length) passes ``limit + slack``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + slack:
        raise ApiError(413, f"the request body of {int(declared)} bytes is larger than the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + slack:
            raise ApiError(413, f"the request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _uploaded_file(request: Request, body: bytes) -> bytes:
    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=20)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the client's malformed multipart
        raise ApiError(400, f"malformed multipart body: {getattr(exc, 'detail', exc)}") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "multipart field 'file' with the CSV is missing",
                       [Problem("file", "required multipart field is missing")])
    try:
        return await upload.read()
    finally:
        await form.close()


def _parse_records(body: bytes, settings: ApiSettings) -> list[dict]:
    if not body.strip():
        raise ApiError(400, "the request body is empty: send {\"records\": [...]} or a CSV file")
    try:
        data = json.loads(body)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "the JSON body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise ApiError(400, "the JSON body is nested too deeply") from exc
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ApiError(422, "expected a JSON object {\"records\": [{column: value, ...}, ...]}",
                       [Problem("records", "missing or not a list")])
    if not records:
        raise ApiError(400, "no records to score", [Problem("records", "the list is empty")])
    if len(records) > settings.max_json_records:
        raise ApiError(413, f"{len(records)} records is more than the limit of {settings.max_json_records}")
    not_objects = [i + 1 for i, r in enumerate(records) if not isinstance(r, dict)]
    if not_objects:
        raise ApiError(422, "every record must be a JSON object of column: value",
                       [make_problem("records", "not an object", not_objects)])
    return records


@router.post("/predict", response_model=None, openapi_extra=PREDICT_OPENAPI,
             responses={200: {"model": PredictResponse, "content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "JSON, or with `Accept: text/csv` the input columns plus "
                                            "the model's columns as CSV (binary: probability, label; multiclass: "
                                            "label, probability_<class> per class; regression: prediction)"}, **ERRORS})
async def predict(request: Request, settings: Settings, served: Served, store: Store,
                  rank: bool = Query(False, description="order rows, first the most likely (binary: the positive "
                                                       "probability), the most confident (multiclass: the predicted "
                                                       "class's probability) or the largest prediction (regression)"),
                  drift: bool = Query(False, description="add each feature's population stability index "
                                                         "against the training data (`drift`, header `X-Drift`)"),
                  explain: bool = Query(False, description="add each row's top SHAP contributions (tree models; "
                                                           "at most 1,000 rows), JSON answers only")):
    """Score a CSV upload (multipart field `file`, gzip accepted) or JSON records with the champion."""
    refuse_unknown_parameters(request, PREDICT_FLAGS)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_csv = content_type in ("multipart/form-data", "text/csv")
    if content_type not in ("multipart/form-data", "text/csv", "application/json", ""):
        raise ApiError(415, f"unsupported content type {content_type!r}: send multipart/form-data with a CSV "
                            "field 'file', text/csv, or application/json records")
    slack = MULTIPART_SLACK if content_type == "multipart/form-data" else 0
    body = await _read_body(request, settings.max_upload_bytes, slack)
    if content_type == "multipart/form-data":
        source = await _uploaded_file(request, body)
    elif is_csv:
        source = body
    else:
        source = _parse_records(body, settings)
    model, batches = served.model, request.app.state.batch_limiter
    try:
        if is_csv:
            scored = await to_thread.run_sync(partial(model.score_csv, source, settings.max_upload_bytes,
                                                      settings.max_rows, drift, explain), limiter=batches)
        elif len(source) > INLINE_ROWS:
            scored = await to_thread.run_sync(partial(model.score_records, source, drift, explain), limiter=batches)
        elif explain:
            scored = await run_in_threadpool(model.score_records, source, drift, explain)
        else:  # a handful of rows: scoring on the event loop is faster than a thread hop
            scored = model.score_records(source, drift)
    except TooManyToExplain as exc:
        raise ApiError(413, str(exc)) from exc
    request.app.state.recorder.record(served.name, served.version, model, scored)  # a put_nowait, never blocks
    request.app.state.shadow.submit(served.name, served, store.challenger, scored)  # likewise (automlkit.shadow)
    order = scored.ranking() if rank else None
    headers = {"X-Model-Name": served.name, "X-Model-Version": served.version, **responses.drift_header(scored),
               **responses.warnings_header(scored)}
    if "text/csv" in request.headers.get("accept", ""):
        return Response(responses.csv_body(scored, order), media_type="text/csv", headers=headers)
    return Response(responses.json_body(served, scored, order), media_type="application/json", headers=headers)


@router.get("/model", response_model=ModelCard)
def model_card(store: Store, settings: Settings) -> ModelCard:
    """The served model: name, version, alias, run, trained-at, holdout metrics, threshold, input schema
    (with `version` null and `load_error` saying why while no model is loaded)."""
    served = store.current
    if served is None:
        return ModelCard(name=settings.model_name, version=None, alias=settings.model_alias,
                         load_error=store.last_error)
    meta = served.model.meta
    return ModelCard(name=served.name, version=served.version, alias=served.alias, run_id=served.run_id,
                     trained_at=served.trained_at, loaded_at=served.loaded_at, algorithm=served.model.algorithm,
                     problem=served.model.problem, classes=served.model.scorer.classes or None,
                     threshold=meta.threshold, holdout_metrics=meta.holdout_metrics,
                     input_schema=meta.schema.to_dict(), selection=meta.selection or None,
                     scorer=served.model.scorer.describe(), variable_importance=meta.variable_importance,
                     load_error=store.last_error)


@router.get("/models", response_model=ModelVersions, responses={503: {"model": ErrorBody}})
def models(store: Store, settings: Settings) -> dict:
    """Every registered version of the served model, newest first: aliases, holdout metrics, the champion
    decision and why, and a link to its training run (leaderboard, notebook) in the MLflow UI."""
    try:
        versions = version_history(store.client, settings.model_name, settings.mlflow_ui_url)
    except Exception as exc:  # noqa: BLE001 - registry down: say so, keep serving
        raise ApiError(503, f"the registry at {settings.tracking_uri} cannot list versions: {exc}") from exc
    served = store.current
    return {"name": settings.model_name, "alias": settings.model_alias,
            "serving_version": served.version if served else None, "versions": versions}


#: How far back ``GET /monitoring`` looks when no ``since`` is given.
MONITORING_DEFAULT_DAYS = 30
#: The query parameters of GET /monitoring (any other is refused with a 422).
MONITORING_PARAMETERS = frozenset({"since", "every"})


@router.get("/monitoring", response_model=MonitoringReport, responses={422: {"model": ErrorBody},
                                                                       503: {"model": ErrorBody}})
def monitoring_report(request: Request, store: Store, settings: Settings,
                      since: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}",
                                                description="ISO 8601 start, e.g. 2026-11-01T00:00:00Z "
                                                            "(default: 30 days ago); without a zone, UTC"),
                      every: Literal["day", "hour"] = Query("day", description="the periods summed over")) -> dict:
    """What the served model's versions scored over time, per version and per day or hour: rows, score deciles,
    per-feature PSI against the training reference, drifted features, realised metrics of rows that carried the
    target, and the alerts of the serving version (docs/monitoring.md)."""
    refuse_unknown_parameters(request, MONITORING_PARAMETERS)
    now = datetime.now(timezone.utc)
    try:  # not a time, or a zone pushing year 1 or 9999 past the calendar
        start = datetime.fromisoformat(since) if since else now - timedelta(days=MONITORING_DEFAULT_DAYS)
        start = start.astimezone(timezone.utc) if start.tzinfo else start.replace(tzinfo=timezone.utc)
        start.timestamp()
    except (OverflowError, ValueError) as exc:
        raise ApiError(422, f"since must be an ISO 8601 time such as 2026-11-01T00:00:00Z: {exc}",
                       [Problem("since", "not an ISO 8601 time in range")]) from exc
    recorder = request.app.state.recorder.state()  # before reading: what it counts as written is in the read
    try:
        histories = request.app.state.monitoring.get(settings.model_name)
    except Exception as exc:  # noqa: BLE001 - tracking store down: say so, keep serving
        raise ApiError(503, f"the monitoring store at {settings.tracking_uri} cannot be read: {exc}") from exc
    served, challenger = store.current, store.challenger
    shadow = {**request.app.state.shadow.state(challenger.version if challenger else None),
              "load_error": (store.challenger_error or {}).get("message")}
    return monitoring.report(histories, settings.model_name, start, every, served.version if served else None,
                             settings, recorder, now, shadow)


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """The API's front page is its documentation."""
    return RedirectResponse("/docs")


@router.get("/health", response_model=Health)
def health() -> Health:
    """Liveness: the process answers."""
    return Health()


@router.get("/ready", response_model=Ready, responses={503: {"model": ErrorBody}})
def ready(served: Served) -> Ready:
    """Readiness: a model is loaded (503 with the reason otherwise)."""
    return Ready(model=served.name, version=served.version)


@router.post("/reload", response_model=ReloadResult, responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
async def reload(store: Store, settings: Settings,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(RELOAD_BEARER)]) -> dict:
    """Check the registry now and swap in the alias's version if it moved (bearer token `RELOAD_TOKEN`)."""
    token = settings.reload_token.get_secret_value()
    if credentials is None:
        raise ApiError(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    if not token or not hmac.compare_digest(credentials.credentials.strip().encode(), token.encode()):
        raise ApiError(403, "the token is not valid" if token else "reload is disabled: RELOAD_TOKEN is not set")
    changed = await run_in_threadpool(store.refresh)
    served = store.current
    return {"changed": changed, "version": served.version if served else None, "load_error": store.last_error}


