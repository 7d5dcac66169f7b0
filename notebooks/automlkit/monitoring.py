"""Monitoring over time: what each model version scored, how its inputs drift, how well it really does.

**Recording.** Every scoring (the API's JSON and CSV answers, ``automl score``'s chunks) hands the
:class:`MonitoringRecorder` the version and its :class:`~automlkit.scoring.Scored` (which keeps the conformed
features, so nothing is parsed again). The request path only does ``put_nowait`` on a bounded queue; a full
queue drops the scoring and counts it. A daemon thread drains the queue every ``MONITORING_FLUSH_SECONDS``
(sooner when half the queue or :data:`MAX_PENDING_ROWS` rows wait), folds what it drained into one
:class:`Summary` per version (rows, score deciles, share above the threshold, per-feature bin counts against
the version's drift reference, realised metrics of the rows that carry the target) and logs it to MLflow.

**The store.** One MLflow run per (model, version) in the experiment ``MONITORING_EXPERIMENT``, tagged
``model_name`` / ``model_version``; each summary is a ``log_batch`` of metrics sharing the summary's timestamp
(:func:`summary_metrics` names them). Aggregates only: no row, id or value is stored.

**Reading.** :func:`load_history` reads every summary of a model back (one ``get_metric_history`` per key);
:func:`report` sums them per version and period (the answer of ``GET /monitoring``) and :func:`alerts` says
which features drifted or which realised metric fell behind the holdout over the alert window (the trainer's
``RETRAIN_ON_ALERT`` reads the same).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd

from . import estimation
from .drift import DECILES, PSI_ALERT, DriftReference, psi
from .problems import DECISION_METRIC, METRIC_DIRECTIONS
from .schema import Schema, canonical_levels

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from .scoring import Scored, ScoringModel
    from .settings import CommonSettings

log = logging.getLogger(__name__)

#: Tags of a monitoring run.
MODEL_TAG, VERSION_TAG = "model_name", "model_version"
#: The tag saying whose scorings a run holds: ``live`` (the served answers; a run without the tag is one),
#: ``shadow`` (a challenger's scorings of the same traffic) or ``comparison`` (``automlkit.shadow``).
ROLE_TAG, LIVE = "monitoring_role", "live"
#: MLflow takes at most this many metrics per ``log_batch``.
MAX_BATCH_METRICS = 1000
#: Rows waiting in the queue that make the recorder flush before its interval (bounds its memory).
MAX_PENDING_ROWS = 500_000
#: The metric keys of a summary's score deciles (p10 ... p90).
DECILE_KEYS = [f"score_p{round(q * 100)}" for q in DECILES]
#: Periods of ``GET /monitoring``.
PERIODS = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
#: Parallel ``get_metric_history`` calls when reading.
READ_THREADS = 4


# ------------------------------------------------------------------------------------------ summaries


def metric_key_part(name: str) -> str:
    """``name`` made safe for an MLflow metric key (letters, digits, ``_-. /`` kept, the rest ``_``)."""
    return re.sub(r"[^\w\-. /]", "_", str(name), flags=re.ASCII)[:100] or "_"


def truth_of(values: Iterable, schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    """The known target values in the form the problem's metrics take (binary 1 for the positive class, else
    0; multiclass the canonical class text; regression the number) and the mask of rows that have one (as
    ``automlkit.training.truth`` takes the target, but a missing value is unknown here, not a negative)."""
    values = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if schema.problem == "regression":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(numbers)
        return numbers[known], known
    levels = canonical_levels(values)
    known = levels.notna().to_numpy()
    if schema.problem == "binary":
        return schema.is_positive(levels[known]), known
    return levels[known].to_numpy(dtype=object), known


@dataclass
class Summary:
    """What one version scored during one flush interval: aggregates only."""

    model_name: str
    version: str
    #: milliseconds since the epoch: the first scoring folded in
    timestamp: int
    scorings: int = 0
    rows: int = 0
    deciles: list[float] = field(default_factory=list)
    share_above: float | None = None
    #: per feature of the drift reference (by its index), the bin counts
    bins: list[np.ndarray] = field(default_factory=list)
    psi: list[float] = field(default_factory=list)
    #: ``rows`` and the problem's metrics over the scored rows that carried the target; None without them
    realised: dict[str, float] | None = None
    #: the additive counts of estimated performance (``automlkit.estimation.summary_counts``), by metric key
    estimate: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The summary as MLflow metric keys and values (see the module's docstring)."""
        out: dict[str, float] = {"scorings": float(self.scorings), "rows": float(self.rows)}
        out.update(zip(DECILE_KEYS, self.deciles))
        if self.share_above is not None:
            out["share_above_threshold"] = self.share_above
        for i, counts in enumerate(self.bins):
            out.update({f"bins.{i}.{k}": float(c) for k, c in enumerate(counts)})
        for i, value in enumerate(self.psi):
            out[f"psi.{i}"] = value
        if self.realised:
            out.update({f"realised_{name}": value for name, value in self.realised.items() if math.isfinite(value)})
        out.update(self.estimate)
        return out


@dataclass
class Scoring:
    """One scoring as the request path queues it: nothing is computed until the recorder's thread runs."""

    model_name: str
    version: str
    model: "ScoringModel"
    scored: "Scored"
    at: float
    #: ``live``, or ``shadow`` for a challenger's scoring of traffic the champion answered
    role: str = LIVE

    @property
    def tags(self) -> dict[str, str]:
        """Run tags besides model, version and role (none: :class:`automlkit.shadow.Comparison` has some)."""
        return {}

    @property
    def key(self) -> tuple:
        """What the recorder groups by and the store finds a run by."""
        return (self.model_name, self.version, self.role, *sorted(self.tags.items()))

    def summary_of(self, scorings: list["Scoring"]) -> "Summary":
        """The summary of a group of scorings of this key."""
        return summarise(scorings)

    def run_params(self) -> list:
        """The params of this key's run (its reference, holdout metrics, threshold)."""
        return _params(self.model.meta)


def summarise(scorings: list[Scoring]) -> Summary:
    """One :class:`Summary` of scorings of the same version (the recorder's thread calls this)."""
    first = scorings[0]
    model = first.model
    schema, problem = model.schema, model.problem
    summary = Summary(first.model_name, first.version, int(min(s.at for s in scorings) * 1000), len(scorings))
    rank_by = np.concatenate([np.asarray(s.scored.rank_by, dtype=float) for s in scorings])
    summary.rows = len(rank_by)
    present = rank_by[~np.isnan(rank_by)]
    summary.deciles = np.quantile(present, DECILES).tolist() if len(present) else []
    if problem == "binary" and model.meta.threshold is not None and len(rank_by):
        summary.share_above = float(np.mean(rank_by >= model.meta.threshold))
    references = schema.drift_reference
    frames = [s.scored.features for s in scorings if s.scored.features is not None]
    summary.bins = [bin_counts(r, [f[r.column] for f in frames]) for r in references]
    summary.psi = [psi(r.shares, _shares(c)) for r, c in zip(references, summary.bins)]
    summary.realised = realised(scorings, schema)
    summary.estimate = estimation.summary_counts(model.meta.calibration, problem, rank_by, model.meta.threshold,
                                                 labelled_rows(scorings, schema) if summary.realised else None)
    return summary


def bin_counts(reference: DriftReference, parts: list) -> np.ndarray:
    """``reference.counts`` of the values of every part (a feature's conformed values from several scorings),
    counted at once: numbers and JSON records' levels concatenated, a ``pandas.Categorical`` column by its
    codes (each distinct level binned once by ``reference.counts`` itself, so the binning rule stays there)."""
    if reference.kind == "numeric":
        numbers = [np.asarray(p, dtype=float) for p in parts]
        return reference.counts(np.concatenate(numbers) if numbers else np.empty(0))
    counts = np.zeros(len(reference.bins))
    levels: list = []
    bin_of: dict[Any, np.ndarray] = {}
    for part in parts:
        values = part.array if isinstance(part, pd.Series) else part
        if not isinstance(values, pd.Categorical):
            levels.extend(values)
            continue
        codes = np.asarray(values.codes)
        per_level = np.bincount(codes[codes >= 0], minlength=len(values.categories))
        for level, n in zip(values.categories, per_level):
            if n:
                if level not in bin_of:
                    bin_of[level] = reference.counts([level])
                counts += n * bin_of[level]
        counts[-1] += int((codes < 0).sum())
    return counts + reference.counts(levels) if levels else counts


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def _scores(scored: "Scored") -> np.ndarray:
    """The scores the problem's metrics take: positive probability, class probabilities, the prediction."""
    if scored.problem == "multiclass":
        return np.column_stack([scored.columns[f"probability_{c}"] for c in scored.classes])
    return np.asarray(scored.columns["probability" if scored.problem == "binary" else "prediction"], dtype=float)


def labelled_rows(scorings: list[Scoring], schema: Schema) -> tuple[np.ndarray, np.ndarray] | None:
    """The known targets (as :func:`truth_of` gives them) and the scores (:func:`_scores`) of the scored rows
    that carried one; None when none did."""
    truths, scores = [], []
    for scoring in scorings:
        raw = scoring.scored.truth
        if raw is None and scoring.scored.records is not None and any(schema.target in r
                                                                       for r in scoring.scored.records):
            raw = [r.get(schema.target) for r in scoring.scored.records]
        if raw is None:
            continue
        values, known = truth_of(raw, schema)
        if known.any():
            truths.append(values)
            scores.append(_scores(scoring.scored)[known])
    if not truths:
        return None
    return np.concatenate(truths), np.concatenate(scores)


def realised(scorings: list[Scoring], schema: Schema) -> dict[str, float] | None:
    """``rows`` and the problem's metrics (``automlkit.metrics.problem_metrics``) over the scored rows that
    carried a known target (:func:`labelled_rows`); None when none did. A metric that is undefined (AUC of one
    class) is NaN."""
    labelled = labelled_rows(scorings, schema)
    if labelled is None:
        return None
    from .metrics import problem_metrics  # scikit-learn: imported once there is something to measure

    y, s = labelled
    try:
        if schema.problem == "binary" and y.min() == y.max():
            values = {"auc": float("nan"), "logloss": _binary_logloss(y, s)}
        else:
            values = problem_metrics(schema.problem, y, s, scorings[0].scored.classes or schema.classes or None)
    except ValueError as exc:  # e.g. a multiclass truth the model never saw
        log.warning("realised metrics of %d rows not computed: %s", len(y), exc)
        return {"rows": float(len(y))}
    return {"rows": float(len(y)), **{k: float(v) for k, v in values.items()}}


def _binary_logloss(y: np.ndarray, probability: np.ndarray) -> float:
    """Log loss of rows of a single class (scikit-learn's needs both labels present in some form)."""
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(probability, 1e-15, 1 - 1e-15), labels=[0, 1]))


# ------------------------------------------------------------------------------------------ the store


class MonitoringStore:
    """The monitoring runs of one MLflow tracking server: found or created per (model, version), cached."""

    def __init__(self, client: "MlflowClient", experiment: str):
        self.client = client
        self.experiment = experiment
        self._experiment_id: str | None = None
        self._runs: dict[tuple[str, str], str] = {}

    def experiment_id(self, create: bool = True) -> str | None:
        """The monitoring experiment's id (created when missing and ``create``)."""
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None and create:
                try:
                    self.client.create_experiment(self.experiment, tags={"purpose": "monitoring"})
                except Exception:  # noqa: BLE001 - another process created it first
                    pass
                found = self.client.get_experiment_by_name(self.experiment)
            self._experiment_id = found.experiment_id if found is not None else None
        return self._experiment_id

    def runs(self, model_name: str) -> list:
        """Every monitoring run of ``model_name`` (any version)."""
        experiment = self.experiment_id(create=False)
        if experiment is None:
            return []
        return self.client.search_runs([experiment], filter_string=f"tags.{MODEL_TAG} = {_quoted(model_name)}",
                                       max_results=10_000)

    def run_for(self, scoring: Scoring) -> str:
        """The run of the scoring's key (model, version, role and its other tags), found by its tags or
        created with the version's reference (feature names and training shares), holdout metrics, threshold
        and problem as params."""
        key = scoring.key
        if key not in self._runs:
            experiment = self.experiment_id()
            tags = {MODEL_TAG: scoring.model_name, VERSION_TAG: scoring.version, **scoring.tags}
            found = self.client.search_runs(
                [experiment], max_results=100, order_by=["attributes.start_time ASC"],
                filter_string=" and ".join(f"tags.{k} = {_quoted(v)}" for k, v in tags.items()))
            found = [r for r in found if r.data.tags.get(ROLE_TAG, LIVE) == scoring.role]
            if found:
                self._runs[key] = found[0].info.run_id
            else:
                suffix = "" if scoring.role == LIVE else f" ({scoring.role})"
                run = self.client.create_run(experiment, run_name=f"{scoring.model_name} v{scoring.version}{suffix}",
                                             tags={**tags, ROLE_TAG: scoring.role, "problem": scoring.model.problem})
                self._runs[key] = run.info.run_id
                self.client.log_batch(run.info.run_id, params=scoring.run_params())
        return self._runs[key]

    def write(self, summary: Summary, scoring: Scoring) -> None:
        """Log ``summary`` on its version's run: metrics at the summary's timestamp, in batches of
        :data:`MAX_BATCH_METRICS`."""
        from mlflow.entities import Metric

        run_id = self.run_for(scoring)
        step = summary.timestamp // 1000
        metrics = [Metric(key, float(value), summary.timestamp, step) for key, value in summary.metrics().items()]
        for start in range(0, len(metrics), MAX_BATCH_METRICS):
            self.client.log_batch(run_id, metrics=metrics[start:start + MAX_BATCH_METRICS])


def _quoted(text: str) -> str:
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _params(meta) -> list:
    """A version's run params: per reference feature ``feature.<i>`` (its name) and ``reference.<i>`` (its
    bins' training shares, JSON), ``holdout.<metric>``, ``threshold``."""
    from mlflow.entities import Param

    params = []
    for i, reference in enumerate(meta.schema.drift_reference):
        params.append(Param(f"feature.{i}", reference.column))
        params.append(Param(f"reference.{i}", json.dumps([round(s, 8) for s in reference.shares])))
    for name, value in (meta.holdout_metrics or {}).items():
        if isinstance(value, (int, float)) and math.isfinite(value):
            params.append(Param(f"holdout.{metric_key_part(name)}", repr(float(value))))
    if meta.threshold is not None:
        params.append(Param("threshold", repr(float(meta.threshold))))
    return params


# ------------------------------------------------------------------------------------------ recorder


class MonitoringRecorder:
    """A bounded queue of scorings and the daemon thread that summarises and writes them.

    ``record`` never blocks and never raises: a full queue drops the scoring (counted in ``dropped``). A
    flush that fails (tracking server down) logs a warning, counts ``errors`` and keeps its summaries for the
    next flush; when more than ``queue_size`` scorings wait unwritten that way, the oldest summaries are
    dropped (counted in ``dropped``). ``written`` counts the scorings whose summaries MLflow acknowledged.
    """

    def __init__(self, store: MonitoringStore | None, queue_size: int, flush_seconds: float, enabled: bool = True):
        self.store = store
        self.enabled = enabled and store is not None
        self.queue_size = queue_size
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue[Scoring] = queue.Queue(maxsize=queue_size)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._queued_rows = 0
        self._unwritten: list[tuple[Summary, Scoring]] = []
        self._thread: threading.Thread | None = None
        self.written = self.dropped = self.errors = self.summaries_written = 0

    @classmethod
    def from_settings(cls, settings: "CommonSettings", client: "MlflowClient | None" = None) -> "MonitoringRecorder":
        """A recorder writing to ``settings``' tracking store (disabled when ``MONITORING=0``)."""
        if not settings.monitoring:
            return cls(None, settings.monitoring_queue_size, settings.monitoring_flush_seconds, enabled=False)
        from mlflow import MlflowClient

        client = client or MlflowClient(tracking_uri=settings.tracking_uri)
        return cls(MonitoringStore(client, settings.monitoring_experiment), settings.monitoring_queue_size,
                   settings.monitoring_flush_seconds)

    # the request path --------------------------------------------------------------------------------

    def record(self, model_name: str, version: str, model: "ScoringModel", scored: "Scored",
               role: str = LIVE) -> bool:
        """Queue one scoring (``role`` ``shadow``: a challenger's); False when it was dropped (queue full) or
        recording is off."""
        return self.submit(Scoring(model_name, version, model, scored, time.time(), role), len(scored.rank_by))

    def submit(self, scoring: Scoring, rows: int) -> bool:
        """Queue a :class:`Scoring` (or another item with its key, ``summary_of`` and ``run_params``, such as
        ``automlkit.shadow.Comparison``) of ``rows`` rows; False when dropped or recording is off."""
        if not self.enabled:
            return False
        try:
            self._queue.put_nowait(scoring)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        with self._lock:
            self._queued_rows += rows
            wake = self._queued_rows >= MAX_PENDING_ROWS or self._queue.qsize() * 2 >= self.queue_size
        if wake:
            self._wake.set()
        return True

    # the thread --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flushing thread (nothing when recording is off)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="monitoring-recorder", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what is queued (within ``timeout`` seconds) and stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("monitoring: the last flush did not finish within %.0f s; %d scorings not written",
                            timeout, self.pending)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Summarise what is queued and write every unwritten summary; returns the scorings written."""
        drained: list[Scoring] = []
        while True:
            try:
                drained.append(self._queue.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            self._queued_rows = 0
        groups: dict[tuple, list[Scoring]] = {}
        for scoring in drained:
            groups.setdefault(scoring.key, []).append(scoring)
        for scorings in groups.values():
            try:
                self._unwritten.append((scorings[0].summary_of(scorings), scorings[0]))
            except Exception:  # noqa: BLE001 - a summary that cannot be made must not stop the recorder
                log.exception("monitoring: %d scorings of %s v%s could not be summarised", len(scorings),
                              scorings[0].model_name, scorings[0].version)
                with self._lock:
                    self.dropped += len(scorings)
        written = 0
        while self._unwritten:
            summary, scoring = self._unwritten[0]
            try:
                self.store.write(summary, scoring)
            except Exception as exc:  # noqa: BLE001 - tracking store down: keep it for the next flush
                with self._lock:
                    self.errors += 1
                log.warning("monitoring: cannot write to the tracking store (%s); %d summaries kept for the next "
                            "flush", exc, len(self._unwritten))
                self._shed()
                break
            self._unwritten.pop(0)
            written += summary.scorings
            with self._lock:
                self.written += summary.scorings
                self.summaries_written += 1
        return written

    def _shed(self) -> None:
        """Drop the oldest unwritten summaries while more than ``queue_size`` scorings wait in them."""
        while len(self._unwritten) > 1 and sum(s.scorings for s, _ in self._unwritten) > self.queue_size:
            summary, _ = self._unwritten.pop(0)
            with self._lock:
                self.dropped += summary.scorings

    @property
    def pending(self) -> int:
        """Scorings queued or summarised but not written yet."""
        return self._queue.qsize() + sum(s.scorings for s, _ in list(self._unwritten))

    def state(self) -> dict[str, Any]:
        """What ``GET /monitoring`` says of the recorder."""
        return {"enabled": self.enabled, "queue_size": self.queue_size, "flush_seconds": self.flush_seconds,
                "pending": self.pending, "written": self.written, "dropped": self.dropped, "errors": self.errors,
                "summaries_written": self.summaries_written}


# ------------------------------------------------------------------------------------------ reading


@dataclass
class VersionHistory:
    """Every summary of one version, read back: a frame with one row per summary (``time`` in ms and the
    metric keys as columns), and the version's reference and holdout metrics from its run's params."""

    version: str
    frame: pd.DataFrame
    features: list[str]
    shares: list[np.ndarray]
    holdout: dict[str, float]
    threshold: float | None
    problem: str
    #: ``live``, ``shadow`` or ``comparison`` (:data:`ROLE_TAG`)
    role: str = LIVE
    #: the run's tags (a comparison's ``champion_version``)
    tags: dict = field(default_factory=dict)


def load_history(client: "MlflowClient", experiment: str, model_name: str) -> list[VersionHistory]:
    """Every monitoring summary of ``model_name`` in ``experiment``, per version and role (several runs of a
    version and role, from processes that created them at once, are merged)."""
    runs = MonitoringStore(client, experiment).runs(model_name)
    keys = [(run, key) for run in runs for key in run.data.metrics]
    with ThreadPoolExecutor(READ_THREADS) as pool:
        histories = list(pool.map(lambda rk: client.get_metric_history(rk[0].info.run_id, rk[1]), keys))

    def which(run) -> tuple:
        tags = run.data.tags
        return (tags.get(VERSION_TAG, "?"), tags.get(ROLE_TAG, LIVE), tags.get("champion_version", ""))

    points: dict[tuple, list[tuple[int, str, float]]] = {}
    params: dict[tuple, dict] = {}
    problems: dict[tuple, str] = {}
    for (run, key), history in zip(keys, histories):
        points.setdefault(which(run), []).extend((m.timestamp, key, m.value) for m in history)
    for run in runs:
        params.setdefault(which(run), {}).update(run.data.params)
        problems.setdefault(which(run), run.data.tags.get("problem", "binary"))
    out = []
    for (version, role, champion), p in params.items():
        rows = points.get((version, role, champion), [])
        frame = (pd.DataFrame(rows, columns=["time", "key", "value"])
                 .pivot_table(index="time", columns="key", values="value", aggfunc=_same_time)
                 if rows else pd.DataFrame())
        frame = frame.reset_index() if len(frame) else pd.DataFrame({"time": pd.Series(dtype="int64")})
        count = len({k.split(".")[1] for k in p if k.startswith("feature.")})
        features = [p.get(f"feature.{i}", str(i)) for i in range(count)]
        shares = [np.asarray(json.loads(p.get(f"reference.{i}", "[]")), dtype=float) for i in range(count)]
        holdout = {k.split(".", 1)[1]: float(v) for k, v in p.items() if k.startswith("holdout.")}
        threshold = float(p["threshold"]) if "threshold" in p else None
        out.append(VersionHistory(version, frame, features, shares, holdout, threshold,
                                  problems[(version, role, champion)], role,
                                  {"champion_version": champion} if champion else {}))
    return sorted(out, key=lambda h: (_version_order(h.version), h.role != LIVE, h.role, h.tags.get("champion_version", "")))


def _same_time(values: pd.Series) -> float:
    """Two summaries of one version logged in the same millisecond (two processes): their values summed (the
    counts are right; a decile is then off, which is rare enough to accept)."""
    return float(values.sum()) if len(values) > 1 else float(values.iloc[0])


def _version_order(version: str) -> tuple:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _iso(millis: float) -> str:
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def _sum(frame: pd.DataFrame, key: str) -> float:
    return float(frame[key].fillna(0).sum()) if key in frame else 0.0


def _weighted(frame: pd.DataFrame, key: str, weight: str) -> float | None:
    """The ``weight``-weighted mean of ``key`` over the summaries that have it (None when none has)."""
    if key not in frame or weight not in frame:
        return None
    have = frame[[key, weight]].dropna()
    have = have[have[weight] > 0]
    if have.empty:
        return None
    return float(np.average(have[key], weights=have[weight]))


def aggregate(history: VersionHistory, frame: pd.DataFrame) -> dict[str, Any]:
    """Rows, score deciles, share above the threshold, per-feature PSI and realised metrics of the summaries
    in ``frame`` (a slice of ``history.frame``).

    Counts (rows, bins, realised rows) are summed; PSI is computed from the summed bin counts against the
    training shares; deciles, the share above the threshold and the realised metrics are rows-weighted means
    of the summaries' (exact for the share and log loss, an approximation for deciles and AUC)."""
    rows = _sum(frame, "rows")
    deciles = [_weighted(frame, key, "rows") for key in DECILE_KEYS]
    psi_values = {}
    for i, (name, shares) in enumerate(zip(history.features, history.shares)):
        counts = np.array([_sum(frame, f"bins.{i}.{k}") for k in range(len(shares))])
        if counts.sum() > 0:
            psi_values[name] = round(psi(shares, counts / counts.sum()), 6)
    realised_rows = _sum(frame, "realised_rows")
    realised_out = None
    if realised_rows > 0:
        realised_out = {"rows": int(realised_rows)}
        for metric in METRIC_DIRECTIONS.get(history.problem, {}):
            value = _weighted(frame, f"realised_{metric}", "realised_rows")
            if value is not None:
                realised_out[metric] = value
    return {"rows": int(rows), "summaries": int(len(frame)), "scorings": int(_sum(frame, "scorings")),
            "score_deciles": [d for d in deciles if d is not None] if all(d is not None for d in deciles) else [],
            "share_above_threshold": _weighted(frame, "share_above_threshold", "rows"),
            "psi": psi_values, "drifted": sorted(n for n, v in psi_values.items() if v > PSI_ALERT),
            "realised": realised_out, "estimated": estimation.period_estimate(frame, history.problem, realised_out)}


def period_start(moment: datetime, every: str) -> datetime:
    """The start of the hour or UTC day ``moment`` falls in."""
    moment = moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if every == "day" else moment


def alerts(histories: list[VersionHistory], version: str | None, window_seconds: float, auc_margin: float,
           min_realised_rows: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The alerts of ``version`` (default the newest version with summaries) over the last ``window_seconds``:
    a feature whose PSI of the window's summed bin counts passes :data:`PSI_ALERT`, and the realised decision
    metric (binary: AUC) worse than the holdout figure by more than ``auc_margin`` (with at least
    ``min_realised_rows`` labelled rows). Each carries ``at``: the newest summary it stands on."""
    now = now or datetime.now(timezone.utc)
    histories = [h for h in histories if h.role == LIVE]  # a challenger's shadow figures raise no alert
    by_version = {h.version: h for h in histories}
    if version is None:
        scored = [h for h in histories if len(h.frame)]
        version = scored[-1].version if scored else None
    history = by_version.get(version)
    if history is None or not len(history.frame):
        return []
    start = (now - timedelta(seconds=window_seconds)).timestamp() * 1000
    frame = history.frame[history.frame["time"] >= start]
    if frame.empty:
        return []
    at = _iso(frame["time"].max())
    window = _iso(start)
    summary = aggregate(history, frame)
    out = []
    for feature in summary["drifted"]:
        value = summary["psi"][feature]
        out.append({"kind": "drift", "version": version, "feature": feature, "psi": value, "since": window, "at": at,
                    "message": f"{feature} drifted: PSI {value:.3f} over the scorings since {window} "
                               f"(alert above {PSI_ALERT:g})"})
    metric = "auc" if history.problem == "binary" else DECISION_METRIC.get(history.problem, "")
    realised_summary = summary["realised"] or {}
    value, holdout = realised_summary.get(metric), history.holdout.get(metric)
    if value is not None and holdout is not None and realised_summary.get("rows", 0) >= min_realised_rows:
        larger_is_better = METRIC_DIRECTIONS.get(history.problem, {}).get(metric, True)
        worse = value < holdout - auc_margin if larger_is_better else value > holdout + auc_margin
        if worse:
            out.append({"kind": "performance", "version": version, "metric": metric, "realised": value,
                        "holdout": holdout, "rows": realised_summary["rows"], "since": window, "at": at,
                        "message": f"realised {metric} {value:.4f} on {realised_summary['rows']:,} labelled rows "
                                   f"since {window} is worse than the holdout {holdout:.4f} by more than "
                                   f"{auc_margin:g}"})
    return out


def report(histories: list[VersionHistory], model_name: str, since: datetime, every: str,
           serving_version: str | None, settings: "CommonSettings", recorder: dict | None = None,
           now: datetime | None = None, shadow: dict | None = None) -> dict[str, Any]:
    """The answer of ``GET /monitoring``: per version (and role: ``live``, or ``shadow`` for a challenger's
    scorings) and per ``every`` (day or hour) since ``since``, rows, score deciles, per-feature PSI, drifted
    features and realised metrics; the versions (first and last scored, holdout metrics), the alerts of the
    serving version, and champion vs challenger per period (``automlkit.shadow.comparison_periods``)."""
    from .shadow import comparison_periods

    if every not in PERIODS:
        raise ValueError(f"every must be one of {', '.join(PERIODS)}, not {every!r}")
    since = since.astimezone(timezone.utc) if since.tzinfo else since.replace(tzinfo=timezone.utc)
    start_ms = since.timestamp() * 1000
    versions, periods = [], []
    for history in histories:
        if history.role not in (LIVE, "shadow"):
            continue  # comparisons: below
        serving = history.version == serving_version and history.role == LIVE
        frame = history.frame[history.frame["time"] >= start_ms] if len(history.frame) else history.frame
        if frame.empty and not serving:
            continue
        versions.append({"version": history.version,
                         "first_scored": _iso(frame["time"].min()) if len(frame) else None,
                         "last_scored": _iso(frame["time"].max()) if len(frame) else None,
                         "rows": int(_sum(frame, "rows")), "holdout_metrics": history.holdout,
                         "threshold": history.threshold, "problem": history.problem,
                         "serving": serving, "role": history.role})
        if frame.empty:
            continue
        starts = [period_start(datetime.fromtimestamp(t / 1000, tz=timezone.utc), every) for t in frame["time"]]
        for start, part in frame.groupby(pd.Series(starts, index=frame.index), sort=True):
            start = start.to_pydatetime() if hasattr(start, "to_pydatetime") else start
            periods.append({"start": start.isoformat(), "end": (start + PERIODS[every]).isoformat(),
                            "version": history.version, "role": history.role, **aggregate(history, part)})
    versions.sort(key=lambda v: (v["first_scored"] is None, v["first_scored"] or "", _version_order(v["version"]),
                                 v["role"] != LIVE))
    periods.sort(key=lambda p: (p["start"], _version_order(p["version"]), p["role"] != LIVE))
    return {"model": model_name, "since": since.isoformat(), "every": every, "psi_alert": PSI_ALERT,
            "auc_margin": settings.monitoring_auc_margin,
            "alert_window_seconds": settings.monitoring_alert_window,
            "recorder": recorder or {"enabled": False, "queue_size": 0, "pending": 0, "written": 0, "dropped": 0,
                                     "errors": 0},
            "versions": versions, "periods": periods,
            "alerts": alerts(histories, serving_version, settings.monitoring_alert_window,
                             settings.monitoring_auc_margin, settings.monitoring_min_realised_rows, now),
            "shadow": shadow, "comparisons": comparison_periods(histories, since, every)}


class HistoryCache:
    """:func:`load_history` answers kept for ``seconds`` (the API's ``GET /monitoring``)."""

    def __init__(self, client: "MlflowClient", experiment: str, seconds: float):
        self.client, self.experiment, self.seconds = client, experiment, seconds
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, list[VersionHistory]]] = {}

    def get(self, model_name: str) -> list[VersionHistory]:
        """The history of ``model_name``, read again when older than ``seconds``."""
        with self._lock:
            hit = self._cached.get(model_name)
            if hit is not None and time.monotonic() - hit[0] < self.seconds:
                return hit[1]
            histories = load_history(self.client, self.experiment, model_name)
            self._cached[model_name] = (time.monotonic(), histories)
            return histories
