"""FastAPI app: ``uvicorn api.main:app``. Serves the model holding ``MODEL_NAME@MODEL_ALIAS``.

The model is loaded in the lifespan hook and re-checked every ``POLL_SECONDS`` (and on an authenticated
``POST /reload``); routes take the current model once per request, so a swap never disturbs a request.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from automlkit.log_config import configure_logging
from automlkit.monitoring import HistoryCache, MonitoringRecorder
from automlkit.shadow import ShadowScorer
from automlkit.settings import ApiSettings

from . import errors, log_redaction, openapi
from .model_store import ModelStore
from .routes import router

log = logging.getLogger("api")


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app; ``settings`` default to the environment's (and ``.env``'s)."""
    settings = settings or ApiSettings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = ModelStore(settings)
        app.state.store = store
        app.state.batch_limiter = anyio.CapacityLimiter(settings.batch_workers)
        store.refresh()
        if store.current is None:
            log.warning("no model loaded yet (%s); /ready answers 503 until one loads",
                        (store.last_error or {}).get("message", "unknown"))
        store.start_polling()
        recorder = MonitoringRecorder.from_settings(settings)
        app.state.recorder = recorder
        app.state.monitoring = HistoryCache(store.client, settings.monitoring_experiment,
                                            settings.monitoring_cache_seconds)
        # the challenger waits while a batch is being scored (the limiter has a token out): automlkit.shadow
        app.state.shadow = ShadowScorer.from_settings(settings, recorder,
                                                      busy=lambda: app.state.batch_limiter.borrowed_tokens > 0)
        recorder.start()
        app.state.shadow.start()
        try:
            yield
        finally:
            store.stop_polling()
            app.state.shadow.stop()  # the challenger's scoring in hand, then what it gave the recorder:
            recorder.stop()  # writes what is queued (bounded time)

    app = FastAPI(
        title="AutoML prediction API",
        version="1.0",
        description=("Scores rows with the model that holds the registry alias "
                     f"`{settings.model_name}@{settings.model_alias}`. Send a CSV file (multipart field "
                     "`file`, gzip accepted) or JSON records to `POST /predict`. Every 4xx names the column "
                     "and the first offending 1-based rows."),
        lifespan=lifespan,
    )
    app.state.settings = settings
    log_redaction.install([settings.reload_token.get_secret_value()])
    errors.install(app)
    app.include_router(router)
    openapi.install(app)
    return app


def _app() -> FastAPI:
    settings = ApiSettings.load()
    configure_logging(settings.log_level)
    return create_app(settings)


app = _app()
