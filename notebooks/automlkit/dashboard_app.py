"""The dashboard's widgets and what each does (the notebook only builds and displays :class:`Dashboard`)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd

from . import dashboard_charts as charts
from . import dashboard_markup as markup
from . import dashboard_monitoring as monitoring
from .dashboard_card import classes_of, problem_of
from .dashboard_client import ApiClient, ApiRejected, ApiUnavailable
from .dashboard_fit import class_counts, residual_metrics, upload_truth
from .dashboard_table import (above, arrange, clamp_page, customer_record, page, page_text, pages, ranked_table,
                              read_scored, shown_rows)
from .dashboard_server import DownloadFolder
from .dashboard_upload import check_upload, preview, scored_filename
from .errors import DataContractError
from .metrics import confusion_counts
from .settings import DashboardSettings

log = logging.getLogger(__name__)

#: The parts of the results each problem type shows (the ranked table, drift and download always show).
SECTIONS = {"binary": ("binary_charts", "threshold_row", "reasons_section"),
            "multiclass": ("problem_charts", "fit_box", "reasons_note"),
            "regression": ("problem_charts", "fit_box", "reasons_note")}


class Dashboard:
    """Model card, upload, preview, Predict, ranked table, charts, threshold slider and download; the charts
    and controls follow the served model's problem type (see :data:`SECTIONS`). Beside them the Model history
    tab (``GET /models``) and the Monitoring tab (``GET /monitoring``, :mod:`automlkit.dashboard_monitoring`)."""

    def __init__(self, settings: DashboardSettings | None = None, downloads: DownloadFolder | None = None):
        self.settings = settings or DashboardSettings.load()
        self.client = ApiClient(self.settings)
        self.downloads = downloads or DownloadFolder.from_environment()
        self.card: dict | None = None
        self.upload_name, self.upload_content = "", b""
        self.table = pd.DataFrame()
        self.order = np.empty(0, dtype=int)  # the rows shown, in order (sort and search applied)
        self.probability = np.empty(0)
        self.page_number = 0
        self.problem = "binary"
        self._quiet = False  # set while the page moves the table controls itself
        self._uploads = 0

        self.card_box = widgets.HTML(layout=widgets.Layout(margin="0 0 8px 0"))
        self.retry = widgets.Button(description="Retry", layout=widgets.Layout(display="none"))
        self.tabs = widgets.Tab(children=[self._scoring_tab(), self._history_tab(), self._monitoring_tab()])
        for index, title in enumerate(("Score customers", "Model history", "Monitoring")):
            self.tabs.set_title(index, title)
        self.widget = widgets.VBox([widgets.HTML(markup.page_style()), widgets.HBox([self.card_box, self.retry]),
                                    self.tabs])
        self._connect()
        self.load_card()

    def _scoring_tab(self) -> widgets.VBox:
        """The upload, its preview, Predict and its progress, the messages and the results."""
        limit_mb = self.settings.max_upload_bytes / (1024 * 1024)
        self.upload = widgets.FileUpload(accept=".csv,.gz,.csv.gz", multiple=False,
                                         description="Upload CSV")
        self.upload_help = widgets.HTML(f"<small>CSV or .csv.gz with a header row, up to {limit_mb:.0f} MB.</small>")
        self.upload_progress = widgets.HTML(self._progress_slot())
        self.status = widgets.HTML()
        self.preview_box = widgets.HTML()
        self.predict_button = widgets.Button(description="Predict", button_style="primary", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=100, description="",
                                            layout=widgets.Layout(visibility="hidden", width="240px"))
        self.stage = widgets.HTML()
        self.messages = widgets.HTML()
        self.drift_box = widgets.HTML()
        self.download_box = widgets.HTML()
        self.results = widgets.VBox([
            self.drift_box, *self._ranked_table_rows(), *self._charts_rows(), self.download_box,
        ], layout=widgets.Layout(display="none"))
        return widgets.VBox([
            widgets.HBox([self.upload, self.upload_help, self.upload_progress]), self.status, self.preview_box,
            widgets.HBox([self.predict_button, self.progress, self.stage]), self.messages, self.results,
        ])

    def _ranked_table_rows(self) -> list[widgets.Widget]:
        """The ranked table's title, sort and search controls, the table and its pager."""
        self.ranking_title = widgets.HTML(f"<h3>{markup.ranking_title('binary')}</h3>")
        self.sort_by = widgets.Dropdown(description="Sort by", options=["rank"], value="rank",
                                        layout=widgets.Layout(width="260px"))
        self.sort_order = widgets.Dropdown(description="Order", options=[("ascending", False), ("descending", True)],
                                           value=False, layout=widgets.Layout(width="200px"))
        self.search = widgets.Text(description="Search", placeholder="text in any column, then Enter",
                                   continuous_update=False, layout=widgets.Layout(width="320px"))
        self.table_box = widgets.HTML()
        self.prev_button = widgets.Button(description="Previous", disabled=True)
        self.next_button = widgets.Button(description="Next", disabled=True)
        self.page_label = widgets.Label()
        self.page_input = widgets.BoundedIntText(value=1, min=1, max=1, description="Go to page",
                                                 layout=widgets.Layout(width="170px"))
        return [self.ranking_title, widgets.HBox([self.sort_by, self.sort_order, self.search]), self.table_box,
                widgets.HBox([self.prev_button, self.page_label, self.next_button, self.page_input])]

    def _charts_rows(self) -> list[widgets.Widget]:
        """Each problem type's charts and controls (:data:`SECTIONS` says which show): binary's histogram, gains,
        threshold and reasons; multiclass's and regression's distribution, fit chart and fit figures."""
        self.histogram, self.gains = _image("480px"), _image("480px")
        self.threshold = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.005, readout_format=".3f",
                                             description="Threshold", continuous_update=False,
                                             layout=widgets.Layout(width="480px"))
        self.above_label = widgets.HTML()
        self.customer = widgets.Dropdown(description="Customer", options=[], layout=widgets.Layout(width="420px"))
        self.reasons_box = widgets.HTML()
        self.reasons_chart = _image("480px", display="none")
        self.distribution = _image("480px")
        self.truth_chart = _image("420px", display="none")
        self.binary_charts = widgets.HBox([self.histogram, self.gains])
        self.threshold_row = widgets.HBox([self.threshold, self.above_label])
        self.problem_charts = widgets.HBox([self.distribution, self.truth_chart])
        self.fit_box = widgets.HTML()
        self.reasons_section = widgets.VBox([
            widgets.HTML("<h3>Why a customer scores high or low</h3>"), self.customer,
            widgets.HBox([self.reasons_chart, self.reasons_box])])
        self.reasons_note = widgets.HTML("<p><i>Per-row explanations are shown for binary models only.</i></p>")
        return [self.binary_charts, self.threshold_row, self.problem_charts, self.fit_box, self.reasons_section,
                self.reasons_note]

    def _history_tab(self) -> widgets.VBox:
        """The registered versions (``GET /models``) and a Refresh button."""
        self.history_box = widgets.HTML()
        self.history_refresh = widgets.Button(description="Refresh")
        return widgets.VBox([self.history_refresh, self.history_box])

    def _monitoring_tab(self) -> widgets.VBox:
        """The window and period of ``GET /monitoring``, a Refresh button, and what it answers."""
        self.monitoring_window = widgets.Dropdown(description="Since", options=monitoring.WINDOWS, value=7,
                                                  layout=widgets.Layout(width="240px"))
        self.monitoring_every = widgets.ToggleButtons(options=monitoring.EVERY, value="day")
        self.monitoring_refresh = widgets.Button(description="Refresh")
        self.monitoring_box = widgets.HTML()
        return widgets.VBox([
            widgets.HBox([self.monitoring_window, self.monitoring_every, self.monitoring_refresh]),
            self.monitoring_box])

    def _connect(self) -> None:
        """What each button, control and tab does."""
        self.retry.on_click(lambda _: self.load_card())
        self.upload.observe(self.on_upload, names="value")
        self.predict_button.on_click(lambda _: self.on_predict())
        self.prev_button.on_click(lambda _: self.show_page(self.page_number - 1))
        self.next_button.on_click(lambda _: self.show_page(self.page_number + 1))
        self.page_input.observe(lambda change: self._unless_quiet(self.show_page, change["new"] - 1), names="value")
        for control in (self.sort_by, self.sort_order, self.search):
            control.observe(lambda _: self._unless_quiet(self.rearrange), names="value")
        self.threshold.observe(lambda change: self.show_threshold(change["new"]), names="value")
        self.history_refresh.on_click(lambda _: self.load_history())
        self.customer.observe(lambda change: self.show_reasons(change["new"]), names="value")
        self.monitoring_refresh.on_click(lambda _: self.load_monitoring())
        for control in (self.monitoring_window, self.monitoring_every):
            control.observe(lambda _: self.load_monitoring(), names="value")
        self.tabs.observe(lambda change: self.on_tab(change["new"]), names="selected_index")

    def show(self) -> None:
        """Display the page: its script (the culled-session message, the upload's progress), then the widgets."""
        from IPython.display import HTML, display

        display(HTML(markup.page_script(self.settings.cull_idle_seconds)), self.widget)

    # ------------------------------------------------------------------------------------------ steps

    def load_card(self) -> None:
        """Fetch ``GET /model``; when the API is down say so and offer Retry."""
        try:
            self.card = self.client.model_card()
        except (ApiUnavailable, ApiRejected) as exc:
            self.card = None
            self.card_box.value = markup.alert_html("The prediction service is unavailable.",
                                                  f"{exc} Try again in a moment.")
            self.retry.layout.display = "inline-flex"
        else:
            self.card_box.value = markup.card_html(self.card, self._run_url())
            self.retry.layout.display = "none"
            self.threshold.value = float(self.card.get("threshold") or 0.5)
        self._enable_predict()

    def _run_url(self) -> str | None:
        """The served version's training run in the MLflow UI (``GET /models``), or None."""
        try:
            versions = self.client.models().get("versions") or []
        except (ApiUnavailable, ApiRejected):
            return None
        return next((v.get("run_url") for v in versions if v.get("version") == (self.card or {}).get("version")), None)

    def load_history(self) -> None:
        """Fetch ``GET /models`` into the history tab."""
        try:
            self.history_box.value = markup.history_html(self.client.models(), problem_of(self.card))
        except (ApiUnavailable, ApiRejected) as exc:
            self.history_box.value = markup.alert_html("The model history is unavailable.", exc)

    def on_tab(self, index: int | None) -> None:
        """Load what a tab shows when it is opened (the history, the monitoring)."""
        if index == 1:
            self.load_history()
        elif index == 2:
            self.load_monitoring()

    def load_monitoring(self) -> None:
        """Fetch ``GET /monitoring`` for the chosen window and period into the monitoring tab."""
        every = self.monitoring_every.value
        since = monitoring.since_for(self.monitoring_window.value, every).isoformat()
        self.monitoring_box.value = "<p class='monitoring-loading'><i>Loading the monitoring…</i></p>"
        try:
            answer = self.client.monitoring(since, every)
        except ApiRejected as exc:
            self.monitoring_box.value = monitoring.unavailable_html(exc, exc.status)
        except ApiUnavailable as exc:
            self.monitoring_box.value = monitoring.unavailable_html(exc)
        else:
            self.monitoring_box.value = monitoring.monitoring_html(answer, problem_of(self.card))

    def on_upload(self, change) -> None:
        """Keep the uploaded file and show its first rows and row count."""
        files = change["new"]
        if not files:
            return
        uploaded = files[0]
        self.upload_name, self.upload_content = uploaded["name"], bytes(uploaded["content"])
        self.upload.value = ()  # the kernel keeps one copy; the widget (and the browser) none
        self.results.layout.display = "none"
        self.messages.value = ""
        self.preview_box.value = ""
        self.progress.layout.visibility = "hidden"
        self.stage.value = ""
        self.status.value = markup.reading_html(self.upload_name, len(self.upload_content))
        try:
            head, rows = preview(self.upload_content, self.settings.max_upload_bytes)
        except DataContractError as exc:
            self.upload_progress.value = self._progress_slot()  # the browser's upload bar has done its job
            self.status.value = markup.upload_status_html(self.upload_name)
            self.messages.value = markup.problems_html(str(exc), exc.problems)
            self.upload_content = b""
        else:
            self.upload_progress.value = self._progress_slot()
            self.status.value = markup.upload_status_html(self.upload_name, rows, len(head.columns))
            self.preview_box.value = markup.table_html(head, "preview")
        self._enable_predict()

    def on_predict(self) -> None:
        """Score the upload through the API, in the background so the page stays live."""
        self.predict_button.disabled = True
        self.results.layout.display = "none"  # the old results (and their download) make way
        self.progress.bar_style = "info"
        self.progress.layout.visibility = "visible"
        self.messages.value = ""
        self.set_stage("check")
        threading.Thread(target=self._predict, daemon=True).start()

    def set_stage(self, stage: str, fraction: float = 0.0, detail: str = "") -> None:
        """Move the progress bar to ``fraction`` of Predict's ``stage`` and say what is being done."""
        self.progress.value = markup.stage_percent(stage, fraction)
        self.stage.value = markup.stage_html(stage, fraction, detail)

    def _predict(self) -> None:
        started = time.monotonic()
        try:
            checked = check_upload(self.upload_content, self.card, self.settings.max_upload_bytes,
                                        step=lambda fraction, what: self.set_stage("check", fraction, what))
            self.set_stage("send", 0, markup.sent_text(0, len(self.upload_content)))
            answer = self.client.predict(
                self.upload_name, self.upload_content, self.downloads.new_file(scored_filename(self.upload_name)),
                drift=checked.drift is None, sent=_every_percent(self._sent, checked.rows),
                received=_every_percent(self._received))
            self.set_stage("table", 0, f"{checked.rows:,} rows")
            # what was checked here (the same rules as the API's), else what the API's headers say
            warnings = checked.warnings if checked.schema_checked else answer.warnings
            drift = checked.drift if checked.drift is not None else answer.drift
            self.show_results(answer.path, {"rows": checked.rows, "model": answer.model, "version": answer.version,
                                            "warnings": warnings, "drift": drift})
        except DataContractError as exc:  # the API's own rules, checked before sending
            self.messages.value = markup.problems_html(str(exc), exc.problems)
            self._stopped("the file cannot be scored (see below).")
        except ApiRejected as exc:
            self.messages.value = markup.problems_html(exc.detail, exc.problems)
            self._stopped("the prediction service refused the file (see below).")
        except ApiUnavailable as exc:
            self.messages.value = markup.alert_html("The prediction service is unavailable.", exc)
            self._stopped("the prediction service is unavailable.")
        except Exception as exc:  # noqa: BLE001 - a page must show what went wrong, not die
            log.exception("prediction failed")
            self.messages.value = markup.alert_html("Scoring failed:", exc)
            self._stopped("scoring failed (see below).")
        else:
            self.set_stage("done", 1, f"{checked.rows:,} rows scored in {time.monotonic() - started:.1f} s")
            self.progress.bar_style = "success"
        finally:
            self._enable_predict()

    def _stopped(self, why: str) -> None:
        self.progress.bar_style = "danger"
        self.stage.value = markup.stopped_html(why)

    def _sent(self, done: int, total: int, rows: int) -> None:
        if done < total:
            self.set_stage("send", done / total, markup.sent_text(done, total))
        else:
            self.set_stage("score", 0, f"{rows:,} rows")

    def _received(self, done: int, total: int) -> None:
        self.set_stage("receive", done / total if total else 0.5, markup.sent_text(done, total))

    def show_results(self, scored_path: Path, scored: dict) -> None:
        """The ranked table (from the API's ranked CSV answer at ``scored_path``), the problem type's charts
        (and threshold count), and the download link; ``scored``: ``rows``, ``model``, ``version``,
        ``warnings`` and ``drift`` (see :func:`automlkit.dashboard_markup.scored_html`)."""
        card = self.card or {}
        self.problem = problem_of(card)
        classes = classes_of(card)
        self.table = ranked_table(read_scored(scored_path), (card.get("input_schema") or {}).get("id_column"),
                                       self.problem, classes)
        self.messages.value = markup.scored_html({**scored, "rows": len(self.table)})
        self.drift_box.value = markup.drift_html(scored.get("drift"))
        self.ranking_title.value = f"<h3>{markup.ranking_title(self.problem)}</h3>"
        self.show_sections(self.problem)
        self._quiet = True
        try:
            self.sort_by.options = list(self.table.columns)
            self.sort_by.value, self.sort_order.value, self.search.value = "rank", False, ""
        finally:
            self._quiet = False
        self.rearrange()
        self.set_stage("charts", 0, f"{len(self.table):,} rows")
        if self.problem == "multiclass":
            self.show_classes()
        elif self.problem == "regression":
            self.show_regression()
        else:
            self.show_binary()
        self.download_box.value = self.download_link(Path(scored_path))  # last: the page is complete
        self.results.layout.display = "flex"

    def download_link(self, path: Path) -> str:
        """A link the browser downloads ``path`` from: served by the dashboard server, or (outside it) carried
        in the page when small."""
        name, size = scored_filename(self.upload_name), path.stat().st_size
        if self.downloads.served:
            return markup.download_link(self.downloads.href(path), name, size)
        if size <= markup.INLINE_DOWNLOAD_BYTES:
            return markup.inline_download_link(path.read_bytes(), name)
        return markup.alert_html("No download:", f"a file of {markup.megabytes(size)} needs the dashboard server "
                                                "(`automl dashboard`) to serve it.")

    def show_sections(self, problem: str) -> None:
        """Show the parts of the results ``problem`` has (:data:`SECTIONS`), hide the others."""
        shown = SECTIONS[problem]
        for name in {n for names in SECTIONS.values() for n in names}:
            getattr(self, name).layout.display = None if name in shown else "none"

    def show_binary(self) -> None:
        """Histogram, gains, threshold count, and the customers whose reasons can be asked for."""
        table = self.table
        self.probability = pd.to_numeric(table["probability"], errors="coerce").to_numpy(dtype=float)
        self.gains.value = charts.gains_png(self.probability, upload_truth(table, self.card or {}, "binary"))
        self.show_threshold(self.threshold.value)
        ids = table[self.id_column] if self.id_column in table.columns else None
        self.customer.options = [
            (f"#{table['rank'].iat[i]} · id {ids.iat[i] if ids is not None else i + 1} · "
             f"{self.probability[i]:.1%}", i) for i in range(min(200, len(table)))]  # the 200 most likely
        if self.customer.options:  # new options leave nothing selected: select the first, its reasons load
            self.customer.index = 0

    @property
    def id_column(self) -> str | None:
        return ((self.card or {}).get("input_schema") or {}).get("id_column")

    def show_classes(self) -> None:
        """Predicted class counts; with the true classes, the confusion matrix and the accuracy."""
        self._no_binary()
        classes, labels = classes_of(self.card), self.table["label"].tolist()
        self.distribution.value = charts.class_counts_png(class_counts(labels, classes))
        truth = upload_truth(self.table, self.card or {}, "multiclass")
        if truth is None:
            self._no_truth()
            return
        matrix = confusion_counts(truth, labels, classes)
        self.truth_chart.value = charts.confusion_png(matrix)
        self.truth_chart.layout.display = "block"
        self.fit_box.value = markup.accuracy_html(matrix)

    def show_regression(self) -> None:
        """Histogram of the predictions; with the actual values, predicted against actual, RMSE and MAE."""
        self._no_binary()
        predicted = pd.to_numeric(self.table["prediction"], errors="coerce").to_numpy(dtype=float)
        self.distribution.value = charts.prediction_histogram_png(predicted)
        actual = upload_truth(self.table, self.card or {}, "regression")
        if actual is None:
            self._no_truth()
            return
        self.truth_chart.value = charts.actual_vs_predicted_png(actual, predicted)
        self.truth_chart.layout.display = "block"
        self.fit_box.value = markup.residuals_html(residual_metrics(actual, predicted))

    def _no_binary(self) -> None:
        self.probability = np.empty(0)
        self.customer.options = []

    def _no_truth(self) -> None:
        self.truth_chart.layout.display = "none"
        self.fit_box.value = ""

    def show_reasons(self, position: int | None) -> None:
        """The top reasons (SHAP contributions) for the customer at ranked-table row ``position``."""
        if position is None or self.table.empty:
            return
        try:
            record = customer_record(self.table, position, classes_of(self.card))
            answer = self.client.explain(record)
        except (ApiUnavailable, ApiRejected) as exc:
            self.reasons_box.value = markup.alert_html("No explanation:", exc)
            self.reasons_chart.layout.display = "none"
            return
        self.reasons_box.value = markup.reasons_html(answer)
        available = bool((answer.get("explain") or {}).get("available"))
        if available:
            self.reasons_chart.value = charts.reasons_png(answer)
        self.reasons_chart.layout.display = "block" if available else "none"

    def rearrange(self) -> None:
        """Apply the sort column, its direction and the search to the ranked table; back to its first page."""
        self.order = arrange(self.table, self.sort_by.value, bool(self.sort_order.value), self.search.value)
        self.show_page(0)

    def show_page(self, number: int) -> None:
        """Page ``number`` (0-based) of the ranked table as sorted and searched."""
        total = pages(self.order)
        self.page_number = clamp_page(number, self.order)
        shown = shown_rows(page(self.table, self.page_number, positions=self.order),
                                classes_of(self.card))
        self.table_box.value = (markup.table_html(shown, "ranked") if len(shown) else
                                "<p class='no-match'>No row matches the search.</p>")
        self.page_label.value = page_text(self.page_number, self.order, len(self.table), self.search.value)
        self._quiet = True
        try:
            self.page_input.max = total
            self.page_input.value = self.page_number + 1
        finally:
            self._quiet = False
        self.prev_button.disabled = self.page_number == 0
        self.next_button.disabled = self.page_number >= total - 1

    def show_threshold(self, threshold: float) -> None:
        """Count of customers at or above ``threshold``, and the histogram with it marked."""
        if not len(self.probability):
            return
        self.histogram.value = charts.histogram_png(self.probability, threshold)
        count = above(self.probability, threshold)
        self.above_label.value = (f"<span class='above-count'>{count:,}</span> of {len(self.probability):,} "
                                  f"customers at or above {threshold:.3f}")

    def _unless_quiet(self, action, *args) -> None:
        if not self._quiet:
            action(*args)

    def _progress_slot(self) -> str:
        """An empty slot for the browser's upload bar (a new value each time, so the widget redraws it)."""
        self._uploads += 1
        return f"<span class='upload-progress' data-round='{self._uploads}'></span>"

    def _enable_predict(self) -> None:
        self.predict_button.disabled = not (self.card and self.upload_content)


def _image(width: str, **layout) -> widgets.Image:
    """An empty PNG image widget ``width`` wide (``layout``: more of its layout, e.g. ``display="none"``)."""
    return widgets.Image(format="png", layout=widgets.Layout(width=width, **layout))


def _every_percent(report, *extra):
    """``report(done, total, *extra)``, called only when another percent is done (or at the end): a progress
    message per chunk would flood the page's websocket."""
    last = [-1]

    def call(done: int, total: int) -> None:
        percent = int(100 * done / total) if total else done // (1024 * 1024)
        if percent != last[0] or done == total:
            last[0] = percent
            report(done, total, *extra)

    return call
