"""Every piece of HTML the dashboard shows, and the words in it: the model card, the problems of a file, the
drift warning, the version history, the tables, the fit on this file, a customer's reasons, the download
link, Predict's stages, and the page's style and script (templates in ``templates/``, rendered with
Jinja2). Every value from a file, a card or the API is escaped: shown as text, never as markup."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import jinja2
import pandas as pd

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

#: The page's style and script templates.
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                               autoescape=True, keep_trailing_newline=False)


def metric_name(metric: str) -> str:
    """How ``metric`` is named on the page (:data:`METRIC_NAMES`; its own name when it has none there)."""
    return METRIC_NAMES.get(metric, metric)


def page_style() -> str:
    """The page's styles as one ``<style>`` element (inline: the page needs nothing from the network)."""
    return TEMPLATES.get_template("dashboard_style.html").render()


def problems_html(detail: str, problems: list[Problem], title: str = "The file cannot be scored:") -> str:
    """A readable list of what is wrong (column, rows, message) instead of the JSON body."""
    items = problems or [Problem(None, detail)]
    rows = "".join(
        f"<li><b>{html.escape(str(p.column)) if p.column else 'File'}</b>"
        f"{_rows_text(p)}: {html.escape(p.message)}</li>" for p in items)
    return f"<div class='problems'><p>{html.escape(title)}</p><ul>{rows}</ul></div>"



def _rows_text(problem: Problem) -> str:
    if not problem.rows:
        return ""
    more = f" and {problem.count - len(problem.rows)} more" if problem.count > len(problem.rows) else ""
    return f" (row{'s' if problem.count > 1 else ''} {', '.join(map(str, problem.rows))}{more})"



def alert_html(title: str, detail) -> str:
    """A red box: what is unavailable or failed (bold), then the reason (both shown as text, never markup)."""
    return f"<div class='api-down'><b>{html.escape(str(title))}</b> {html.escape(str(detail))}</div>"



def upload_status_html(filename: str, rows: int | None = None, columns: int | None = None) -> str:
    """The uploaded file's name, and its rows and columns once read."""
    name = f"<b>{html.escape(filename)}</b>"
    return name if rows is None else f"{name}: {rows:,} rows, {columns} columns"



def reading_html(filename: str, size: int) -> str:
    """What the page does while it reads an upload."""
    return f"<i>Reading <b>{html.escape(filename)}</b> ({megabytes(size)})…</i>"



def megabytes(size: int) -> str:
    """A byte count as megabytes with one decimal."""
    return f"{size / (1024 * 1024):,.1f} MB"



def drift_html(drift: list[dict] | None) -> str:
    """A warning table of the features whose population moved past the PSI alert, or a calm line. Rows from
    the API's ``X-Drift`` header (:func:`drift_from_header`) carry the PSI only."""
    if drift is None:
        return ""
    drifted = [r for r in drift if r["drifted"]]
    if not drifted:
        largest = (f"largest PSI {max((r['psi'] for r in drift), default=0):.3f}, " if drift else "")
        return (f"<p class='drift-ok'>No feature drifts from the training data ({largest}"
                f"alert above {PSI_ALERT}).</p>")

    def share(row: dict, key: str) -> str:
        return f"{row[key]:.1%}" if row.get(key) is not None else ""

    rows = "".join(
        f"<tr><td><b>{html.escape(str(r['column']))}</b></td><td>{r['psi']:.3f}</td>"
        f"<td>{html.escape(str(r.get('bin') or ''))}</td><td>{share(r, 'training_share')}</td>"
        f"<td>{share(r, 'batch_share')}</td></tr>" for r in drifted)
    return ("<div class='drift-warning'><p><b>Drift warning:</b> these features differ from the data the model "
            f"was trained on (population stability index above {PSI_ALERT}); predictions may be less reliable."
            "</p><table class='drift'><thead><tr><th>feature</th><th>PSI</th><th>most changed bin</th>"
            f"<th>training share</th><th>this file</th></tr></thead><tbody>{rows}</tbody></table></div>")



def history_html(models: dict, problem: str = "binary") -> str:
    """The registered versions, newest first: aliases, the holdout metrics of ``problem``, why, and a link
    to the run."""
    columns = HOLDOUT_METRICS[problem]
    rows = []
    for v in models.get("versions", []):
        metrics = v.get("holdout_metrics") or {}
        badges = "".join(f"<span class='alias alias-{html.escape(a)}'>{html.escape(a)}</span>" for a in v["aliases"])
        serving = " <small>(serving)</small>" if v["version"] == models.get("serving_version") else ""
        link = (f"<a href='{html.escape(v['run_url'])}' target='_blank'>leaderboard &amp; run in MLflow</a>"
                if str(v.get("run_url") or "").startswith(("http://", "https://")) else "")
        rows.append(
            f"<tr><td>v{html.escape(v['version'])}{serving}</td><td>{badges}</td>"
            f"<td>{html.escape(v['created_at'].replace('T', ' ').removesuffix('+00:00'))}</td>"
            + "".join(f"<td>{metrics[m]:.4f}</td>" if m in metrics else "<td></td>" for m in columns)
            + f"<td>{html.escape(v.get('decision') or '')}</td><td>{link}</td></tr>")
    if not rows:
        return "<p>No registered versions yet.</p>"
    names = "".join(f"<th>{'holdout ' if i == 0 else ''}{html.escape(metric_name(m))}</th>"
                    for i, m in enumerate(columns))
    return ("<table class='history'><thead><tr><th>version</th><th>alias</th><th>registered (UTC)</th>"
            f"{names}<th>champion decision</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>")



def scored_html(scored: dict) -> str:
    """What was scored with which model (``rows``, ``model``, ``version``), and the per-row ``warnings`` (the
    API's rules, checked before sending) as a readable list."""
    text = (f"<p class='scored'>Scored {scored['rows']:,} customers with {html.escape(str(scored['model']))} "
            f"v{html.escape(str(scored['version']))}.</p>")
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
    headline = " &middot; ".join(
        f"<b>holdout {html.escape(metric_name(m))}</b> {_number(metrics[m]) if m in metrics else 'n/a'}"
        for m in CARD_METRICS[problem])
    if problem == "binary":
        headline += f" &middot; <b>threshold</b> {card.get('threshold') or 0:.4f}"
    trained = (card.get("trained_at") or "")[:19].replace("T", " ")
    algorithm = (card.get("algorithm") or "").removesuffix("MojoModel")
    line = (f"<b>Model</b> {html.escape(card['name'])} <b>version</b> {html.escape(str(card['version']))}"
            f"{f' ({html.escape(algorithm)})' if algorithm else ''} &middot; <b>trained</b> {html.escape(trained)} UTC "
            f"&middot; <b>problem</b> {html.escape(problem_text(card))} &middot; {headline}")
    selection = card.get("selection")
    if selection:
        serving = selection.get("serving") or {}
        explains = "explains its scores" if serving.get("contributions") else "no per-feature explanations"
        line += (f"<br><b>chosen by</b> {html.escape(selection['rule'])} &middot; "
                 f"{float(serving.get('rows_per_s') or 0):,.0f} rows/s &middot; {explains} "
                 f"<details><summary>why this model</summary>{html.escape(selection.get('reason', ''))}</details>")
    if run_url:
        line += (f"<a class='run-link' href='{html.escape(run_url)}' target='_blank'>training run in MLflow: "
                 "leaderboard, plots, notebook</a>")
    importance = card.get("variable_importance") or []
    if importance:
        encoded = base64.b64encode(importance_png(importance)).decode()
        line += ("<details class='importance'><summary>variable importance</summary>"
                 f"<img alt='variable importance' src='data:image/png;base64,{encoded}'></details>")
    return f"<div class='model-card'>{line}</div>"



def table_html(table: pd.DataFrame, css_class: str) -> str:
    """A plain HTML table (no index; every cell and header escaped) in a box that scrolls sideways when the
    upload is wide."""
    return f"<div class='table-box'>{table.to_html(index=False, classes=css_class, border=0, escape=True)}</div>"



def ranking_title(problem: str) -> str:
    """The heading of the ranked table."""
    return {"binary": "Customers ranked by probability",
            "multiclass": "Rows ranked by the probability of their predicted class",
            "regression": "Rows ranked by prediction, largest first"}[problem]



def accuracy_html(matrix: pd.DataFrame) -> str:
    """The accuracy on this file: the share of rows with a known class whose class was predicted."""
    total = int(matrix.to_numpy().sum())
    if not total:
        return "<p class='fit'>No row of this file has a known class: no accuracy.</p>"
    correct = int(sum(matrix.at[c, c] for c in matrix.index if c in matrix.columns))
    return (f"<p class='fit'><b>Accuracy on this file</b> {correct / total:.1%} "
            f"({correct:,} of {total:,} rows with a known class predicted right)</p>")



def residuals_html(metrics: dict | None) -> str:
    """RMSE and MAE on this file, or why there are none."""
    if metrics is None:
        return "<p class='fit'>No row of this file has a known actual value: no RMSE or MAE.</p>"
    return (f"<p class='fit'><b>RMSE on this file</b> {_number(metrics['rmse'])} &middot; "
            f"<b>MAE</b> {_number(metrics['mae'])} ({metrics['rows']:,} rows with a known actual value)</p>")



def reasons_html(answer: dict) -> str:
    """The top reasons for one customer as a list (feature, push up or down), or why there are none."""
    explain = answer.get("explain") or {}
    if not explain.get("available"):
        return f"<p class='no-reasons'>{html.escape(explain.get('message', 'No explanation available.'))}</p>"
    prediction = answer["predictions"][0]
    items = "".join(
        f"<li><b>{html.escape(t['feature'])}</b> {'raises' if t['contribution'] > 0 else 'lowers'} the score "
        f"({t['contribution']:+.3f})</li>" for t in prediction["explanation"]["top"])
    return (f"<div class='reasons'><p>Probability {prediction['probability']:.1%}. Top reasons "
            f"(SHAP contributions to the log-odds):</p><ol>{items}</ol></div>")



def download_link(href: str, filename: str, size: int) -> str:
    """An ``<a download>`` link to the scored CSV the dashboard server serves (a real download: the browser
    streams it to disk)."""
    return (f"<a class='download-link' download='{html.escape(filename)}' href='{html.escape(href)}'>"
            f"Download {html.escape(filename)}</a> <small>({megabytes(size)})</small>")



#: The largest scored file the page carries inside the link itself when no server serves it (the notebook
#: opened outside ``automl dashboard``, e.g. in JupyterLab): the browser holds such a link in memory.
INLINE_DOWNLOAD_BYTES = 20 * 1024 * 1024



def inline_download_link(content: bytes, filename: str) -> str:
    """An ``<a download>`` link carrying a small scored CSV as a data URI (no server to fetch it from)."""
    encoded = base64.b64encode(content).decode()
    return (f"<a class='download-link' download='{html.escape(filename)}' "
            f"href='data:text/csv;base64,{encoded}'>Download {html.escape(filename)}</a>")



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
    what = PREDICT_STAGES[stage][2]
    number = "" if stage == "done" else f"{names.index(stage) + 1}/{len(names)} "
    detail = f": {html.escape(detail)}" if detail else ""
    return (f"<span class='predict-stage' data-stage='{stage}' data-percent='{stage_percent(stage, fraction)}'>"
            f"{number}{html.escape(what)}{detail}</span>")



def stopped_html(why: str) -> str:
    """Where Predict stopped (the bar stays there, red), and why in a word; the message below says the rest."""
    return f"<span class='predict-stage' data-stage='stopped'>Stopped: {html.escape(why)}</span>"



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
