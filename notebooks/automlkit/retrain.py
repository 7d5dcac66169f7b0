"""Scheduled retraining: run the training notebook every ``RETRAIN_INTERVAL`` seconds (the compose trainer,
``make retrain-every INTERVAL=...``).

    python -m automlkit.retrain --interval 86400 -p max_runtime_secs 600

At start it waits for the tracking server, trains at once when the model has no champion yet (with the
``--first-run`` overrides, e.g. a short budget), then once per interval. Each run is a normal
``run_training`` run (its executed notebook logged to MLflow); a run that fails is marked FAILED with its
error, the champion stays where it was, and the schedule goes on.

With ``RETRAIN_ON_ALERT=1`` the schedule also looks at the champion's monitoring alerts every
``ALERT_CHECK_SECONDS`` (``automlkit.monitoring``, read from the tracking store as ``GET /monitoring`` reads
it) and trains at once on a new one: each alert (version, kind, feature or metric) starts one run at most.
With ``PROMOTE_ON_EVIDENCE=1`` it runs ``automl promote``'s check (``automlkit.promotion``) at the same
pace: the challenger takes the champion alias once its live evidence allows it.

While the schedule is alive a heartbeat file is rewritten every few seconds; the compose trainer's
healthcheck (``python -m automlkit.healthcheck heartbeat``, standard library only) fails once it is older
than ``HEARTBEAT_STALE_SECONDS``, so a dead schedule shows, even while the process itself is still there.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

import yaml
from mlflow import MlflowClient

from . import monitoring, run_training
from .healthcheck import HEARTBEAT, HEARTBEAT_SECONDS
from .registry import alias_version
from .log_config import configure_logging
from .errors import ParameterError
from .settings import TrainingSettings
from .training import TrainParams

log = logging.getLogger("automlkit.retrain")


def beat_while_alive(schedule_thread: threading.Thread, path: Path = HEARTBEAT,
                     every: float = HEARTBEAT_SECONDS) -> threading.Thread:
    """Rewrite ``path`` every ``every`` seconds for as long as ``schedule_thread`` runs (a daemon thread)."""
    def beat():
        while schedule_thread.is_alive():
            path.write_text(f"{time.time():.3f}\n")
            time.sleep(every)

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    return thread


def wait_for_tracking(settings: TrainingSettings, stop: threading.Event, timeout: float = 600) -> bool:
    """Wait until the tracking store answers (a server started beside the trainer may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            MlflowClient(settings.tracking_uri).search_experiments(max_results=1)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure to answer means: not up yet
            if time.monotonic() > deadline or stop.is_set():
                log.error("the tracking store at %s does not answer: %s", settings.tracking_uri, exc)
                return False
            log.info("waiting for the tracking store at %s", settings.tracking_uri)
            stop.wait(3)


def has_champion(settings: TrainingSettings, model_name: str) -> bool:
    """True when ``model_name`` has a version holding the champion alias (False if MLflow cannot say)."""
    try:
        return alias_version(MlflowClient(settings.tracking_uri), model_name, settings.champion_alias) is not None
    except Exception as exc:  # noqa: BLE001 - registry unreachable: treat as no champion, training says more
        log.warning("cannot read the registry at %s: %s", settings.tracking_uri, exc)
        return False


def train_once(parameters: dict, timeout: int, output_dir: str | Path | None = None) -> bool:
    """One training run; True when it finished. A failure is logged (and marked in MLflow), never raised."""
    try:
        run_id, _ = run_training.run(parameters, output_dir=output_dir, timeout=timeout)
    except BaseException as exc:  # noqa: BLE001 - the schedule must outlive a failed run
        if isinstance(exc, (KeyboardInterrupt, run_training.Terminated)):
            raise
        log.error("retraining failed, the champion stays: %s", run_training.failure_reason(exc))
        return False
    log.info("retraining finished: run %s", run_id)
    return True


def alert_key(alert: dict) -> tuple:
    """What makes two alerts the same one: the version, the kind, and the feature or metric."""
    return alert["version"], alert["kind"], alert.get("feature") or alert.get("metric")


def champion_alerts(settings: TrainingSettings, model_name: str) -> list[dict]:
    """The monitoring alerts of ``model_name``'s champion (none when there is no champion or nothing was
    recorded); raises when the tracking store cannot be read."""
    client = MlflowClient(settings.tracking_uri)
    version = alias_version(client, model_name, settings.champion_alias)
    if version is None:
        return []
    histories = monitoring.load_history(client, settings.monitoring_experiment, model_name)
    return monitoring.alerts(histories, version, settings.monitoring_alert_window, settings.monitoring_auc_margin,
                             settings.monitoring_min_realised_rows)


def promote_on_evidence(settings: TrainingSettings, model_name: str, seen: set) -> bool:
    """``automl promote``'s check (``PROMOTE_ON_EVIDENCE``): True when the challenger took the alias. A refusal
    is logged in MLflow once per (challenger, champion, kind of refusal) in ``seen``, not at every look."""
    from . import promotion

    try:
        decision = promotion.promote(settings, model_name, dry_run=True)
        e = decision.evidence
        if e is None:
            return False
        key = ("promotion", e.challenger_version, e.champion_version, decision.kind)
        if decision.promoted or key not in seen:
            seen.add(key)
            decision = promotion.promote(settings, model_name)
        return decision.promoted
    except Exception as exc:  # noqa: BLE001 - the store down must not end the schedule
        log.warning("cannot check the challenger's evidence at %s: %s", settings.tracking_uri, exc)
        return False


def wait_for_next_run(settings: TrainingSettings, model_name: str, interval: float, stop: threading.Event,
                      acted_on: set) -> str | None:
    """Wait ``interval`` seconds (0: for ever), looking at the champion's alerts every ``ALERT_CHECK_SECONDS``
    when ``RETRAIN_ON_ALERT``; returns why to train now (the schedule, or a new alert, which joins
    ``acted_on``), or None when ``stop`` is set."""
    deadline = time.monotonic() + interval if interval > 0 else float("inf")
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "the schedule"
        looking = settings.retrain_on_alert or settings.promote_on_evidence
        step = min(remaining, settings.alert_check_seconds) if looking else remaining
        if stop.wait(None if step == float("inf") else step):
            return None
        if settings.promote_on_evidence:
            promote_on_evidence(settings, model_name, acted_on)
        if not settings.retrain_on_alert:
            continue
        try:
            fresh = [a for a in champion_alerts(settings, model_name) if alert_key(a) not in acted_on]
        except Exception as exc:  # noqa: BLE001 - the store down must not end the schedule
            log.warning("cannot read the monitoring alerts at %s: %s", settings.tracking_uri, exc)
            continue
        if fresh:
            acted_on.update(alert_key(a) for a in fresh)
            return "monitoring alert: " + "; ".join(a["message"] for a in fresh)


def schedule(parameters: dict, interval: float, timeout: int, stop: threading.Event, runs: int = 0,
             output_dir: str | Path | None = None, first_run: dict | None = None) -> int:
    """Train now if there is no champion (``parameters`` updated with ``first_run``), then every ``interval``
    seconds with ``parameters`` until ``stop`` (or ``runs`` runs).

    Returns the number of runs that finished.
    """
    settings = TrainingSettings.load()
    model_name = parameters.get("model_name", settings.model_name)
    done = attempts = 0
    wait_for_tracking(settings, stop)
    if not has_champion(settings, model_name):
        log.info("no %s@%s yet: training now", model_name, settings.champion_alias)
        done += train_once({**parameters, **(first_run or {})}, timeout, output_dir)
        attempts += 1
    acted_on: set = set()
    while (interval > 0 or settings.retrain_on_alert or settings.promote_on_evidence) and not (runs and attempts >= runs):
        log.info("next retraining in %s%s", f"{interval:.0f} s" if interval > 0 else "(no schedule)",
                 f", or at once on a monitoring alert (checked every {settings.alert_check_seconds:.0f} s)"
                 if settings.retrain_on_alert else "")
        reason = wait_for_next_run(settings, model_name, interval, stop, acted_on)
        if reason is None:
            break
        log.info("retraining now: %s", reason)
        done += train_once(parameters, timeout, output_dir)
        attempts += 1
    return done


def main(argv: list[str] | None = None) -> int:
    """Entry point of the trainer service and ``make retrain-every``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between runs (default: RETRAIN_INTERVAL or 86400; 0 = only the first run)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="notebook parameter, as for make train")
    parser.add_argument("--parameters", default="", metavar="YAML",
                        help="more notebook parameters as one YAML mapping, e.g. '{sample_rows: 50000}' "
                             "(the compose trainer's TRAIN_PARAMS)")
    parser.add_argument("--first-run", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="parameter of the first run only, when there is no champion yet (a short budget)")
    parser.add_argument("--timeout", type=int, default=6 * 3600, help="per-cell execution timeout, seconds")
    parser.add_argument("--output-dir", default=None,
                        help="where executed notebooks go (default: MLRUNS_DIR/notebooks)")
    args = parser.parse_args(argv)
    settings = TrainingSettings.load()
    configure_logging(settings.log_level)
    interval = settings.retrain_interval if args.interval is None else args.interval
    stop = threading.Event()
    run_training.raise_on_sigterm()  # a run in progress is closed as KILLED; the schedule ends
    parameters = yaml.safe_load(args.parameters) or {}
    if not isinstance(parameters, dict):
        parser.error(f"--parameters must be a YAML mapping, got {args.parameters!r}")
    parameters.update(run_training.read_parameters(args.parameter))
    first_run = run_training.read_parameters(args.first_run)
    try:  # a wrong shape is refused now, by name, not at the first run hours later
        TrainParams.read(settings, **{**parameters, **first_run})
    except ParameterError as exc:
        parser.error(str(exc))
    beat_while_alive(threading.current_thread())
    try:
        schedule(parameters, interval, args.timeout, stop, output_dir=args.output_dir, first_run=first_run)
    except (KeyboardInterrupt, run_training.Terminated):
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
