"""The Voilà dashboard (``notebooks/dashboard.ipynb``): upload customers, score them through the API, see
and download the ranking. It talks to the prediction API over HTTP only (``API_URL``); nothing here knows
the columns of any data set: the model card and the API's answers say what the model needs and what kind
of problem it solves (binary, multiclass or regression), and the page adapts to that.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402

from .errors import AutomlKitError, DataContractError, Problem, ServiceError  # noqa: E402
from .drift import PSI_ALERT  # noqa: E402
from .metrics import cumulative_gains  # noqa: E402
from .schema import canonical_levels, positive_labels, read_csv  # noqa: E402
from .settings import DashboardSettings  # noqa: E402

#: Rows per page of the ranked table.
PAGE_ROWS = 20

#: The problem types the API serves (a card without ``problem`` is a binary model).
PROBLEMS = ("binary", "multiclass", "regression")

#: The holdout metrics the card and ``GET /models`` report per problem type (the history's columns).
HOLDOUT_METRICS = {"binary": ("auc", "logloss", "aucpr"),
                   "multiclass": ("logloss", "accuracy", "mean_per_class_error", "macro_auc"),
                   "regression": ("rmse", "mae", "r2", "mean_residual_deviance")}

#: The headline holdout metrics of the model card per problem type.
CARD_METRICS = {"binary": ("auc",), "multiclass": ("logloss", "accuracy"), "regression": ("rmse", "r2")}

#: How a metric is named on the page.
METRIC_NAMES = {"auc": "AUC", "logloss": "logloss", "aucpr": "AUCPR", "accuracy": "accuracy",
                "mean_per_class_error": "mean per-class error", "macro_auc": "macro AUC", "rmse": "RMSE",
                "mae": "MAE", "r2": "R²", "mean_residual_deviance": "mean residual deviance"}

#: The score columns the ranked table shows first, per problem type.
RANKED_FIRST = {"binary": ("probability", "label"), "multiclass": ("label", "probability"),
                "regression": ("prediction",)}


class ApiUnavailable(ServiceError):
    """The API did not answer (down, or not ready); the message says so plainly."""


class ApiRejected(AutomlKitError):
    """The API refused the input with a 4xx; ``problems`` say where and why."""

    def __init__(self, detail: str, problems: list[Problem]):
        super().__init__(detail)
        self.detail, self.problems = detail, problems


class ApiClient:
    """The two calls the dashboard makes."""

    def __init__(self, settings: DashboardSettings):
        self.settings = settings
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = f"{self.settings.api_url}{path}"
        try:
            answer = self.session.request(method, url, timeout=self.settings.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ApiUnavailable(f"The prediction service at {self.settings.api_url} is not reachable.") from exc
        if answer.status_code == 503:
            raise ApiUnavailable(f"The prediction service has no model loaded yet: {_detail(answer)}")
        if 400 <= answer.status_code < 500:
            body = _json(answer)
            problems = [Problem(**p) for p in body.get("problems", [])] if isinstance(body, dict) else []
            raise ApiRejected(_detail(answer), problems)
        if answer.status_code >= 500:
            raise ApiUnavailable(f"The prediction service failed ({answer.status_code}): {_detail(answer)}")
        return answer

    def model_card(self) -> dict:
        """``GET /model``; raises :class:`ApiUnavailable` when no model is served."""
        card = self._call("GET", "/model").json()
        if not card.get("version"):
            reason = (card.get("load_error") or {}).get("message", "no model loaded yet")
            raise ApiUnavailable(f"The prediction service has no model loaded yet: {reason}")
        return card

    def explain(self, record: dict) -> dict:
        """``POST /predict?explain=true`` for one customer: its prediction and ``explain`` block."""
        return self._call("POST", "/predict", params={"explain": "true"}, json={"records": [record]}).json()

    def models(self) -> dict:
        """``GET /models``: the registered versions, their metrics and aliases, and why."""
        return self._call("GET", "/models").json()

    def predict(self, filename: str, content: bytes) -> tuple[dict, bytes]:
        """Score a CSV: the ranked JSON answer (with drift), and the scored CSV (input columns + the scores:
        probability, label (binary); label, probability_<class>... (multiclass); prediction (regression))."""
        files = {"file": (filename, content, "application/octet-stream")}
        ranked = self._call("POST", "/predict", params={"rank": "true", "drift": "true"}, files=files).json()
        scored_csv = self._call("POST", "/predict", files=files, headers={"Accept": "text/csv"}).content
        return ranked, scored_csv


def _json(answer: requests.Response):
    try:
        return answer.json()
    except ValueError:
        return None


def _detail(answer: requests.Response) -> str:
    body = _json(answer)
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return answer.text[:300] or answer.reason


# ------------------------------------------------------------------------------ what the page shows


def problems_html(detail: str, problems: list[Problem], title: str = "The file cannot be scored:") -> str:
    """A readable list of what is wrong (column, rows, message) instead of the JSON body."""
    items = problems or [Problem(None, detail)]
    rows = "".join(
        f"<li><b>{html.escape(p.column) if p.column else 'File'}</b>"
        f"{_rows_text(p)}: {html.escape(p.message)}</li>" for p in items)
    return f"<div class='problems'><p>{html.escape(title)}</p><ul>{rows}</ul></div>"


def alert_html(title: str, detail) -> str:
    """A red box: what is unavailable or failed (bold), then the reason."""
    return f"<div class='api-down'><b>{title}</b> {detail}</div>"


def drift_html(drift: list[dict] | None) -> str:
    """A warning table of the features whose population moved past the PSI alert, or a calm line."""
    if drift is None:
        return ""
    drifted = [r for r in drift if r["drifted"]]
    if not drifted:
        return (f"<p class='drift-ok'>No feature drifts from the training data (largest PSI "
                f"{max((r['psi'] for r in drift), default=0):.3f}, alert above {PSI_ALERT}).</p>")
    rows = "".join(
        f"<tr><td><b>{html.escape(r['column'])}</b></td><td>{r['psi']:.3f}</td><td>{html.escape(str(r['bin']))}</td>"
        f"<td>{r['training_share']:.1%}</td><td>{r['batch_share']:.1%}</td></tr>" for r in drifted)
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
                if v.get("run_url") else "")
        rows.append(
            f"<tr><td>v{html.escape(v['version'])}{serving}</td><td>{badges}</td>"
            f"<td>{html.escape(v['created_at'].replace('T', ' ').removesuffix('+00:00'))}</td>"
            + "".join(f"<td>{metrics[m]:.4f}</td>" if m in metrics else "<td></td>" for m in columns)
            + f"<td>{html.escape(v.get('decision') or '')}</td><td>{link}</td></tr>")
    if not rows:
        return "<p>No registered versions yet.</p>"
    names = "".join(f"<th>{'holdout ' if i == 0 else ''}{html.escape(METRIC_NAMES[m])}</th>"
                    for i, m in enumerate(columns))
    return ("<table class='history'><thead><tr><th>version</th><th>alias</th><th>registered (UTC)</th>"
            f"{names}<th>champion decision</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def scored_html(ranked: dict) -> str:
    """What was scored with which model, and the API's per-row warnings as a readable list."""
    text = (f"<p class='scored'>Scored {ranked['rows']:,} customers with {html.escape(ranked['model'])} "
            f"v{html.escape(str(ranked['version']))}.</p>")
    warnings = [Problem(**w) for w in ranked.get("warnings") or []]
    return text + (problems_html("", warnings, "Scored, with warnings:") if warnings else "")


def _rows_text(problem: Problem) -> str:
    if not problem.rows:
        return ""
    more = f" and {problem.count - len(problem.rows)} more" if problem.count > len(problem.rows) else ""
    return f" (row{'s' if problem.count > 1 else ''} {', '.join(map(str, problem.rows))}{more})"


def problem_of(card: dict | None) -> str:
    """The problem type of the model on ``card`` (binary when the card predates the field)."""
    card = card or {}
    problem = card.get("problem") or (card.get("input_schema") or {}).get("problem") or "binary"
    return problem if problem in PROBLEMS else "binary"


def classes_of(card: dict | None) -> list[str]:
    """The model's classes in the API's order (empty for regression)."""
    card = card or {}
    return [str(c) for c in card.get("classes") or (card.get("input_schema") or {}).get("classes") or []]


def problem_text(card: dict) -> str:
    """The problem type as the card says it, with the classes of a multiclass model (at most 8 named)."""
    problem = problem_of(card)
    if problem != "multiclass":
        return problem
    classes = classes_of(card)
    named = ", ".join(classes[:8]) + (", …" if len(classes) > 8 else "")
    return f"multiclass, {len(classes)} classes: {named}" if classes else "multiclass"


def _number(value: float) -> str:
    return f"{value:,.4f}"


def card_html(card: dict) -> str:
    """The model card: name, version, trained-at, algorithm, problem type, its headline holdout metrics
    (binary: AUC and the threshold; multiclass: logloss and accuracy; regression: RMSE and R²), and how the
    model was chosen (the rule, its serving speed, whether it explains, why it won)."""
    problem = problem_of(card)
    metrics = card.get("holdout_metrics") or {}
    headline = " &middot; ".join(
        f"<b>holdout {html.escape(METRIC_NAMES[m])}</b> {_number(metrics[m]) if m in metrics else 'n/a'}"
        for m in CARD_METRICS[problem])
    if problem == "binary":
        headline += f" &middot; <b>threshold</b> {card.get('threshold') or 0:.4f}"
    trained = (card.get("trained_at") or "")[:19].replace("T", " ")
    algorithm = (card.get("algorithm") or "").removesuffix("MojoModel")
    line = (f"<b>Model</b> {html.escape(card['name'])} <b>version</b> {html.escape(str(card['version']))}"
            f"{f' ({html.escape(algorithm)})' if algorithm else ''} &middot; <b>trained</b> {trained} UTC "
            f"&middot; <b>problem</b> {html.escape(problem_text(card))} &middot; {headline}")
    selection = card.get("selection")
    if selection:
        serving = selection.get("serving") or {}
        explains = "explains its scores" if serving.get("contributions") else "no per-feature explanations"
        line += (f"<br><b>chosen by</b> {html.escape(selection['rule'])} &middot; "
                 f"{serving.get('rows_per_s', 0):,.0f} rows/s &middot; {explains} "
                 f"<details><summary>why this model</summary>{html.escape(selection.get('reason', ''))}</details>")
    return f"<div class='model-card'>{line}</div>"


def preview(content: bytes, max_bytes: int, rows: int = 5) -> tuple[pd.DataFrame, int]:
    """The first ``rows`` rows and the row count of an uploaded CSV (raises DataContractError)."""
    frame = read_csv(content, max_bytes=max_bytes)
    return frame.head(rows), len(frame)


def ranking_title(problem: str) -> str:
    """The heading of the ranked table."""
    return {"binary": "Customers ranked by probability",
            "multiclass": "Rows ranked by the probability of their predicted class",
            "regression": "Rows ranked by prediction, largest first"}[problem]


def ranked_table(ranked: dict, scored: pd.DataFrame, id_column: str | None = None,
                 problem: str = "binary") -> pd.DataFrame:
    """The scored rows in the API's order: rank, id, the scores (binary: probability, label; multiclass: the
    predicted class (label) and its probability; regression: prediction), then the other columns."""
    predictions = ranked["predictions"]
    table = scored.iloc[[p["row"] - 1 for p in predictions]].reset_index(drop=True)
    table.insert(0, "rank", [p["rank"] for p in predictions])
    scores = list(RANKED_FIRST[problem])
    for column in scores:
        if column not in table.columns:  # multiclass: the winning class's probability is in the JSON only
            table[column] = ["" if p.get(column) is None else str(p[column]) for p in predictions]
    first = ["rank", *([id_column] if id_column in table.columns else []), *scores]
    return table[first + [c for c in table.columns if c not in first]]


def table_html(table: pd.DataFrame, css_class: str) -> str:
    """A plain HTML table (no index) in a box that scrolls sideways when the upload is wide."""
    return f"<div class='table-box'>{table.to_html(index=False, classes=css_class, border=0)}</div>"


def page(table: pd.DataFrame, number: int, size: int = PAGE_ROWS) -> pd.DataFrame:
    """Page ``number`` (0-based) of ``table``, clamped to the pages that exist."""
    last = max(0, (len(table) - 1) // size)
    number = min(max(number, 0), last)
    return table.iloc[number * size:(number + 1) * size]


def pages(table: pd.DataFrame, size: int = PAGE_ROWS) -> int:
    """How many pages ``table`` has."""
    return max(1, -(-len(table) // size))


def above(probability: np.ndarray, threshold: float) -> int:
    """How many customers have a probability at or above ``threshold``."""
    return int(np.count_nonzero(np.asarray(probability) >= threshold))


#: Columns the API adds to a scored CSV: not inputs of the model (multiclass adds probability_<class> too).
SCORE_COLUMNS = ("probability", "label", "rank", "prediction")


def is_score_column(column: str, classes: list[str] | None = None) -> bool:
    """Whether the API added ``column`` to a scored CSV: one of :data:`SCORE_COLUMNS`, or a multiclass
    ``probability_<class>`` (of one of ``classes``; of any class when they are not given)."""
    if column in SCORE_COLUMNS:
        return True
    if classes is None:
        return column.startswith("probability_")
    return column in {f"probability_{c}" for c in classes}


def customer_record(scored: pd.DataFrame, position: int, classes: list[str] | None = None) -> dict:
    """Row ``position`` of the scored CSV as the input record it came from (the API's own columns dropped)."""
    row = scored.iloc[position]
    return {k: v for k, v in row.items() if not is_score_column(str(k), classes)}


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


def reasons_png(answer: dict) -> bytes:
    """A small bar chart of one customer's top contributions and the rest, red up and blue down."""
    explanation = answer["predictions"][0]["explanation"]
    names = [t["feature"] for t in explanation["top"]] + ["all other features"]
    values = [t["contribution"] for t in explanation["top"]] + [explanation["other"]]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.barh(names[::-1], values[::-1], color=["#c44e52" if v > 0 else "#4c72b0" for v in values[::-1]])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(xlabel="contribution to the log-odds", title="Why this customer scores as they do")
    return _png(fig)


def histogram_png(probability: np.ndarray, threshold: float) -> bytes:
    """Histogram of the probabilities with the threshold marked."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(probability, bins=50, color="#4c72b0")
    ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="probability of the positive class", ylabel="customers", title="Scores")
    ax.legend()
    return _png(fig)


def gains_png(probability: np.ndarray, labels: np.ndarray | None) -> bytes:
    """Cumulative gains: share of positives captured against share of customers contacted, best first.

    With the true labels when the upload has the target column; otherwise the expected gains, taking
    each customer's probability as their chance of being a positive.
    """
    truth = labels if labels is not None else np.asarray(probability)
    gains = cumulative_gains(truth, probability)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(gains.share_contacted, gains.share_of_positives,
            label="model" if labels is not None else "model (expected, from the probabilities)")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random order")
    ax.set(xlabel="share of customers contacted", ylabel="share of positives captured",
           title="Cumulative gains")
    ax.legend(loc="lower right")
    return _png(fig)


def class_counts(labels, classes: list[str]) -> pd.Series:
    """How many rows are predicted as each class, in the model's class order (zeros kept; a label the
    card does not list comes last)."""
    counts = pd.Series(list(labels), dtype=object).value_counts()
    order = list(classes) + sorted(str(c) for c in counts.index if c not in classes)
    return counts.reindex(order, fill_value=0).astype(int)


def class_counts_png(counts: pd.Series) -> bytes:
    """Bar chart of the predicted class counts."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar([str(c) for c in counts.index], counts.to_numpy(), color="#4c72b0")
    ax.set(xlabel="predicted class", ylabel="rows", title="Predicted classes")
    if len(counts) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    return _png(fig)


def true_classes(frame: pd.DataFrame, card: dict) -> pd.Series | None:
    """The upload's true classes (canonical text, NaN where missing) when it carries the target column."""
    target = (card.get("input_schema") or {}).get("target")
    if not target or target not in frame.columns:
        return None
    return canonical_levels(frame[target].reset_index(drop=True))


def confusion(truth, predicted, classes: list[str]) -> pd.DataFrame:
    """Counts of true class (rows) against predicted class (columns), in the model's class order, over the
    rows whose true class is known (a class the model does not know comes last)."""
    truth, predicted = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    known = pd.notna(truth)
    matrix = pd.crosstab(pd.Series(truth[known], name="true").astype(str),
                         pd.Series(predicted[known], name="predicted").astype(str))
    rows = list(classes) + sorted(set(matrix.index) - set(classes))
    columns = list(classes) + sorted(set(matrix.columns) - set(classes))
    return matrix.reindex(index=rows, columns=columns, fill_value=0).astype(int)


def accuracy_html(matrix: pd.DataFrame) -> str:
    """The accuracy on this file: the share of rows with a known class whose class was predicted."""
    total = int(matrix.to_numpy().sum())
    if not total:
        return "<p class='fit'>No row of this file has a known class: no accuracy.</p>"
    correct = int(sum(matrix.at[c, c] for c in matrix.index if c in matrix.columns))
    return (f"<p class='fit'><b>Accuracy on this file</b> {correct / total:.1%} "
            f"({correct:,} of {total:,} rows with a known class predicted right)</p>")


def confusion_png(matrix: pd.DataFrame) -> bytes:
    """The confusion matrix as a heat map with the counts written in."""
    size = max(3.2, 0.5 * len(matrix.columns) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ax.imshow(matrix.to_numpy(), cmap="Blues")
    ax.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), [str(c) for c in matrix.index])
    high = matrix.to_numpy().max(initial=0)
    for (i, j), count in np.ndenumerate(matrix.to_numpy()):
        ax.text(j, i, f"{count:,}", ha="center", va="center", color="white" if count > high / 2 else "black")
    ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (this file)")
    return _png(fig)


def prediction_histogram_png(prediction: np.ndarray) -> bytes:
    """Histogram of the predicted values."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(np.asarray(prediction, dtype=float), bins=50, color="#4c72b0")
    ax.set(xlabel="prediction", ylabel="rows", title="Predictions")
    return _png(fig)


def actual_values(frame: pd.DataFrame, card: dict) -> np.ndarray | None:
    """The upload's actual target values as numbers (NaN where missing or not a number) when it carries
    the target column."""
    target = (card.get("input_schema") or {}).get("target")
    if not target or target not in frame.columns:
        return None
    values = pd.to_numeric(frame[target].reset_index(drop=True), errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def residual_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict | None:
    """RMSE and MAE over the rows whose actual value is known (None when there is none)."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    known = np.isfinite(actual)
    if not known.any():
        return None
    error = predicted[known] - actual[known]
    return {"rows": int(known.sum()), "rmse": float(np.sqrt(np.mean(error ** 2))),
            "mae": float(np.mean(np.abs(error)))}


def residuals_html(metrics: dict | None) -> str:
    """RMSE and MAE on this file, or why there are none."""
    if metrics is None:
        return "<p class='fit'>No row of this file has a known actual value: no RMSE or MAE.</p>"
    return (f"<p class='fit'><b>RMSE on this file</b> {_number(metrics['rmse'])} &middot; "
            f"<b>MAE</b> {_number(metrics['mae'])} ({metrics['rows']:,} rows with a known actual value)</p>")


def actual_vs_predicted_png(actual: np.ndarray, predicted: np.ndarray) -> bytes:
    """Predicted against actual values (the rows whose actual value is known), with the diagonal."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    known = np.isfinite(actual)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.scatter(actual[known], predicted[known], s=8, alpha=0.5, color="#4c72b0")
    if known.any():
        low = min(actual[known].min(), predicted[known].min())
        high = max(actual[known].max(), predicted[known].max())
        ax.plot([low, high], [low, high], linestyle="--", color="grey", label="prediction = actual")
        ax.legend(loc="upper left")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted against actual (this file)")
    return _png(fig)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def download_link(content: bytes, filename: str) -> str:
    """An ``<a download>`` link carrying the scored CSV (no server round trip, no CDN)."""
    encoded = base64.b64encode(content).decode()
    return (f"<a class='download-link' download='{html.escape(filename)}' "
            f"href='data:text/csv;base64,{encoded}'>Download {html.escape(filename)}</a>")


def scored_filename(uploaded: str) -> str:
    """``customers.csv.gz`` -> ``customers-scored.csv``."""
    stem = uploaded
    for suffix in (".gz", ".csv"):
        stem = stem.removesuffix(suffix)
    return f"{stem or 'customers'}-scored.csv"


def target_labels(frame: pd.DataFrame, card: dict) -> np.ndarray | None:
    """The upload's true labels (1 = positive class) when it carries the model's target column."""
    schema = card.get("input_schema") or {}
    target, positive = schema.get("target"), str(schema.get("positive_class", "1"))
    if not target or target not in frame.columns:
        return None
    return positive_labels(frame[target], positive)


__all__ = ["ApiClient", "ApiRejected", "ApiUnavailable", "DashboardSettings", "DataContractError"]
