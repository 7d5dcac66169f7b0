"""Shadow scoring: the challenger scores a share of the champion's traffic off the request path, and the two
are compared per period.

**Scoring.** The request path hands :meth:`ShadowScorer.submit` the champion's :class:`~automlkit.scoring.Scored`
(which keeps the input as received: the JSON records or the CSV text) with the loaded challenger; that is one
``put_nowait`` on a bounded queue (``SHADOW_QUEUE_SIZE`` scorings, at most :data:`MAX_PENDING_ROWS` rows).
A full queue skips the scoring and counts its rows; the answer never waits. A daemon thread (at a lower CPU
priority where the system allows it) yields to the requests: before each scoring it waits until the service
is idle (no batch being scored, no answer in the last :data:`IDLE_SECONDS`), for at most
:data:`MAX_DEFER_SECONDS`, so under a saturating load it takes at most one scoring per that time. It draws a ``SHADOW_SHARE`` of each scoring's rows, scores them with the
challenger from the raw input (its own data contract: the challenger may use other features), and hands the
monitoring recorder two items: the challenger's scoring tagged ``shadow`` (summarised like the champion's:
deciles, drift, realised metrics) and a :class:`Comparison` of the two models on the same rows.

**The comparison** of one flush (:func:`summarise_comparisons`): rows, labels agreeing (each model at its own
threshold; multiclass the predicted class; regression has none), binary positives of each and of both (the
decisions that would change, both ways), Spearman's rank correlation of the scores (``rank_by``: binary the
positive probability) over the flush's rows, and realised metrics of both models on the shadowed rows that
carried the target. Per period (:func:`comparison_periods`) counts are summed and Spearman and the realised
metrics are rows-weighted means of the flushes' figures (exact for the counts; an approximation for Spearman
and AUC, as for the champion's realised AUC).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np
import pandas as pd

from .monitoring import PERIODS, Scoring, _iso, _sum, _weighted, period_start, realised
from .problems import METRIC_DIRECTIONS
from .schema import parse_csv

if TYPE_CHECKING:
    from .monitoring import MonitoringRecorder, VersionHistory
    from .scoring import Scored, ScoringModel
    from .settings import ApiSettings

log = logging.getLogger(__name__)

#: The roles of monitoring runs this module writes (``automlkit.monitoring.ROLE_TAG``).
SHADOW, COMPARISON = "shadow", "comparison"
#: Rows waiting for the challenger past which a scoring is skipped (bounds the memory the inputs hold).
MAX_PENDING_ROWS = 500_000
#: The niceness of the shadow thread (Linux: per thread), so the request path gets the CPU first.
NICENESS = 10
#: The shadow thread scores when no answer was given for this long (and no batch is being scored) ...
IDLE_SECONDS = 0.005
#: ... or once it waited this long for such a moment.
MAX_DEFER_SECONDS = 2.0


class Loaded(Protocol):
    """A loaded model version (the API's ``ServedModel``)."""

    version: str
    model: "ScoringModel"


# ------------------------------------------------------------------------------------------ rows


def sample_rows(rows: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """The positions of the rows the challenger scores: all of them at share 1, else each with ``share``."""
    if share >= 1.0:
        return np.arange(rows)
    return np.flatnonzero(rng.random(rows) < share)


def take(scored: "Scored", rows: np.ndarray) -> "Scored":
    """The champion's answers of the rows at ``rows`` (no rescoring), with their input and target."""
    from .scoring import Scored

    truth = scored.truth.iloc[rows].reset_index(drop=True) if scored.truth is not None else None
    return Scored({k: np.asarray(v)[rows] for k, v in scored.columns.items()},
                  [scored.ids[i] for i in rows] if scored.ids is not None else None, [],
                  rank_by=np.asarray(scored.rank_by)[rows], problem=scored.problem, classes=scored.classes,
                  records=[scored.records[i] for i in rows] if scored.records is not None else None, truth=truth)


def rescore(model: "ScoringModel", scored: "Scored", rows: np.ndarray) -> "Scored":
    """The rows at ``rows`` of the input ``scored`` was made from, scored by ``model`` from the raw input (JSON
    records, or the CSV text parsed with ``model``'s own numeric columns)."""
    if scored.records is not None:
        return model.score_records([scored.records[i] for i in rows])
    if scored.text is not None:
        numeric = [c.name for c in model.schema.columns if c.kind == "numeric"]
        frame = parse_csv(scored.text, None, numeric=numeric)
        return model.score_frame(frame.iloc[rows].reset_index(drop=True))
    raise ValueError("the scoring kept no input (records or CSV text) to score again")


# ------------------------------------------------------------------------------------------ comparison


@dataclass
class Comparison:
    """The champion's and the challenger's answers of the same rows, queued on the monitoring recorder (the
    interface of :class:`automlkit.monitoring.Scoring`: key, ``summary_of``, ``run_params``)."""

    model_name: str
    #: the challenger's version and model (the run is the challenger's, tagged with the champion's version)
    version: str
    model: "ScoringModel"
    champion_version: str
    champion_model: "ScoringModel"
    champion: "Scored"
    challenger: "Scored"
    at: float
    role: str = COMPARISON

    @property
    def tags(self) -> dict[str, str]:
        """The champion's version, beside model, version and role."""
        return {"champion_version": self.champion_version}

    @property
    def key(self) -> tuple:
        """What the recorder groups by and the store finds a run by."""
        return (self.model_name, self.version, self.role, *sorted(self.tags.items()))

    def summary_of(self, comparisons: list["Comparison"]) -> "ComparisonSummary":
        """The summary of a flush's comparisons of this pair."""
        return summarise_comparisons(comparisons)

    def run_params(self) -> list:
        """Both thresholds (``threshold``: the challenger's, ``champion_threshold``)."""
        from mlflow.entities import Param

        params = []
        for name, threshold in (("threshold", self.model.meta.threshold),
                                ("champion_threshold", self.champion_model.meta.threshold)):
            if threshold is not None:
                params.append(Param(name, repr(float(threshold))))
        return params


@dataclass
class ComparisonSummary:
    """What one flush's comparisons of a (champion, challenger) pair add up to: counts and figures."""

    model_name: str
    version: str
    timestamp: int
    scorings: int
    figures: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """As MLflow metric keys (the finite figures)."""
        return {"scorings": float(self.scorings),
                **{k: float(v) for k, v in self.figures.items() if v is not None and math.isfinite(v)}}


def spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Spearman's rank correlation of ``a`` and ``b`` over the rows where both are numbers (average ranks for
    ties), and how many rows that is; NaN when fewer than two rows or a constant side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = ~(np.isnan(a) | np.isnan(b))
    if both.sum() < 2:
        return float("nan"), int(both.sum())
    ranks_a, ranks_b = pd.Series(a[both]).rank(), pd.Series(b[both]).rank()
    if ranks_a.std() == 0 or ranks_b.std() == 0:
        return float("nan"), int(both.sum())
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1]), int(both.sum())


def compare(champion: "Scored", challenger: "Scored") -> dict[str, float]:
    """The figures of two models' answers of the same rows (see the module's docstring): ``rows``, ``agree``,
    binary ``champion_positive``, ``challenger_positive``, ``both_positive``, ``spearman`` and ``spearman_rows``."""
    rows = len(champion.rank_by)
    if len(challenger.rank_by) != rows:
        raise ValueError(f"the champion answered {rows} rows, the challenger {len(challenger.rank_by)}")
    out: dict[str, float] = {"rows": float(rows)}
    if champion.problem != "regression" and "label" in champion.columns and "label" in challenger.columns:
        ours, theirs = np.asarray(champion.columns["label"]), np.asarray(challenger.columns["label"])
        if champion.problem == "binary":
            ours, theirs = ours.astype(int), theirs.astype(int)
            out["champion_positive"] = float((ours == 1).sum())
            out["challenger_positive"] = float((theirs == 1).sum())
            out["both_positive"] = float(((ours == 1) & (theirs == 1)).sum())
        else:
            ours, theirs = ours.astype(str), theirs.astype(str)
        out["agree"] = float((ours == theirs).sum())
    value, paired = spearman(champion.rank_by, challenger.rank_by)
    out["spearman"], out["spearman_rows"] = value, float(paired)
    return out


def summarise_comparisons(comparisons: list[Comparison]) -> ComparisonSummary:
    """One :class:`ComparisonSummary` of a flush's comparisons of the same pair (the recorder's thread calls
    this): :func:`compare` over all their rows, and both models' realised metrics on those that carried the
    target (``realised_rows``, ``champion_realised_<metric>``, ``challenger_realised_<metric>``)."""
    from .scoring import Scored

    first = comparisons[0]

    def joined(side: str) -> "Scored":
        parts = [getattr(c, side) for c in comparisons]
        return Scored({k: np.concatenate([np.asarray(p.columns[k]) for p in parts]) for k in parts[0].columns},
                      None, [], rank_by=np.concatenate([np.asarray(p.rank_by, dtype=float) for p in parts]),
                      problem=parts[0].problem, classes=parts[0].classes)

    figures = compare(joined("champion"), joined("challenger"))
    champion = realised([Scoring(c.model_name, c.champion_version, c.champion_model, c.champion, c.at)
                         for c in comparisons], first.champion_model.schema)
    challenger = realised([Scoring(c.model_name, c.version, c.model, c.challenger, c.at) for c in comparisons],
                          first.model.schema)
    if champion and challenger:
        figures["realised_rows"] = champion["rows"]
        figures.update({f"champion_realised_{k}": v for k, v in champion.items() if k != "rows"})
        figures.update({f"challenger_realised_{k}": v for k, v in challenger.items() if k != "rows"})
    return ComparisonSummary(first.model_name, first.version, int(min(c.at for c in comparisons) * 1000),
                             len(comparisons), figures)


def pair_figures(frame: pd.DataFrame, problem: str) -> dict[str, Any]:
    """The comparison summaries in ``frame`` (a slice of a comparison run's history) added up: counts summed;
    ``agreement`` and ``decisions_changed`` their shares of the rows; Spearman and the realised metrics
    rows-weighted means of the summaries' (``spearman_rows``, ``realised_rows``)."""
    rows = _sum(frame, "rows")
    out: dict[str, Any] = {"rows": int(rows), "summaries": int(len(frame)), "scorings": int(_sum(frame, "scorings")),
                           "agreement": None, "decisions_changed": None, "newly_positive": None,
                           "newly_negative": None, "spearman": _weighted(frame, "spearman", "spearman_rows"),
                           "realised": None}
    if "agree" in frame and rows:
        agree = _sum(frame, "agree")
        out["agreement"] = agree / rows
        out["decisions_changed"] = 1.0 - agree / rows
    if "both_positive" in frame:
        both = _sum(frame, "both_positive")
        out["newly_positive"] = int(_sum(frame, "challenger_positive") - both)
        out["newly_negative"] = int(_sum(frame, "champion_positive") - both)
    labelled = _sum(frame, "realised_rows")
    if labelled > 0:
        sides = {side: {m: v for m in METRIC_DIRECTIONS.get(problem, {})
                        if (v := _weighted(frame, f"{side}_realised_{m}", "realised_rows")) is not None}
                 for side in ("champion", "challenger")}
        out["realised"] = {"rows": int(labelled), **sides}
    return out


def comparison_periods(histories: list["VersionHistory"], since: datetime, every: str) -> list[dict[str, Any]]:
    """Per (champion, challenger) pair and per ``every`` since ``since``: :func:`pair_figures` (the
    ``comparisons`` of ``GET /monitoring``), oldest first."""
    start_ms = since.timestamp() * 1000
    out = []
    for history in histories:
        if history.role != COMPARISON or not len(history.frame):
            continue
        frame = history.frame[history.frame["time"] >= start_ms]
        if frame.empty:
            continue
        starts = [period_start(datetime.fromtimestamp(t / 1000, tz=timezone.utc), every) for t in frame["time"]]
        for start, part in frame.groupby(pd.Series(starts, index=frame.index), sort=True):
            start = start.to_pydatetime() if hasattr(start, "to_pydatetime") else start
            out.append({"start": start.isoformat(), "end": (start + PERIODS[every]).isoformat(),
                        "champion_version": history.tags.get("champion_version", ""),
                        "challenger_version": history.version, "first": _iso(part["time"].min()),
                        "last": _iso(part["time"].max()), **pair_figures(part, history.problem)})
    return sorted(out, key=lambda p: (p["start"], p["champion_version"], p["challenger_version"]))


def pair_history(histories: list["VersionHistory"], champion: str, challenger: str) -> "VersionHistory | None":
    """The comparison history of ``challenger`` scored in ``champion``'s shadow, or None."""
    return next((h for h in histories if h.role == COMPARISON and h.version == challenger
                 and h.tags.get("champion_version") == champion), None)


# ------------------------------------------------------------------------------------------ the worker


@dataclass
class ShadowJob:
    """One scoring waiting for the challenger."""

    model_name: str
    champion: Loaded
    challenger: Loaded
    scored: "Scored"
    at: float


class ShadowScorer:
    """The bounded queue of scorings and the daemon thread that scores a share of their rows with the
    challenger and hands both answers to the monitoring recorder.

    ``submit`` never blocks and never raises. Counts (:meth:`state`): ``offered_rows`` (rows of scorings made
    while a challenger was loaded), ``scored_rows``, ``skipped_rows`` (their scoring found the queue full, or
    was still queued at shutdown), ``failed_rows`` (the challenger refused them: its data contract differs)."""

    def __init__(self, recorder: "MonitoringRecorder", share: float, queue_size: int, seed: int | None = None,
                 busy: Callable[[], bool] | None = None):
        self.recorder = recorder
        #: True while the service scores a batch (the API: its batch limiter has a token out)
        self.busy = busy or (lambda: False)
        self._last_submit = 0.0
        self.share = share
        self.enabled = share > 0
        self.queue_size = queue_size
        self._queue: queue.Queue[ShadowJob | None] = queue.Queue(maxsize=queue_size)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending_rows = 0
        self.offered_rows = self.scored_rows = self.skipped_rows = self.failed_rows = self.scorings = 0
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: "ApiSettings", recorder: "MonitoringRecorder",
                      busy: Callable[[], bool] | None = None) -> "ShadowScorer":
        """A shadow scorer of ``SHADOW_SHARE`` of the rows with a queue of ``SHADOW_QUEUE_SIZE`` scorings."""
        return cls(recorder, settings.shadow_share, settings.shadow_queue_size, busy=busy)

    # the request path --------------------------------------------------------------------------------

    def submit(self, model_name: str, champion: Loaded, challenger: Loaded | None, scored: "Scored") -> bool:
        """Queue the champion's scoring for the challenger; False when there is none, shadow scoring is off,
        or the queue is full (the rows are then counted as skipped)."""
        if challenger is None or not self.enabled:
            return False
        rows = len(scored.rank_by)
        self._last_submit = time.monotonic()
        with self._lock:
            self.offered_rows += rows
            full = self._pending_rows + rows > MAX_PENDING_ROWS
            if not full:
                self._pending_rows += rows
        if not full:
            try:
                self._queue.put_nowait(ShadowJob(model_name, champion, challenger, scored, time.time()))
                return True
            except queue.Full:
                pass
        with self._lock:
            self.skipped_rows += rows
            if not full:
                self._pending_rows -= rows
        return False

    # the thread --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the shadow thread (nothing when ``SHADOW_SHARE`` is 0)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="shadow-scorer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the scoring in hand; what is still queued is counted as skipped."""
        self._stop.set()
        if self._thread is not None:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(timeout)
            self._thread = None
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._done(job, skipped=True)

    def _loop(self) -> None:
        try:  # Linux: the thread's own niceness, so scoring requests get the CPU first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        except (AttributeError, OSError):
            pass
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                break
            self.wait_for_idle()
            self.score(job)

    def wait_for_idle(self) -> float:
        """Wait until the service is idle (see the module's docstring), at most :data:`MAX_DEFER_SECONDS`;
        returns the seconds waited."""
        started = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now - started >= MAX_DEFER_SECONDS:
                break
            if now - self._last_submit >= IDLE_SECONDS and not self.busy():
                break
            self._stop.wait(IDLE_SECONDS)
        return time.monotonic() - started

    def score(self, job: ShadowJob) -> int:
        """Score the drawn rows of ``job`` with its challenger and record both answers; returns the rows
        scored (0 when none was drawn or the challenger refused them)."""
        try:
            rows = sample_rows(len(job.scored.rank_by), self.share, self._rng)
            if not len(rows):
                return 0
            theirs = rescore(job.challenger.model, job.scored, rows)
            ours = take(job.scored, rows)
            self.recorder.record(job.model_name, job.challenger.version, job.challenger.model, theirs, role=SHADOW)
            self.recorder.submit(Comparison(job.model_name, job.challenger.version, job.challenger.model,
                                            job.champion.version, job.champion.model, ours, theirs, job.at),
                                 len(rows))
            with self._lock:
                self.scored_rows += len(rows)
                self.scorings += 1
            return len(rows)
        except Exception as exc:  # noqa: BLE001 - the challenger must never take the service down
            log.warning("shadow: challenger v%s could not score %d rows: %s", job.challenger.version,
                        len(job.scored.rank_by), exc)
            with self._lock:
                self.failed_rows += len(job.scored.rank_by)
                self.last_error = str(exc)[:500]
            return 0
        finally:
            self._done(job)

    def _done(self, job: ShadowJob, skipped: bool = False) -> None:
        with self._lock:
            self._pending_rows -= len(job.scored.rank_by)
            if skipped:
                self.skipped_rows += len(job.scored.rank_by)

    def state(self, challenger: str | None = None) -> dict[str, Any]:
        """What ``GET /monitoring`` says of shadow scoring (``challenger``: the version loaded now)."""
        with self._lock:
            return {"enabled": self.enabled, "share": self.share, "queue_size": self.queue_size,
                    "challenger_version": challenger, "pending": self._queue.qsize(),
                    "offered_rows": self.offered_rows, "scored_rows": self.scored_rows,
                    "skipped_rows": self.skipped_rows, "failed_rows": self.failed_rows,
                    "last_error": self.last_error}
