"""Model-registry helpers: find the champion, compare on the same holdout rows, move the aliases."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from datetime import datetime, timezone

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .problems import ALL_METRICS
from .settings import CHALLENGER_ALIAS, CHAMPION_ALIAS

if TYPE_CHECKING:
    from .schema import Schema

log = logging.getLogger(__name__)


class _NotComparable(Exception):
    """The champion answers another question than the new version."""


@dataclass
class Decision:
    """The outcome of champion vs challenger, with both figures (and both speeds) on the same holdout rows."""

    promoted: bool
    alias: str
    metric: str
    new_value: float
    champion_value: float | None
    champion_version: str | None
    reason: str
    tolerance: float = 0.0
    new_rows_per_s: float | None = None
    champion_rows_per_s: float | None = None

    def as_metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics of the training run."""
        out = {"promoted": float(self.promoted), f"new_holdout_{self.metric}": self.new_value,
               "decision_tolerance": self.tolerance}
        if self.champion_value is not None:
            out[f"champion_holdout_{self.metric}"] = self.champion_value
        if self.new_rows_per_s is not None:
            out["new_holdout_rows_per_s"] = self.new_rows_per_s
        if self.champion_rows_per_s is not None:
            out["champion_holdout_rows_per_s"] = self.champion_rows_per_s
        return out


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version number holding ``alias``, or None."""
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def score_holdout(model, holdout: pd.DataFrame, y_holdout: np.ndarray,
                  schema: "Schema | None" = None) -> tuple[dict[str, float], float]:
    """A loaded pyfunc ``model``'s holdout metrics on ``holdout`` (those of ``schema``'s problem, the model's
    own schema by default) and its rows/s scoring them (after a warm-up, so both models of a decision are
    timed alike)."""
    # imported here: the API reads the registry through this module, and its image has no scikit-learn
    from .metrics import problem_metrics
    from .scoring import scores_of

    schema = schema or model_schema(model)
    model.predict(holdout.iloc[:500])
    started = time.perf_counter()
    predictions = model.predict(holdout)
    rows_per_s = len(holdout) / max(time.perf_counter() - started, 1e-9)
    return problem_metrics(schema.problem, y_holdout, scores_of(predictions, schema), schema.classes), rows_per_s


def model_schema(model) -> "Schema":
    """The data contract of a loaded pyfunc model of this package."""
    return model.unwrap_python_model().scoring_model.schema


def _not_comparable(new: "Schema", champion: "Schema") -> str:
    """Why the champion cannot be compared with the new version ('' when it can): another problem type,
    another target, or other classes."""
    if champion.problem != new.problem:
        return f"it answers a {champion.problem} problem, the new version a {new.problem} one"
    if champion.target != new.target:
        return f"it predicts {champion.target!r}, the new version {new.target!r}"
    if champion.problem != "regression" and champion.classes != new.classes:
        return f"its classes {champion.classes} differ from the new version's {new.classes}"
    return ""


def champion_or_challenger(model_name: str, new_version: str, metric: str, higher_is_better: bool,
                           holdout: pd.DataFrame, y_holdout: np.ndarray, tolerance: float = 0.0,
                           champion_alias: str = CHAMPION_ALIAS, challenger_alias: str = CHALLENGER_ALIAS) -> Decision:
    """Give ``new_version`` the champion alias if it beats the current champion on the same rows, or if it is
    within ``tolerance`` (one standard error of the holdout metric) of it and faster to score.

    Both versions are scored through their pyfunc models on this run's holdout rows, in this process, so
    the figures and the speeds compare like with like. A version worse beyond the tolerance never takes
    the alias. A champion that cannot score the rows (other columns, missing artifacts) loses, and so does
    one of another problem type, target or classes (it does not compete); the reason says which.
    """
    client = MlflowClient()
    # each version is loaded once: a load starts its MOJO and checks the native path
    new_model = mlflow.pyfunc.load_model(f"models:/{model_name}/{new_version}")
    new_schema = model_schema(new_model)
    scores, new_speed = score_holdout(new_model, holdout, y_holdout, new_schema)
    new_value = scores[metric]
    current = alias_version(client, model_name, champion_alias)
    champion_value = champion_speed = None
    if current is None:
        promoted, reason = True, "no champion yet"
    else:
        try:
            champion_model = mlflow.pyfunc.load_model(f"models:/{model_name}/{current}")
            other = _not_comparable(new_schema, model_schema(champion_model))
            if other:
                raise _NotComparable(other)
            champion_scores, champion_speed = score_holdout(champion_model, holdout, y_holdout, new_schema)
            champion_value = champion_scores[metric]
        except _NotComparable as exc:
            promoted, reason = True, f"champion v{current} does not compete: {exc}"
        except Exception as exc:  # noqa: BLE001 - any failure to score means the champion cannot defend
            log.warning("champion version %s could not score the holdout: %s", current, exc)
            promoted, reason = True, f"champion v{current} could not score this holdout: {exc}"
        else:
            promoted, reason = _compare(new_version, current, metric, new_value, champion_value, higher_is_better,
                                        tolerance, new_speed, champion_speed)
    # not promoted: the challenger (scored in the champion's shadow, ``automlkit.shadow``) when it is within
    # noise or better; a version worse beyond noise takes no alias
    within = champion_value is not None and within_noise(new_value, champion_value, higher_is_better, tolerance)
    alias = champion_alias if promoted else (challenger_alias if within else "")
    if alias:
        client.set_registered_model_alias(model_name, alias, new_version)
    client.set_model_version_tag(model_name, new_version, "decision", reason[:5000])
    log.info("%s -> alias %s", reason, alias or "none (worse beyond noise)")
    return Decision(promoted, alias, metric, new_value, champion_value, current, reason, tolerance, new_speed,
                    champion_speed)


def within_noise(new_value: float, champion_value: float, higher_is_better: bool, tolerance: float) -> bool:
    """Whether ``new_value`` is better than ``champion_value`` or worse by at most ``tolerance`` (the noise
    band: one standard error of the metric): the rule that makes a challenger, and that promotion on live
    evidence (``automlkit.promotion``) applies to realised figures."""
    gain = (new_value - champion_value) if higher_is_better else (champion_value - new_value)
    return -gain <= tolerance


def _compare(new_version: str, current: str, metric: str, new_value: float, champion_value: float,
             higher_is_better: bool, tolerance: float, new_speed: float, champion_speed: float) -> tuple[bool, str]:
    """Whether the new version takes the alias from the champion, and why (see :func:`champion_or_challenger`)."""
    gain = (new_value - champion_value) if higher_is_better else (champion_value - new_value)
    figures = f"holdout {metric} {new_value:.5f} vs {champion_value:.5f}"
    speeds = f"{new_speed:,.0f} vs {champion_speed:,.0f} rows/s"
    if gain > 0:
        return True, f"v{new_version} beats champion v{current} on {figures}"
    if -gain <= tolerance and new_speed > champion_speed:
        return True, (f"v{new_version} is within noise of champion v{current} ({figures}, tolerance "
                      f"{tolerance:.5f}) and faster to score ({speeds})")
    if tolerance <= 0:
        return False, f"v{new_version} does not beat champion v{current} on {figures}"
    if -gain <= tolerance:
        return False, (f"v{new_version} is within noise of champion v{current} ({figures}, tolerance "
                       f"{tolerance:.5f}) but not faster to score ({speeds})")
    return False, (f"v{new_version} is worse than champion v{current} beyond noise ({figures}, tolerance "
                   f"{tolerance:.5f})")


HISTORY_METRICS = ALL_METRICS


def version_history(client: MlflowClient, model_name: str, ui_url: str = "") -> list[dict]:
    """Every version of ``model_name``, newest first: aliases, created-at, holdout metrics of its training
    run, the champion decision (why it did or did not take the alias) and the run's MLflow UI address."""
    history = []
    # search results carry no aliases: the registered model has them (alias -> version)
    aliases: dict[str, list[str]] = {}
    for alias, number in (client.get_registered_model(model_name).aliases or {}).items():
        aliases.setdefault(str(number), []).append(alias)
    for version in sorted(client.search_model_versions(f"name='{model_name}'"), key=lambda v: -int(v.version)):
        metrics, experiment_id = {}, None
        if version.run_id:
            try:
                run = client.get_run(version.run_id)
            except MlflowException:  # the run was deleted: the version stays listed
                run = None
            if run is not None:
                experiment_id = run.info.experiment_id
                metrics = {m: run.data.metrics[f"holdout_{m}"] for m in HISTORY_METRICS
                           if f"holdout_{m}" in run.data.metrics}
        created = datetime.fromtimestamp(version.creation_timestamp / 1000, tz=timezone.utc)
        history.append({
            "version": str(version.version), "aliases": sorted(aliases.get(str(version.version), [])),
            "created_at": created.isoformat(timespec="seconds"), "run_id": version.run_id,
            "holdout_metrics": metrics, "decision": (version.tags or {}).get("decision", ""),
            "run_url": (f"{ui_url}/#/experiments/{experiment_id}/runs/{version.run_id}"
                        if ui_url and experiment_id and version.run_id else None),
        })
    return history
