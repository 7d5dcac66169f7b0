"""Model-registry helpers: find the champion, compare on the same holdout rows, move the aliases."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .settings import CHALLENGER_ALIAS, CHAMPION_ALIAS

log = logging.getLogger(__name__)


@dataclass
class Decision:
    """The outcome of champion vs challenger, with both figures on the same holdout rows."""

    promoted: bool
    alias: str
    metric: str
    new_value: float
    champion_value: float | None
    champion_version: str | None
    reason: str

    def as_metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics of the training run."""
        out = {"promoted": float(self.promoted), f"new_holdout_{self.metric}": self.new_value}
        if self.champion_value is not None:
            out[f"champion_holdout_{self.metric}"] = self.champion_value
        return out


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version number holding ``alias``, or None."""
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def score_holdout(model_uri: str, holdout: pd.DataFrame, y_holdout: np.ndarray) -> dict[str, float]:
    """Load ``model_uri`` as pyfunc and compute its holdout metrics on ``holdout``."""
    # imported here: the API reads the registry through this module, and its image has no scikit-learn
    from .metrics import binary_metrics

    predictions = mlflow.pyfunc.load_model(model_uri).predict(holdout)
    return binary_metrics(y_holdout, predictions["probability"].to_numpy())


def champion_or_challenger(model_name: str, new_version: str, new_value: float, metric: str,
                           higher_is_better: bool, holdout: pd.DataFrame, y_holdout: np.ndarray,
                           champion_alias: str = CHAMPION_ALIAS, challenger_alias: str = CHALLENGER_ALIAS) -> Decision:
    """Give ``new_version`` the champion alias only if it beats the current champion on the same rows.

    The current champion is re-scored on this run's holdout rows, so both figures come from the same
    data. A champion that cannot score them (other columns, missing artifacts) loses, and the reason says so.
    """
    client = MlflowClient()
    current = alias_version(client, model_name, champion_alias)
    champion_value = None
    if current is None:
        promoted, reason = True, "no champion yet"
    else:
        try:
            champion_value = score_holdout(f"models:/{model_name}/{current}", holdout, y_holdout)[metric]
        except Exception as exc:  # noqa: BLE001 - any failure to score means the champion cannot defend
            log.warning("champion version %s could not score the holdout: %s", current, exc)
            promoted, reason = True, f"champion v{current} could not score this holdout: {exc}"
        else:
            better = new_value > champion_value if higher_is_better else new_value < champion_value
            promoted = bool(better)
            verb = "beats" if promoted else "does not beat"
            reason = (f"v{new_version} {verb} champion v{current} on holdout {metric}: "
                      f"{new_value:.5f} vs {champion_value:.5f}")
    alias = champion_alias if promoted else challenger_alias
    client.set_registered_model_alias(model_name, alias, new_version)
    client.set_model_version_tag(model_name, new_version, "decision", reason[:5000])
    log.info("%s -> alias %s", reason, alias)
    return Decision(promoted, alias, metric, new_value, champion_value, current, reason)


HISTORY_METRICS = ("auc", "logloss", "aucpr")


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
