"""Every piece of HTML the dashboard shows, and the words in it: the model card, the problems of a file, the
drift warning, the version history, the tables, the fit on this file, a customer's reasons, the download
link, Predict's stages, and the page's style and script (templates in ``templates/``, rendered with
Jinja2). Every value from a file, a card or the API is escaped: shown as text, never as markup."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from .dashboard_card import problem_of, problem_text
from .dashboard_charts import importance_png
from .drift import PSI_ALERT
from .errors import Problem
from .problems import METRIC_DIRECTIONS, PROBLEMS

#: How a metric is named on the page (in the order the page shows them).
METRIC_NAMES = {"auc": "AUC", "logloss": "logloss", "aucpr": "AUCPR", "accuracy": "accuracy",
                "mean_per_class_error": "mean per-class error", "macro_auc": "macro AUC", "rmse": "RMSE",
                "mae": "MAE", "r2": "R²", "mean_residual_deviance": "mean residual deviance"}

#: The holdout metrics the card and ``GET /models`` report per problem type (the history's columns): those of
#: ``automlkit.problems``, in the order of :data:`METRIC_NAMES`.
HOLDOUT_METRICS = {problem: tuple(sorted(METRIC_DIRECTIONS[problem], key=lambda m: (
    list(METRIC_NAMES).index(m) if m in METRIC_NAMES else len(METRIC_NAMES)))) for problem in PROBLEMS}

#: The headline holdout metrics of the model card per problem type.
CARD_METRICS = {"binary": ("auc",), "multiclass": ("logloss", "accuracy"), "regression": ("rmse", "r2")}

#: The page's templates: its style, its script and every fragment of HTML it shows.
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                               autoescape=True, keep_trailing_newline=False)
#: ``{{ value|fmt(',.1f') }}``: Python's format mini-language in the templates.
TEMPLATES.filters["fmt"] = format


def metric_name(metric: str) -> str:
    """How ``metric`` is named on the page (:data:`METRIC_NAMES`; its own name when it has none there)."""
    return METRIC_NAMES.get(metric, metric)


def _fragment(name: str, **values) -> str:
    """The macro ``name`` of ``templates/dashboard_fragments.html`` with ``values`` (escaped), as plain text."""
    return str(getattr(TEMPLATES.get_template("dashboard_fragments.html").module, name)(**values))


def page_style() -> str:
    """The page's styles as one ``<style>`` element (inline: the page needs nothing from the network)."""
    return TEMPLATES.get_template("dashboard_style.html").render()


def problems_html(detail: str, problems: list[Problem], title: str = "The file cannot be scored:") -> str:
    """A readable list of what is wrong (column, rows, message) instead of the JSON body."""
    items = [(p.column if p.column else "File", _rows_text(p), p.message) for p in problems or [Problem(None, detail)]]
    return _fragment("problems", title=title, items=items)


def _rows_text(problem: Problem) -> str:
    if not problem.rows:
        return ""
    more = f" and {problem.count - len(problem.rows)} more" if problem.count > len(problem.rows) else ""
    return f" (row{'s' if problem.count > 1 else ''} {', '.join(map(str, problem.rows))}{more})"


def alert_html(title: str, detail) -> str:
    """A red box: what is unavailable or failed (bold), then the reason (both shown as text, never markup)."""
    return _fragment("alert", title=str(title), detail=str(detail))


def upload_status_html(filename: str, rows: int | None = None, columns: int | None = None) -> str:
    """The uploaded file's name, and its rows and columns once read."""
    return _fragment("upload_status", filename=filename, rows=rows, columns=columns)


def reading_html(filename: str, size: int) -> str:
    """What the page does while it reads an upload."""
    return _fragment("reading", filename=filename, size=megabytes(size))


def megabytes(size: int) -> str:
    """A byte count as megabytes with one decimal."""
    return f"{size / (1024 * 1024):,.1f} MB"


def drift_html(drift: list[dict] | None) -> str:
    """A warning table of the features whose population moved past the PSI alert, or a calm line. Rows from
    the API's ``X-Drift`` header (:func:`automlkit.dashboard_client.drift_from_header`) carry the PSI only."""
    if drift is None:
        return ""

    def share(row: dict, key: str) -> str:
        return f"{row[key]:.1%}" if row.get(key) is not None else ""

    drifted = [{"column": r["column"], "psi": r["psi"], "bin": r.get("bin") or "",
                "training_share": share(r, "training_share"), "batch_share": share(r, "batch_share")}
               for r in drift if r["drifted"]]
    largest = max((r["psi"] for r in drift), default=0) if drift else None
    return _fragment("drift", drifted=drifted, largest=largest, alert=PSI_ALERT)


def history_html(models: dict, problem: str = "binary") -> str:
    """The registered versions, newest first: aliases, the holdout metrics of ``problem``, why, and a link
    to the run."""
    columns = HOLDOUT_METRICS[problem]
    versions = [{
        "version": v["version"], "serving": v["version"] == models.get("serving_version"), "aliases": v["aliases"],
        "created": v["created_at"].replace("T", " ").removesuffix("+00:00"),
        "metrics": [(v.get("holdout_metrics") or {}).get(m) for m in columns], "decision": v.get("decision") or "",
        "run_url": v["run_url"] if str(v.get("run_url") or "").startswith(("http://", "https://")) else None,
    } for v in models.get("versions", [])]
    return _fragment("history", versions=versions, columns=[metric_name(m) for m in columns])


def scored_html(scored: dict) -> str:
    """What was scored with which model (``rows``, ``model``, ``version``), and the per-row ``warnings`` (the
    API's rules, checked before sending) as a readable list."""
    text = _fragment("scored", rows=scored["rows"], model=str(scored["model"]), version=str(scored["version"]))
    warnings = [w if isinstance(w, Problem) else Problem(**w) for w in scored.get("warnings") or []]
    return text + (problems_html("", warnings, "Scored, with warnings:") if warnings else "")


def _number(value: float) -> str:
    return f"{value:,.4f}"


def card_html(card: dict, run_url: str | None = None) -> str:
    """The model card: name, version, trained-at, algorithm, problem type, its headline holdout metrics
    (binary: AUC and the threshold; multiclass: logloss and accuracy; regression: RMSE and R²), how the
    model was chosen (the rule, its serving speed, whether it explains, why it won), a link to its training
    run in MLflow (``run_url``, from ``GET /models``) and its variable importance as a bar chart."""
    problem = problem_of(card)
    metrics = card.get("holdout_metrics") or {}
    selection = card.get("selection")
    if selection:
        serving = selection.get("serving") or {}
        selection = {"rule": selection["rule"], "rows_per_s": float(serving.get("rows_per_s") or 0),
                     "explains": "explains its scores" if serving.get("contributions") else
                     "no per-feature explanations", "reason": selection.get("reason", "")}
    importance = card.get("variable_importance") or []
    return _fragment("card", c={
        "name": card["name"], "version": str(card["version"]),
        "algorithm": (card.get("algorithm") or "").removesuffix("MojoModel"),
        "trained": (card.get("trained_at") or "")[:19].replace("T", " "), "problem": problem_text(card),
        "headline": [(metric_name(m), _number(metrics[m]) if m in metrics else "n/a") for m in CARD_METRICS[problem]],
        "threshold": float(card.get("threshold") or 0) if problem == "binary" else None,
        "selection": selection, "run_url": run_url,
        "importance_png": base64.b64encode(importance_png(importance)).decode() if importance else None,
    })


def table_html(table: pd.DataFrame, css_class: str) -> str:
    """A plain HTML table (no index; every cell and header escaped by pandas) in a box that scrolls sideways
    when the upload is wide."""
    return _fragment("table_box", table=Markup(table.to_html(index=False, classes=css_class, border=0, escape=True)))


def ranking_title(problem: str) -> str:
    """The heading of the ranked table."""
    return {"binary": "Customers ranked by probability",
            "multiclass": "Rows ranked by the probability of their predicted class",
            "regression": "Rows ranked by prediction, largest first"}[problem]


def accuracy_html(matrix: pd.DataFrame) -> str:
    """The accuracy on this file: the share of rows with a known class whose class was predicted."""
    total = int(matrix.to_numpy().sum())
    correct = int(sum(matrix.at[c, c] for c in matrix.index if c in matrix.columns))
    return _fragment("accuracy", correct=correct, total=total)


def residuals_html(metrics: dict | None) -> str:
    """RMSE and MAE on this file, or why there are none."""
    metrics = metrics or {}
    return _fragment("residuals", rmse=metrics.get("rmse"), mae=metrics.get("mae"), rows=metrics.get("rows"))


def reasons_html(answer: dict) -> str:
    """The top reasons for one customer as a list (feature, push up or down), or why there are none."""
    explain = answer.get("explain") or {}
    if not explain.get("available"):
        return _fragment("reasons", message=explain.get("message", "No explanation available."), probability=None,
                         top=[])
    prediction = answer["predictions"][0]
    return _fragment("reasons", message=None, probability=prediction["probability"],
                     top=prediction["explanation"]["top"])


def download_link(href: str, filename: str, size: int) -> str:
    """An ``<a download>`` link to the scored CSV the dashboard server serves (a real download: the browser
    streams it to disk)."""
    return _fragment("download", href=href, filename=filename, size=megabytes(size))


#: The largest scored file the page carries inside the link itself when no server serves it (the notebook
#: opened outside ``automl dashboard``, e.g. in JupyterLab): the browser holds such a link in memory.
INLINE_DOWNLOAD_BYTES = 20 * 1024 * 1024


def inline_download_link(content: bytes, filename: str) -> str:
    """An ``<a download>`` link carrying a small scored CSV as a data URI (no server to fetch it from)."""
    return _fragment("download", href=f"data:text/csv;base64,{base64.b64encode(content).decode()}",
                     filename=filename, size=None)


#: Predict's stages: name -> (first percent, last percent, what the page says).
PREDICT_STAGES = {
    "check": (0, 15, "Checking the file against the model's columns"),
    "send": (15, 45, "Sending the file to the prediction service"),
    "score": (45, 60, "The prediction service is checking and scoring the rows"),
    "receive": (60, 75, "Receiving the scores"),
    "table": (75, 85, "Building the ranked table"),
    "charts": (85, 99, "Drawing the charts"),
    "done": (100, 100, "Done"),
}


def stage_percent(stage: str, fraction: float = 0.0) -> int:
    """How far Predict is (0-100) ``fraction`` of the way through ``stage`` (:data:`PREDICT_STAGES`)."""
    first, last, _ = PREDICT_STAGES[stage]
    return int(first + (last - first) * min(max(fraction, 0.0), 1.0))


def stage_html(stage: str, fraction: float = 0.0, detail: str = "") -> str:
    """Predict's stage as the page says it (``3/6 The prediction service is ...: detail``), with its percent."""
    names = [n for n in PREDICT_STAGES if n != "done"]
    number = "" if stage == "done" else f"{names.index(stage) + 1}/{len(names)} "
    return _fragment("stage", stage=stage, percent=stage_percent(stage, fraction),
                     text=number + PREDICT_STAGES[stage][2], detail=detail)


def stopped_html(why: str) -> str:
    """Where Predict stopped (the bar stays there, red), and why in a word; the message below says the rest."""
    return _fragment("stopped", why=why)


def sent_text(done: int, total: int) -> str:
    """``12.0 of 50.0 MB``, or ``3.2 MB`` when the total is not known."""
    return f"{megabytes(done).removesuffix(' MB')} of {megabytes(total)}" if total else megabytes(done)


def duration_text(seconds: float) -> str:
    """``4 seconds``, ``1 minute``, ``10 minutes``, ``1.5 hours``."""
    if seconds < 60:
        return f"{seconds:.0f} second{'s' if round(seconds) != 1 else ''}"
    if seconds < 3600:
        minutes = seconds / 60
        return f"{minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"
    hours = round(seconds / 3600, 1)
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def page_script(cull_idle_seconds: int) -> str:
    """The page's one script (an HTML output of the notebook: Voilà runs the scripts of trusted outputs;
    widgets cannot; template ``templates/dashboard_script.html``). It (1) asks the server every few seconds,
    and at once when the tab comes back into view, whether this page's kernel still exists
    (``GET api/kernels/<id>``, 404 once it is culled after ``cull_idle_seconds`` without use) and when it is
    gone covers the page with a message and a Reload button; and (2) shows the progress of a large upload as
    the browser sends it (the widget's message leaves through the kernel's websocket: its ``bufferedAmount``
    says how much is still to go) in ``.upload-progress``."""
    culled = (f"This page was not used for {duration_text(cull_idle_seconds)}, so the server closed its session "
              "to free memory: the upload and the results on it are gone. Reload the page to start again.")
    unreachable = "The dashboard server does not answer: the page cannot work until it is back. Reload to retry."
    return TEMPLATES.get_template("dashboard_script.html").render(
        poll_ms=1000 * max(1, min(30, cull_idle_seconds // 4)), culled=culled, unreachable=unreachable)
