"""Promotion on evidence: ``automl promote`` moves the champion alias to the challenger only when live traffic
says it is not worse.

The evidence is what shadow scoring recorded (``automlkit.shadow``): the comparison of the challenger with
the current champion on the same rows. The challenger must have scored at least ``PROMOTE_MIN_ROWS`` rows,
and its realised decision metric (the one its training decided on: binary AUC, multiclass log loss,
regression RMSE, or the run's own sort metric) must not be worse than the champion's by more than the noise
band training used (``registry.within_noise``): the ``decision_tolerance`` its training run logged, one
bootstrap standard error of the holdout metric (else the champion's run's; else none, and then it must be
strictly not worse). Without labelled rows there is no realised figure: binary models are then judged on their
estimated AUC (:func:`estimated_figures`: each version's calibration map, CBPE, on the shadowed traffic); where
nothing is estimated (multiclass, regression, a version without a map) the promotion is refused, saying so.

Every decision is an MLflow run in ``PROMOTION_EXPERIMENT`` (metrics ``promoted``, the rows, both figures and
the band; tags ``decision`` with the reason, ``alias``, ``model_version``, ``champion_version``), and the
reason becomes the challenger version's ``decision`` tag, as training logs its own decisions.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass

from .problems import DECISION_METRIC, METRIC_DIRECTIONS
from .registry import alias_version, within_noise
from .settings import TrainingSettings

log = logging.getLogger(__name__)

#: Exit codes of ``automl promote``: promoted, refused (the evidence does not allow it).
PROMOTED, REFUSED = 0, 1


@dataclass
class Evidence:
    """What live traffic says of the challenger against the champion (on the same rows)."""

    model_name: str
    champion_version: str
    challenger_version: str
    problem: str
    metric: str
    higher_is_better: bool
    rows: int
    labelled_rows: int
    champion_value: float | None
    challenger_value: float | None
    tolerance: float
    tolerance_source: str
    #: ``realised`` (labelled rows) or ``estimated`` (:func:`estimated_figures`)
    source: str = "realised"


@dataclass
class PromotionDecision:
    """The outcome and why; ``kind`` is ``promoted``, ``too_few_rows``, ``needs_estimate``, ``worse`` or
    ``no_challenger``."""

    promoted: bool
    kind: str
    reason: str
    evidence: Evidence | None = None
    min_rows: int = 0

    def as_metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics of the decision's run."""
        out = {"promoted": float(self.promoted), "min_rows": float(self.min_rows)}
        e = self.evidence
        if e is not None:
            out.update({"live_rows": float(e.rows), "labelled_rows": float(e.labelled_rows),
                        "decision_tolerance": e.tolerance})
            if e.champion_value is not None:
                out[f"champion_{e.source}_{e.metric}"] = e.champion_value
            if e.challenger_value is not None:
                out[f"challenger_{e.source}_{e.metric}"] = e.challenger_value
        return out


def decision_metric(client, run_id: str | None, problem: str) -> str:
    """The metric the version's training decided on (its run's ``new_holdout_<metric>``), else the problem's."""
    metrics = _run_metrics(client, run_id)
    for name in METRIC_DIRECTIONS.get(problem, {}):
        if f"new_holdout_{name}" in metrics:
            return name
    return DECISION_METRIC.get(problem, "auc")


def _run_metrics(client, run_id: str | None) -> dict[str, float]:
    if not run_id:
        return {}
    try:
        return dict(client.get_run(run_id).data.metrics)
    except Exception:  # noqa: BLE001 - a deleted run: no figures
        return {}


def noise_band(client, challenger_run: str | None, champion_run: str | None) -> tuple[float, str]:
    """The band training used (its ``decision_tolerance``): the challenger's run's, else the champion's,
    else 0; and where it came from."""
    for who, run_id in (("the challenger's", challenger_run), ("the champion's", champion_run)):
        value = _run_metrics(client, run_id).get("decision_tolerance")
        if value is not None:
            return float(value), f"{who} training run"
    return 0.0, "no training run logged one"


def estimated_pair(histories: list, champion: str, challenger: str, problem: str,
                   metric: str) -> tuple[float, float] | None:
    """The champion's and the challenger's estimated ``metric`` on the same traffic, from the monitoring
    ``histories``: the challenger's shadow summaries, and the champion's live ones since the first of them, each
    estimated from its own version's calibration map (``automlkit.estimation``, CBPE). None where nothing is
    estimated: a metric CBPE does not give (it gives binary AUC; multiclass accuracy is not a decision metric
    here), no shadow summaries, a version without a map."""
    from .estimation import period_estimate
    from .monitoring import LIVE
    from .shadow import SHADOW

    if problem != "binary" or metric != "auc":
        return None
    shadow = next((h for h in histories if h.role == SHADOW and h.version == challenger), None)
    live = next((h for h in histories if h.role == LIVE and h.version == champion), None)
    if shadow is None or live is None or not len(shadow.frame) or not len(live.frame):
        return None
    since = shadow.frame["time"].min()
    theirs = period_estimate(shadow.frame, problem)
    ours = period_estimate(live.frame[live.frame["time"] >= since], problem)
    if not (ours.get("available") and theirs.get("available")) or None in (ours.get(metric), theirs.get(metric)):
        return None
    return ours[metric], theirs[metric]


def estimated_figures(client, settings: TrainingSettings, evidence: Evidence) -> tuple[float, float] | None:
    """The champion's and the challenger's estimated ``evidence.metric`` on the shadowed traffic
    (:func:`estimated_pair` of the monitoring store's histories), or None while none is available."""
    from . import monitoring

    histories = monitoring.load_history(client, settings.monitoring_experiment, evidence.model_name)
    return estimated_pair(histories, evidence.champion_version, evidence.challenger_version, evidence.problem,
                          evidence.metric)


def gather(client, settings: TrainingSettings, model_name: str) -> Evidence | PromotionDecision:
    """The evidence for ``model_name``'s challenger against its champion, read from the monitoring store; a
    refusal when there is no champion or no challenger."""
    from . import monitoring
    from .shadow import pair_figures, pair_history

    champion = alias_version(client, model_name, settings.champion_alias)
    challenger = alias_version(client, model_name, settings.challenger_alias)
    if champion is None or challenger is None or champion == challenger:
        what = ("no champion" if champion is None else "no challenger" if challenger is None
                else f"the challenger is the champion (v{champion})")
        return PromotionDecision(False, "no_challenger", f"{model_name}: nothing to promote: {what}")
    champion_mv = client.get_model_version(model_name, champion)
    challenger_mv = client.get_model_version(model_name, challenger)
    histories = monitoring.load_history(client, settings.monitoring_experiment, model_name)
    history = pair_history(histories, champion, challenger)
    problem = history.problem if history is not None else "binary"
    metric = decision_metric(client, challenger_mv.run_id, problem)
    tolerance, source = noise_band(client, challenger_mv.run_id, champion_mv.run_id)
    figures = pair_figures(history.frame, problem) if history is not None else {"rows": 0, "realised": None}
    realised = figures.get("realised") or {}
    return Evidence(model_name, champion, challenger, problem, metric,
                    METRIC_DIRECTIONS.get(problem, {}).get(metric, True), int(figures["rows"]),
                    int(realised.get("rows", 0)), (realised.get("champion") or {}).get(metric),
                    (realised.get("challenger") or {}).get(metric), tolerance, source)


def decide(evidence: Evidence, min_rows: int) -> PromotionDecision:
    """Whether the evidence moves the alias (see the module's docstring), and why."""
    e = evidence
    pair = f"challenger v{e.challenger_version} against champion v{e.champion_version}"
    if e.rows < min_rows:
        return PromotionDecision(False, "too_few_rows", f"{pair}: it scored {e.rows:,} live rows in the shadow, "
                                 f"fewer than the {min_rows:,} required (PROMOTE_MIN_ROWS)", e, min_rows)
    if e.champion_value is None or e.challenger_value is None:
        return PromotionDecision(False, "needs_estimate", (
            f"{pair}: none of its {e.rows:,} shadowed rows carries a label, so there is no realised {e.metric}; "
            "an estimated metric is needed, and none is available: send labelled rows"), e, min_rows)
    rows = (f"{e.labelled_rows:,} labelled rows of {e.rows:,}" if e.source == "realised"
            else f"{e.rows:,} shadowed rows without labels (CBPE)")
    figures = (f"{e.source} {e.metric} {e.challenger_value:.5f} vs {e.champion_value:.5f} on {rows}, noise band "
               f"{e.tolerance:.5f} from {e.tolerance_source}")
    if within_noise(e.challenger_value, e.champion_value, e.higher_is_better, e.tolerance):
        return PromotionDecision(True, "promoted", f"{pair}: not worse beyond noise ({figures}): promoted", e,
                                 min_rows)
    return PromotionDecision(False, "worse", f"{pair}: worse beyond noise ({figures}): refused", e, min_rows)


def promote(settings: TrainingSettings, model_name: str | None = None, dry_run: bool = False,
            log_decision: bool = True) -> PromotionDecision:
    """Decide on the evidence and, unless ``dry_run``, move the aliases (the challenger becomes the champion,
    the challenger alias is removed) and log the decision in MLflow (``log_decision``)."""
    from mlflow import MlflowClient

    model_name = model_name or settings.model_name
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    gathered = gather(client, settings, model_name)
    if isinstance(gathered, PromotionDecision):
        log.info("%s", gathered.reason)
        return gathered
    if gathered.champion_value is None and gathered.rows >= settings.promote_min_rows:
        estimate = estimated_figures(client, settings, gathered)
        if estimate is not None:
            gathered.champion_value, gathered.challenger_value = estimate
            gathered.source = "estimated"
    decision = decide(gathered, settings.promote_min_rows)
    log.info("%s", decision.reason)
    if dry_run:
        return decision
    e = decision.evidence
    if decision.promoted:
        client.set_registered_model_alias(model_name, settings.champion_alias, e.challenger_version)
        client.delete_registered_model_alias(model_name, settings.challenger_alias)
    if log_decision:
        client.set_model_version_tag(model_name, e.challenger_version, "decision", decision.reason[:5000])
        _log_run(client, settings, decision)
    return decision


def _log_run(client, settings: TrainingSettings, decision: PromotionDecision) -> str:
    """One run in ``PROMOTION_EXPERIMENT`` with the decision's figures and reason; returns its id."""
    from mlflow.entities import Metric, Param, RunTag

    e = decision.evidence
    experiment = client.get_experiment_by_name(settings.promotion_experiment)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(settings.promotion_experiment, tags={"purpose": "promotion"}))
    alias = settings.champion_alias if decision.promoted else settings.challenger_alias
    run = client.create_run(experiment_id, run_name=f"{e.model_name} v{e.challenger_version} vs v{e.champion_version}",
                            tags={"model_name": e.model_name, "model_version": e.challenger_version,
                                  "champion_version": e.champion_version, "alias": alias, "kind": decision.kind,
                                  "evidence": e.source, "decision": decision.reason[:5000]})
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in decision.as_metrics().items()],
                     params=[Param("metric", e.metric), Param("tolerance_source", e.tolerance_source)],
                     tags=[RunTag("problem", e.problem)])
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def main(argv: list[str] | None = None) -> int:
    """``automl promote``: exit 0 when the challenger took the champion alias, 1 when the evidence refused it."""
    from .log_config import configure_logging

    parser = argparse.ArgumentParser(description="move the champion alias to the challenger when live traffic "
                                                 "shows it is not worse beyond noise")
    parser.add_argument("--model", default="", help="registered model (default: MODEL_NAME)")
    parser.add_argument("--dry-run", action="store_true", help="decide and say why; move nothing, log nothing")
    args = parser.parse_args(argv)
    settings = TrainingSettings.load()
    configure_logging(settings.log_level)
    decision = promote(settings, args.model or None, args.dry_run)
    print(decision.reason)
    return PROMOTED if decision.promoted else REFUSED


if __name__ == "__main__":
    sys.exit(main())
