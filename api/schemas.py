"""Request and response bodies of the API (what the OpenAPI document and ``/docs`` show)."""

from __future__ import annotations

from typing import Any, Literal

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


class Contribution(BaseModel):
    """One feature's push on a row's score."""

    feature: str
    contribution: float = Field(description="SHAP contribution to the log-odds of the positive class (binary) "
                                            "or to the prediction (regression)")


class Explanation(BaseModel):
    """Why a row scored as it did: bias + the top contributions + other = the row's logit (binary) or its
    prediction (regression)."""

    bias: float
    other: float = Field(description="the sum of the contributions not listed in `top`")
    top: list[Contribution]


class ExplainSummary(BaseModel):
    """Whether the model explains its rows (tree models do), and in what unit."""

    available: bool
    unit: str | None = None
    message: str | None = Field(default=None, description="why there are no explanations")


class FeatureDrift(BaseModel):
    """One feature's population stability index for the scored rows against the training data."""

    column: str
    psi: float
    drifted: bool = Field(description="psi is past the alert level")
    rows: int
    bin: str = Field(description="the bin whose share moved most")
    training_share: float
    batch_share: float


class Prediction(BaseModel):
    """One scored row."""

    row: int = Field(description="1-based position of the row in the request")
    id: Any | None = Field(default=None, description="the id column's value, when the input has one")
    probability: float | None = Field(default=None, description="binary: probability of the positive class; "
                                                                "multiclass: of the predicted class")
    label: int | str | None = Field(default=None, description="binary: 1 when probability >= the model's "
                                                              "threshold; multiclass: the predicted class")
    probabilities: dict[str, float] | None = Field(default=None, description="multiclass: every class's "
                                                                             "probability")
    prediction: float | None = Field(default=None, description="regression: the predicted value")
    rank: int | None = Field(default=None, description="1 = first with ?rank=true: the most likely (binary), the "
                                                       "most confident (multiclass), the largest (regression)")
    explanation: Explanation | None = Field(default=None, description="with ?explain=true, for tree models")


class PredictResponse(BaseModel):
    """Predictions row for row (or ranked), with the model that made them and per-row warnings."""

    model: str
    version: str
    threshold: float | None = Field(description="binary models' decision threshold (null for the others)")
    rows: int
    predictions: list[Prediction]
    warnings: list[ProblemOut] = []
    drift: list[FeatureDrift] | None = Field(default=None, description="with ?drift=true, most drifted first")
    explain: ExplainSummary | None = Field(default=None, description="with ?explain=true")


class ErrorBody(BaseModel):
    """Every 4xx and 503: what is wrong, and where."""

    detail: str
    problems: list[ProblemOut] = []


class LoadError(BaseModel):
    """Why the alias's version is not the one served."""

    version: str | None
    message: str
    at: str


class ServingCostOut(BaseModel):
    """What the model costs to serve, measured when it was trained."""

    mojo_bytes: int
    rows_per_s: float = Field(description="the in-process MOJO scorer on the holdout rows")
    contributions: bool = Field(description="it gives per-feature contributions (`?explain=true`)")


class SelectionOut(BaseModel):
    """How the model was chosen among the run's leaderboard."""

    rule: str = Field(description="`best` (best cross-validated metric) or `within_noise` (cheapest to serve "
                                  "within one standard error of the best)")
    metric: str
    winner: str
    best: str
    band: float | None = Field(description="one standard error of the cross-validated metric (the median "
                                           "over the candidates of their folds' spread)")
    inside: list[str] = Field(description="the candidates inside the band")
    reason: str
    winner_cv: float
    best_cv: float
    serving: ServingCostOut


class ImportanceOut(BaseModel):
    """One variable's importance to the model (H2O's, scaled so the largest is 1)."""

    variable: str
    scaled_importance: float


class ScorerOut(BaseModel):
    """How the served model scores."""

    batches: Literal["mojo", "native-xgboost"] = Field(
        description="`mojo`: H2O's MOJO for every request (scores equal H2O's own); `native-xgboost`: batches of "
                    "an XGBoost model go to its native booster, single rows and small batches to the MOJO")
    native_min_rows: int | None = Field(None, description="the batch size from which the native booster scores")
    equality_bound: float | None = Field(None, description="largest difference of the native booster's "
                                                           "probabilities from the MOJO's (checked at load)")


class ModelCard(BaseModel):
    """The served model (``GET /model``)."""

    name: str
    version: str | None
    alias: str
    run_id: str | None = None
    trained_at: str | None = None
    loaded_at: str | None = None
    algorithm: str | None = None
    problem: Literal["binary", "multiclass", "regression"] | None = None
    classes: list[str] | None = Field(default=None, description="the classes a classifier predicts (none for "
                                                                "regression)")
    threshold: float | None = None
    holdout_metrics: dict[str, float] = {}
    input_schema: dict[str, Any] | None = None
    selection: SelectionOut | None = Field(default=None, description="how it was chosen (models trained "
                                                                      "before the selection rule have none)")
    scorer: ScorerOut | None = None
    variable_importance: list[ImportanceOut] = Field(default=[], description="the model's top variables by H2O's "
                                                                            "importance (none for stacked ensembles)")
    load_error: LoadError | None = None


class VersionInfo(BaseModel):
    """One registered version (``GET /models``)."""

    version: str
    aliases: list[str]
    created_at: str
    run_id: str | None
    holdout_metrics: dict[str, float]
    decision: str = Field(description="why it did or did not take the champion alias")
    run_url: str | None = Field(description="its training run in the MLflow UI (leaderboard, notebook)")


class ModelVersions(BaseModel):
    """Every registered version of the served model, newest first."""

    name: str
    alias: str
    serving_version: str | None
    versions: list[VersionInfo]


class Health(BaseModel):
    """Liveness."""

    status: str = "ok"


class Ready(BaseModel):
    """Readiness: the model being served."""

    status: str = "ready"
    model: str
    version: str


class ReloadResult(BaseModel):
    """What ``POST /reload`` did."""

    changed: bool = Field(description="a new version went live")
    version: str | None
    load_error: LoadError | None = None


class RecorderOut(BaseModel):
    """The monitoring recorder of this API process (counts of scorings since it started)."""

    enabled: bool = Field(description="MONITORING: every scoring's summary is recorded")
    queue_size: int
    flush_seconds: float | None = None
    pending: int = Field(description="scorings queued or summarised, not written yet")
    written: int = Field(description="scorings whose summaries the tracking store acknowledged")
    dropped: int = Field(description="scorings not recorded: the queue was full, or the store was down too long")
    errors: int = Field(description="flushes the tracking store refused (their summaries are retried)")
    summaries_written: int | None = None


class MonitoredVersion(BaseModel):
    """One model version as monitoring saw it; its `first_scored` is its switch-over date."""

    version: str
    first_scored: str | None
    last_scored: str | None
    rows: int
    holdout_metrics: dict[str, float] = Field(description="the holdout figures it was promoted on")
    threshold: float | None = None
    problem: str | None = None
    serving: bool
    role: Literal["live", "shadow"] = Field("live", description="live: its answers were served; shadow: it "
                                                                  "scored as the challenger, beside the champion")


class RealisedOut(BaseModel):
    """Realised metrics over the scored rows that carried the target (rows-weighted means of the summaries')."""

    model_config = {"extra": "allow"}

    rows: int
    auc: float | None = None
    logloss: float | None = None


class ConfusionOut(BaseModel):
    """A confusion matrix at the model's threshold (expected counts may be fractional)."""

    tp: float
    fp: float
    fn: float
    tn: float


class RealisedBesideOut(BaseModel):
    """The realised figures of the labelled rows, beside the estimate (binary: the confusion matrix at the
    threshold from counts; multiclass: accuracy)."""

    rows: int
    auc: float | None = None
    confusion: ConfusionOut | None = None
    positive_rate: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    accuracy: float | None = None


class EstimatedOut(BaseModel):
    """Performance estimated without labels from the version's calibration map (CBPE, docs/monitoring.md):
    binary the expected AUC and confusion matrix at the threshold, multiclass the expected accuracy,
    regression nothing (``available`` false and the ``reason``)."""

    available: bool
    reason: str | None = Field(None, description="why nothing is estimated (regression; no calibration map)")
    method: str | None = None
    rows: int | None = Field(None, description="the scored rows the estimate stands on")
    auc: float | None = Field(None, description="binary: the expected AUC")
    confusion: ConfusionOut | None = Field(None, description="binary: the expected confusion matrix at the "
                                                             "threshold")
    positive_rate: float | None = Field(None, description="binary: the expected share of positive rows")
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    accuracy: float | None = Field(None, description="binary at the threshold; multiclass of the top class")
    realised: RealisedBesideOut | None = Field(None, description="the same figures of the period's labelled rows")


class MonitoringPeriod(BaseModel):
    """What one version scored in one day or hour."""

    start: str
    end: str
    version: str
    role: Literal["live", "shadow"] = Field("live", description="as in `versions`")
    rows: int
    summaries: int
    scorings: int = 0
    score_deciles: list[float] = Field(description="p10..p90 of the score: binary the positive probability, "
                                                   "multiclass the predicted class's, regression the prediction")
    share_above_threshold: float | None
    psi: dict[str, float] = Field(description="per feature, the PSI of the period's summed bin counts against "
                                              "the training reference")
    drifted: list[str] = Field(description="features whose psi is past psi_alert")
    realised: RealisedOut | None
    estimated: EstimatedOut | None = Field(None, description="performance estimated before labels arrive")


class MonitoringAlert(BaseModel):
    """A drifted feature or realised performance behind the holdout over the alert window."""

    kind: Literal["drift", "performance"]
    version: str
    message: str
    feature: str | None = None
    psi: float | None = None
    metric: str | None = None
    realised: float | None = None
    holdout: float | None = None
    rows: int | None = None
    since: str | None = None
    at: str | None = Field(None, description="the newest summary the alert stands on")


class ShadowOut(BaseModel):
    """Shadow scoring in this API process (rows since it started; `automlkit.shadow`)."""

    enabled: bool = Field(description="SHADOW_SHARE is above 0")
    share: float = Field(description="SHADOW_SHARE: the share of scored rows the challenger scores too")
    queue_size: int
    challenger_version: str | None = Field(description="the version holding the challenger alias, loaded now")
    pending: int = Field(description="scorings waiting for the challenger")
    offered_rows: int = Field(description="rows scored while a challenger was loaded")
    scored_rows: int = Field(description="rows the challenger scored")
    skipped_rows: int = Field(description="rows not shadowed: the queue was full (the answer never waits)")
    failed_rows: int = Field(description="rows the challenger refused (its data contract differs)")
    last_error: str | None = Field(None, description="why the challenger last refused rows")
    load_error: str | None = Field(None, description="why the challenger alias's version failed to load (retried "
                                                     "at every poll)")


class RealisedPair(BaseModel):
    """Both models' realised metrics on the shadowed rows that carried the target."""

    rows: int
    champion: dict[str, float]
    challenger: dict[str, float]


class ComparisonPeriod(BaseModel):
    """Champion vs challenger on the same rows in one day or hour."""

    start: str
    end: str
    champion_version: str
    challenger_version: str
    first: str
    last: str
    rows: int = Field(description="rows both scored")
    summaries: int
    scorings: int
    agreement: float | None = Field(description="share of rows whose labels agree, each model at its own threshold "
                                                "(multiclass: the predicted class; regression: null)")
    decisions_changed: float | None = Field(description="share of rows whose decision the challenger would change")
    newly_positive: int | None = Field(description="binary: rows the challenger labels 1 and the champion 0")
    newly_negative: int | None = Field(description="binary: rows the challenger labels 0 and the champion 1")
    spearman: float | None = Field(description="Spearman rank correlation of the scores: a rows-weighted mean of "
                                               "each flush's (exact within a flush)")
    realised: RealisedPair | None


class MonitoringReport(BaseModel):
    """``GET /monitoring``: per version and period, what was scored, how the inputs drift, realised metrics."""

    model: str
    since: str
    every: Literal["day", "hour"]
    psi_alert: float
    auc_margin: float
    alert_window_seconds: float | None = None
    recorder: RecorderOut
    versions: list[MonitoredVersion] = Field(description="oldest first")
    periods: list[MonitoringPeriod] = Field(description="oldest first")
    alerts: list[MonitoringAlert]
    shadow: ShadowOut | None = None
    comparisons: list[ComparisonPeriod] = Field([], description="champion vs challenger per period, oldest first")
