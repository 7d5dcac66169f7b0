"""The baseline of `make bench`: how the original H2O + FastAPI app scored.

It loads the model into an H2O JVM and answers each request with ``model.predict(h2o.H2OFrame(df))``
(what the ``mlflow.h2o`` pyfunc does too); the frame is typed by the model's schema exactly as the training
notebook types it, so the predictions are H2O's own for the same input. Started by ``run.py``:

    BASELINE_MOJO=model.zip BASELINE_META=model_meta.json uvicorn baseline_app:app --app-dir tests/bench
"""

from __future__ import annotations

import io
import os
from contextlib import asynccontextmanager

import h2o
import pandas as pd
from fastapi import FastAPI, File, Request, UploadFile

from automlkit.h2o_cluster import H2OCluster
from automlkit.scoring import ModelMeta
from automlkit.training import h2o_scores, to_h2o_frame

STATE: dict = {}


@asynccontextmanager
async def lifespan(_: FastAPI):
    cluster = H2OCluster(nthreads=2)
    STATE["model"] = h2o.import_mojo(os.environ["BASELINE_MOJO"])
    STATE["schema"] = ModelMeta.read(os.environ["BASELINE_META"]).schema
    try:
        yield
    finally:
        cluster.stop()


app = FastAPI(lifespan=lifespan)


def _predict(frame: pd.DataFrame) -> dict:
    schema = STATE["schema"]
    return {"probability": h2o_scores(STATE["model"], to_h2o_frame(frame, schema, with_target=False),
                                                schema).tolist()}


@app.post("/predict")
async def predict(request: Request) -> dict:
    """JSON records, as the original app's form posted one customer."""
    return _predict(pd.DataFrame((await request.json())["records"]))


@app.post("/predict_csv")
async def predict_csv(file: UploadFile = File(...)) -> dict:
    """A CSV upload, as the original app's batch page sent it."""
    return _predict(pd.read_csv(io.BytesIO(await file.read())))


@app.get("/ready")
def ready() -> dict:
    return {"ready": "model" in STATE}
