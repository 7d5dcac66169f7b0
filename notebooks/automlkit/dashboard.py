"""The Voilà dashboard (``notebooks/dashboard.ipynb``): upload customers, score them through the API, see
and download the ranking. It talks to the prediction API over HTTP only (``API_URL``); nothing here knows
the columns of any data set: the model card and the API's answers say what the model needs and what kind
of problem it solves (binary, multiclass or regression), and the page adapts to that. Before a file is sent it
is checked against the schema on the model card with the API's own rules (``automlkit.schema``), and a file
is scored once: the API's ranked CSV answer is both the download and what the page shows.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402
from urllib3.fields import RequestField  # noqa: E402

from .errors import AutomlKitError, DataContractError, Problem, ServiceError  # noqa: E402
from .drift import PSI_ALERT, batch_drift  # noqa: E402
from .metrics import cumulative_gains  # noqa: E402
from .schema import Schema, canonical_levels, conform, decode_csv, parse_csv, positive_labels, read_csv  # noqa: E402
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

    def __init__(self, detail: str, problems: list[Problem], status: int | None = None):
        super().__init__(detail)
        self.detail, self.problems, self.status = detail, problems, status


class ApiClient:
    """The API calls the dashboard makes: the model card, the versions, a file scored, a customer explained."""

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
            raise ApiRejected(_detail(answer), problems, answer.status_code)
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

    def monitoring(self, since: str, every: str = "day") -> dict:
        """``GET /monitoring?since=…&every=day|hour``: what was scored, drift and realised metrics over time."""
        return self._call("GET", "/monitoring", params={"since": since, "every": every}).json()

    def predict(self, filename: str, content: bytes, destination: Path, drift: bool = False,
                sent: Callable[[int, int], None] | None = None,
                received: Callable[[int, int], None] | None = None) -> "ScoredFile":
        """Score a CSV once: ``POST /predict?rank=true`` with ``Accept: text/csv``, the file streamed up (``sent``
        is called with the bytes sent and the total) and the API's ranked CSV answer (the input columns as sent,
        the scores, ``rank``; most likely first) streamed straight into ``destination`` (``received``: bytes
        received, and the total when the API says it). With ``drift``, the API's ``X-Drift`` header too."""
        body = UploadBody(filename, content, sent)
        params = {"rank": "true", **({"drift": "true"} if drift else {})}
        answer = self._call("POST", "/predict", params=params, data=body, stream=True,
                            headers={"Content-Type": body.content_type, "Accept": "text/csv"})
        total, done = int(answer.headers.get("Content-Length") or 0), 0
        try:
            with answer, open(destination, "wb") as out:
                for chunk in answer.iter_content(DOWNLOAD_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if received:
                        received(done, total)
        except requests.RequestException as exc:
            raise ApiUnavailable(f"The prediction service stopped answering halfway: {exc}") from exc
        header = answer.headers.get("X-Drift")
        return ScoredFile(Path(destination), answer.headers.get("X-Model-Name", ""),
                          answer.headers.get("X-Model-Version", ""), done,
                          drift_from_header(header) if header is not None else None,
                          warnings_from_header(answer.headers.get("X-Warnings")))


#: Bytes per chunk when streaming a file to the API or its answer to disk.
UPLOAD_CHUNK = DOWNLOAD_CHUNK = 1024 * 1024


@dataclass
class ScoredFile:
    """The API's ranked CSV answer, written to ``path`` (``size`` bytes), and the model that made it."""

    path: Path
    model: str
    version: str
    size: int
    #: the drifted features from ``X-Drift`` (name and PSI only), when drift was asked of the API
    drift: list[dict] | None = None
    #: the per-row warnings from ``X-Warnings``, when the API sends them
    warnings: list[Problem] = field(default_factory=list)


def warnings_from_header(header: str | None) -> list[Problem]:
    """The API's ``X-Warnings`` header (a JSON array of problems) as problems; nothing when absent or unreadable."""
    try:
        return [Problem(**w) for w in json.loads(header or "[]")]
    except (ValueError, TypeError):
        return []


class UploadBody:
    """A CSV as one ``multipart/form-data`` body (field ``file``), read in chunks so the bytes sent can be
    counted (``on_read(sent, total)``); the file's bytes are not copied."""

    def __init__(self, filename: str, content: bytes, on_read: Callable[[int, int], None] | None = None):
        boundary = secrets.token_hex(16)
        part = RequestField(name="file", data=b"", filename=filename)
        part.make_multipart(content_type="application/octet-stream")
        self._parts = [f"--{boundary}\r\n{part.render_headers()}".encode(), memoryview(content),
                       f"\r\n--{boundary}--\r\n".encode()]
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._length = sum(len(p) for p in self._parts)
        self._offset = 0
        self._on_read = on_read

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(UPLOAD_CHUNK):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative) from where the last read stopped."""
        size = self._length - self._offset if size is None or size < 0 else size
        out, start = [], self._offset
        position = 0
        for part in self._parts:
            end = position + len(part)
            if self._offset < end and size > 0:
                take = min(end - self._offset, size)
                out.append(bytes(part[self._offset - position:self._offset - position + take]))
                self._offset += take
                size -= take
            position = end
        if self._on_read and self._offset > start:
            self._on_read(self._offset, self._length)
        return b"".join(out)


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
        f"<li><b>{html.escape(str(p.column)) if p.column else 'File'}</b>"
        f"{_rows_text(p)}: {html.escape(p.message)}</li>" for p in items)
    return f"<div class='problems'><p>{html.escape(title)}</p><ul>{rows}</ul></div>"


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


def drift_from_header(header: str) -> list[dict]:
    """The API's ``X-Drift`` header (``name=psi,...`` or ``none``) as drift rows (name and PSI only)."""
    rows = []
    for item in header.split(","):
        name, _, value = item.strip().rpartition("=")
        try:
            psi = float(value)
        except ValueError:
            continue
        if name:
            rows.append({"column": name, "psi": psi, "drifted": True})
    return rows


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
    names = "".join(f"<th>{'holdout ' if i == 0 else ''}{html.escape(METRIC_NAMES[m])}</th>"
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


def card_html(card: dict, run_url: str | None = None) -> str:
    """The model card: name, version, trained-at, algorithm, problem type, its headline holdout metrics
    (binary: AUC and the threshold; multiclass: logloss and accuracy; regression: RMSE and R²), how the
    model was chosen (the rule, its serving speed, whether it explains, why it won), a link to its training
    run in MLflow (``run_url``, from ``GET /models``) and its variable importance as a bar chart."""
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


def importance_png(importance: list[dict]) -> bytes:
    """Horizontal bars of the model's top variables by H2O's scaled importance, the largest on top."""
    names = [str(v["variable"]) for v in importance][::-1]
    values = [float(v["scaled_importance"]) for v in importance][::-1]
    fig, ax = plt.subplots(figsize=(5, 0.25 * len(names) + 1))
    ax.barh(names, values, color="#4c72b0")
    ax.set(xlabel="scaled importance (H2O)", title="What the model relies on")
    return _png(fig)


def preview(content: bytes, max_bytes: int, rows: int = 5) -> tuple[pd.DataFrame, int]:
    """The first ``rows`` rows and the row count of an uploaded CSV (raises DataContractError)."""
    frame = read_csv(content, max_bytes=max_bytes)
    return frame.head(rows), len(frame)


@dataclass
class Checked:
    """An upload checked against the served model's input schema before it is sent."""

    rows: int
    #: what the API would warn about too: unseen categories, numbers outside the training range, extra columns
    warnings: list[Problem] = field(default_factory=list)
    #: each feature's population stability index against the training data (None: the card has no reference)
    drift: list[dict] | None = None
    #: whether the card's schema was checked (else only the CSV itself: the API checks the rest)
    schema_checked: bool = False


def schema_of(card: dict | None) -> Schema | None:
    """The served model's input schema from its card (None when the card has none this package can read)."""
    try:
        return Schema.from_dict((card or {})["input_schema"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def check_upload(content: bytes, card: dict | None, max_bytes: int,
                 step: Callable[[float, str], None] | None = None) -> Checked:
    """Check an upload with the API's own rules (``automlkit.schema``: the same code, the same messages) against
    the schema on the model card, before anything is sent: raises :class:`DataContractError` naming columns and
    rows; returns the row count, the warnings and the drift against the training data (``automlkit.drift``).
    Without a readable schema only the CSV itself is checked (the API checks the rest). ``step(fraction, what)``
    follows the work."""
    step = step or (lambda fraction, what: None)
    text = decode_csv(content, max_bytes)
    schema = schema_of(card)
    step(0.2, "reading the rows")
    if schema is None:
        return Checked(len(parse_csv(text)))
    frame = parse_csv(text, numeric=[c.name for c in schema.columns if c.kind == "numeric"])
    step(0.5, f"checking {len(frame):,} rows against the model's {len(schema.columns)} columns")
    conformed = conform(frame, schema)
    step(0.9, "comparing with the training data")
    drift = (batch_drift(schema.drift_reference, conformed.features, len(frame)) if schema.drift_reference
             else None)
    return Checked(len(frame), conformed.warnings, drift, schema_checked=True)


def ranking_title(problem: str) -> str:
    """The heading of the ranked table."""
    return {"binary": "Customers ranked by probability",
            "multiclass": "Rows ranked by the probability of their predicted class",
            "regression": "Rows ranked by prediction, largest first"}[problem]


def read_scored(path: str | Path) -> pd.DataFrame:
    """The API's CSV answer as text cells, exactly as written (every digit kept)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def predicted_probability(scored: pd.DataFrame, classes: list[str] | None = None) -> pd.Series:
    """Per row of a multiclass answer, the probability of its predicted class (``probability_<label>``)."""
    out = pd.Series("", index=scored.index, dtype=object)
    if "label" not in scored.columns:
        return out
    names = classes or [c.removeprefix("probability_") for c in scored.columns if c.startswith("probability_")]
    for name in names:
        column = f"probability_{name}"
        if column in scored.columns:
            chosen = (scored["label"] == name).to_numpy()
            out[chosen] = scored.loc[chosen, column].to_numpy()
    return out


def ranked_table(scored: pd.DataFrame, id_column: str | None = None, problem: str = "binary",
                 classes: list[str] | None = None) -> pd.DataFrame:
    """The API's ranked CSV answer as the table shows it: rank, id, the scores (binary: probability, label;
    multiclass: the predicted class (label) and its probability; regression: prediction), then the other
    columns. The rows keep the API's order (``rank``; added 1, 2, ... when the answer has none)."""
    table = scored.reset_index(drop=True)
    if "rank" not in table.columns:
        table.insert(0, "rank", [str(k) for k in range(1, len(table) + 1)])
    if problem == "multiclass" and "probability" not in table.columns:
        table = table.assign(probability=predicted_probability(table, classes))
    first = list(dict.fromkeys(c for c in ("rank", id_column, *RANKED_FIRST[problem]) if c in table.columns))
    return table[first + [c for c in table.columns if c not in first]]


#: Significant digits of a probability in the tables (the download keeps every digit).
PROBABILITY_DIGITS = 4


def significant(value, digits: int = PROBABILITY_DIGITS) -> str:
    """A number (as the API wrote it) with ``digits`` significant digits, trailing zeros kept (0.5 -> 0.5000);
    anything that is not a finite number is shown as it is."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return f"{number:#.{digits}g}" if math.isfinite(number) else str(value)


def is_probability_column(column: str, classes: list[str] | None = None) -> bool:
    """``probability``, or a multiclass ``probability_<class>`` (see :func:`is_score_column`)."""
    return column == "probability" or (column.startswith("probability_") and is_score_column(column, classes))


def shown_rows(rows: pd.DataFrame, classes: list[str] | None = None) -> pd.DataFrame:
    """``rows`` as the table shows them: probabilities with :data:`PROBABILITY_DIGITS` significant digits."""
    shown = rows.copy()
    for column in shown.columns:
        if is_probability_column(str(column), classes):
            shown[column] = [significant(v) for v in shown[column]]
    return shown


def table_html(table: pd.DataFrame, css_class: str) -> str:
    """A plain HTML table (no index; every cell and header escaped) in a box that scrolls sideways when the
    upload is wide."""
    return f"<div class='table-box'>{table.to_html(index=False, classes=css_class, border=0, escape=True)}</div>"


def matching(table: pd.DataFrame, search: str) -> np.ndarray:
    """Which rows hold ``search`` in any cell (as text, ignoring case; empty: every row)."""
    needle = search.strip()
    found = np.ones(len(table), dtype=bool) if not needle else np.zeros(len(table), dtype=bool)
    if needle:
        for column in table.columns:
            cells = table[column]
            if not pd.api.types.is_string_dtype(cells):
                cells = cells.astype(str)
            found |= cells.str.contains(needle, case=False, regex=False).fillna(False).to_numpy(dtype=bool)
    return found


def sort_key(cells: pd.Series) -> pd.Series:
    """What a column sorts by: numbers by value when every non-empty cell is a number, else the text ignoring
    case; empty cells are missing (sorted last)."""
    text = cells.astype(str) if not pd.api.types.is_string_dtype(cells) else cells
    empty = (text.str.strip() == "").to_numpy(dtype=bool)
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    if (numbers.notna().to_numpy() | empty).all() and not empty.all():
        return numbers
    return text.str.lower().where(~empty)


def arrange(table: pd.DataFrame, sort_by: str | None = None, descending: bool = False,
            search: str = "") -> np.ndarray:
    """The positions of the rows of ``table`` to show, in order: those matching ``search``
    (:func:`matching`), sorted by ``sort_by`` (:func:`sort_key`; ties keep the table's order, empty cells
    last either way); ``sort_by`` None or not a column: the table's order."""
    positions = np.flatnonzero(matching(table, search))
    if sort_by is None or sort_by not in table.columns or len(positions) < 2:
        return positions
    key = sort_key(table[sort_by].iloc[positions]).reset_index(drop=True)
    order = key.sort_values(ascending=not descending, kind="stable", na_position="last").index.to_numpy()
    return positions[order]


def pages(rows: pd.DataFrame | np.ndarray | int, size: int = PAGE_ROWS) -> int:
    """How many pages ``rows`` (a table, positions or a count) fill (at least one)."""
    count = rows if isinstance(rows, int) else len(rows)
    return max(1, -(-count // size))


def clamp_page(number: int, rows: pd.DataFrame | np.ndarray | int, size: int = PAGE_ROWS) -> int:
    """Page ``number`` (0-based) within the pages that exist."""
    return min(max(number, 0), pages(rows, size) - 1)


def page(table: pd.DataFrame, number: int, size: int = PAGE_ROWS,
         positions: np.ndarray | None = None) -> pd.DataFrame:
    """Page ``number`` (0-based, clamped to the pages that exist) of ``table``, or of its rows at
    ``positions`` (:func:`arrange`) in that order."""
    order = np.arange(len(table)) if positions is None else positions
    number = clamp_page(number, order, size)
    return table.iloc[order[number * size:(number + 1) * size]]


def page_text(number: int, positions: np.ndarray | int, total: int, search: str = "") -> str:
    """``page 2 of 20`` and, while searching, how many rows match."""
    count = positions if isinstance(positions, int) else len(positions)
    text = f"page {number + 1} of {pages(count)}"
    if search.strip():
        text += f" · {count:,} of {total:,} rows match “{search.strip()}”"
    return text


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


def _png(fig, tight: bool = True) -> bytes:
    """The figure as PNG bytes (laid out tight unless ``tight`` is false: the caller placed its axes)."""
    buffer = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


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


def scored_filename(uploaded: str) -> str:
    """``customers.csv.gz`` -> ``customers-scored.csv``."""
    stem = uploaded
    for suffix in (".gz", ".csv"):
        stem = stem.removesuffix(suffix)
    return f"{stem or 'customers'}-scored.csv"


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
    widgets cannot). It (1) asks the server every few seconds, and at once when the tab comes back into view,
    whether this page's kernel still exists (``GET api/kernels/<id>``, 404 once it is culled after
    ``cull_idle_seconds`` without use) and when it is gone covers the page with a message and a Reload button;
    and (2) shows the progress of a large upload as the browser sends it (the widget's message leaves through
    the kernel's websocket: its ``bufferedAmount`` says how much is still to go) in ``.upload-progress``."""
    poll_ms = 1000 * max(1, min(30, cull_idle_seconds // 4))
    culled = (f"This page was not used for {duration_text(cull_idle_seconds)}, so the server closed its session "
              "to free memory: the upload and the results on it are gone. Reload the page to start again.")
    unreachable = "The dashboard server does not answer: the page cannot work until it is back. Reload to retry."
    return SCRIPT_TEMPLATE.replace("__POLL_MS__", str(poll_ms)).replace(
        "__CULLED__", html.escape(culled)).replace("__UNREACHABLE__", html.escape(unreachable))


SCRIPT_TEMPLATE = """<style>
.session-ended { position: fixed; inset: 0; z-index: 10000; background: rgba(255, 255, 255, 0.85);
  display: flex; align-items: flex-start; justify-content: center; padding-top: 15vh; }
.session-ended-box { max-width: 560px; color: #8a1c1c; background: #fdecea; border: 1px solid #e0a0a0;
  border-radius: 6px; padding: 14px 18px; font-size: 15px; box-shadow: 0 2px 12px rgba(0, 0, 0, 0.2); }
.session-ended-box button { font-size: 14px; padding: 4px 14px; }
.upload-progress progress { width: 200px; vertical-align: middle; }
</style>
<div class="page-script" data-culled="__CULLED__" data-unreachable="__UNREACHABLE__"></div>
<script>
(function () {
  if (window.automlDashboardScript) { return; }
  window.automlDashboardScript = true;
  var texts = document.querySelector('.page-script').dataset;
  var node = document.getElementById('jupyter-config-data');
  var config = node ? JSON.parse(node.textContent) : {};
  var base = config.baseUrl || '/';
  if (base.slice(-1) !== '/') { base += '/'; }
  var kernelUrl = config.kernelId ? base + 'api/kernels/' + encodeURIComponent(config.kernelId) : null;
  var ended = false, failures = 0;

  function end(reason, text) {
    if (ended) { return; }
    ended = true;
    var cover = document.createElement('div');
    cover.className = 'session-ended';
    cover.dataset.reason = reason;
    cover.setAttribute('role', 'alertdialog');
    var box = document.createElement('div');
    box.className = 'session-ended-box';
    var message = document.createElement('p');
    message.textContent = text;
    var button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Reload the page';
    button.addEventListener('click', function () { window.location.reload(); });
    box.appendChild(message);
    box.appendChild(button);
    cover.appendChild(box);
    document.body.appendChild(cover);
  }

  function check() {
    if (ended || !kernelUrl) { return; }
    fetch(kernelUrl, {cache: 'no-store', credentials: 'same-origin'}).then(function (answer) {
      failures = 0;
      if (answer.status === 404) { end('culled', texts.culled); }
    }).catch(function () {
      failures += 1;
      if (failures >= 2) { end('unreachable', texts.unreachable); }
    });
  }
  setInterval(check, __POLL_MS__);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { check(); } });
  window.addEventListener('focus', check);

  var LARGE = 1024 * 1024;
  function mb(bytes) { return (bytes / 1048576).toFixed(1) + ' MB'; }
  function show(total, sent, done) {
    document.querySelectorAll('.upload-progress').forEach(function (slot) {
      var bar = document.createElement('progress');
      bar.max = total;
      bar.value = sent;
      var label = document.createElement('span');
      label.textContent = done ? ' Sent ' + mb(total) + ' to the dashboard; reading it…'
                               : ' Uploading ' + mb(sent) + ' of ' + mb(total) + '…';
      slot.replaceChildren(bar, label);
      slot.dataset.total = total;
      slot.dataset.sent = sent;
    });
  }
  var send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    var size = (data && (data.byteLength || data.size || data.length)) || 0;
    var before = this.bufferedAmount;
    var result = send.apply(this, arguments);
    if (size >= LARGE) {
      var socket = this;
      (function follow() {
        var left = Math.max(0, socket.bufferedAmount - before);
        var going = left > 0 && socket.readyState === WebSocket.OPEN;
        show(size, size - Math.min(left, size), !going);
        if (going) { setTimeout(follow, 150); }
      })();
    }
    return result;
  };
})();
</script>"""


def target_labels(frame: pd.DataFrame, card: dict) -> np.ndarray | None:
    """The upload's true labels (1 = positive class) when it carries the model's target column."""
    schema = card.get("input_schema") or {}
    target, positive = schema.get("target"), str(schema.get("positive_class", "1"))
    if not target or target not in frame.columns:
        return None
    return positive_labels(frame[target], positive)


__all__ = ["ApiClient", "ApiRejected", "ApiUnavailable", "DashboardSettings", "DataContractError"]
