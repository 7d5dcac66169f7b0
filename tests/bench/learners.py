"""`make learners`: which H2O learners, and which stacks of them, do best on the fixed holdout.

    python tests/bench/learners.py [--sample-rows 0] [--models xgb,gbm,glm] [--max-stack 3]

Prepares the data exactly as ``notebooks/train.ipynb`` does with its default parameters (the id-hash
holdout, out-of-fold target encodings of ``Region_Code`` and ``Policy_Sales_Channel``), trains each
candidate with the notebook's 5-fold cross-validation on the training part, then stacks every combination
of 2 to ``--max-stack`` candidates as the notebook stacks (GLM metalearner on logits). Prints CV and
holdout AUC and seconds per line, and writes ``bench/learners.csv``. The full data takes about 16 minutes
on 2 cores with the default candidates.

This is the evidence behind the shipped :data:`automlkit.training.TUNED_XGBOOST` and the quality table in
docs/model-quality.md: it is a study, not a test, so nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import pandas as pd
from h2o.estimators import H2OGeneralizedLinearEstimator, H2OGradientBoostingEstimator, H2OXGBoostEstimator

from automlkit import training
from automlkit.h2o_cluster import H2OCluster
from automlkit.metrics import binary_metrics
from automlkit.log_config import configure_logging
from automlkit.settings import EXAMPLE_TARGET, TrainingSettings

log = logging.getLogger("learners")
OUT = Path(__file__).resolve().parents[2] / "bench" / "learners.csv"

#: name -> (estimator, parameters, seed). ``xgb`` is what the notebook trains beside AutoML.
CANDIDATES = {
    "xgb": (H2OXGBoostEstimator, training.TUNED_XGBOOST, 1),
    "xgb_seed7": (H2OXGBoostEstimator, training.TUNED_XGBOOST, 7),
    "xgb_slow": (H2OXGBoostEstimator, {**training.TUNED_XGBOOST, "ntrees": 1200, "learn_rate": 0.015}, 1),
    "xgb_depth4": (H2OXGBoostEstimator, {**training.TUNED_XGBOOST, "ntrees": 1500, "max_depth": 4}, 1),
    "xgb_leaves48": (H2OXGBoostEstimator, {**training.TUNED_XGBOOST, "grow_policy": "lossguide",
                                           "max_leaves": 48, "max_depth": 0}, 1),
    "gbm": (H2OGradientBoostingEstimator, dict(ntrees=400, learn_rate=0.04, max_depth=6, min_rows=50,
                                               sample_rate=0.8, col_sample_rate=0.7), 1),
    "glm": (H2OGeneralizedLinearEstimator, dict(family="binomial", lambda_=0, remove_collinear_columns=True), 1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="", help="labelled CSV (default: the shipped train.csv.gz)")
    parser.add_argument("--sample-rows", type=int, default=0, help="rows to sample (0: all)")
    parser.add_argument("--models", default="xgb,xgb_seed7,xgb_depth4,xgb_leaves48,gbm,glm",
                        help=f"comma-separated, from {', '.join(CANDIDATES)}")
    parser.add_argument("--max-stack", type=int, default=3, help="largest stack to try (0: none)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    configure_logging()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidates: {', '.join(unknown)}")

    params = training.TrainParams(data_path=args.data or TrainingSettings.load().data_path(), target=EXAMPLE_TARGET,
                                  sample_rows=args.sample_rows,
                                  target_encoding=["Region_Code", "Policy_Sales_Channel"])
    data = training.prepare_data(params)
    y_holdout = training.truth(data.holdout_frame, data.schema)
    rows = []
    with H2OCluster() as cluster:
        log.info("H2O at %s; %s training rows, %s holdout rows", cluster.url, data.fingerprint["train_rows"],
                 data.fingerprint["holdout_rows"])
        train = training.to_h2o_frame(data.train_frame, data.schema, encoded=data.train_encoded)
        holdout = training.to_h2o_frame(data.holdout_frame, data.schema)

        def measure(name: str, model, started: float) -> None:
            probability = training.h2o_scores(model, holdout, data.schema)
            rows.append({"model": name, "cv_auc": model.auc(xval=True),
                         "holdout_auc": binary_metrics(y_holdout, probability)["auc"],
                         "seconds": round(time.monotonic() - started)})
            log.info("%s", rows[-1])

        models = {}
        for name in names:
            estimator, settings, seed = CANDIDATES[name]
            started = time.monotonic()
            model = estimator(**settings, **training.cv_settings(params, seed))
            model.train(x=data.schema.model_features, y=data.schema.target, training_frame=train)
            models[name] = model
            measure(name, model, started)
        for size in range(2, min(args.max_stack, len(models)) + 1):
            for combo in itertools.combinations(models, size):
                started = time.monotonic()
                stacked = training.stack([models[n] for n in combo], train, data.schema, params)
                measure("stack(" + "+".join(combo) + ")", stacked, started)
    table = pd.DataFrame(rows).sort_values("cv_auc", ascending=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False, float_format="%.5f"))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
