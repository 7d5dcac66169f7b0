"""The dashboard's widgets and what each does (the notebook only builds and displays :class:`Dashboard`)."""

from __future__ import annotations

import io
import logging
import threading

import ipywidgets as widgets
import numpy as np
import pandas as pd

from . import dashboard as view
from .errors import DataContractError

log = logging.getLogger(__name__)

#: The page's few styles (inline: the page needs nothing from the network).
STYLE = """<style>
.api-down { color: #8a1c1c; background: #fdecea; padding: 6px 10px; border-radius: 4px; }
.problems { color: #8a1c1c; background: #fdecea; padding: 4px 10px; border-radius: 4px; }
.problems ul { margin: 2px 0 4px 0; }
.model-card { background: #eef3fb; padding: 6px 10px; border-radius: 4px; }
table.ranked, table.preview { border-collapse: collapse; font-size: 12px; }
table.ranked th, table.ranked td, table.preview th, table.preview td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
.download-link { font-weight: bold; font-size: 14px; }
.above-count { font-weight: bold; }
.table-box { overflow-x: auto; max-width: 100%; }
.drift-warning { color: #7a4b00; background: #fff4e0; padding: 4px 10px; border-radius: 4px; }
.drift-ok { color: #2e6b30; }
table.drift, table.history { border-collapse: collapse; font-size: 12px; }
table.drift th, table.drift td, table.history th, table.history td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }
.alias { padding: 1px 6px; border-radius: 8px; background: #ddd; margin-right: 4px; }
.alias-champion { background: #2e7d32; color: white; }
.reasons ol { margin: 2px 0; }
.fit { margin: 2px 0 6px 0; }
</style>"""

#: The parts of the results each problem type shows (the ranked table, drift and download always show).
SECTIONS = {"binary": ("binary_charts", "threshold_row", "reasons_section"),
            "multiclass": ("problem_charts", "fit_box", "reasons_note"),
            "regression": ("problem_charts", "fit_box", "reasons_note")}


class Dashboard:
    """Model card, upload, preview, Predict, ranked table, charts, threshold slider and download; the charts
    and controls follow the served model's problem type (see :data:`SECTIONS`)."""

    def __init__(self, settings: view.DashboardSettings | None = None):
        self.settings = settings or view.DashboardSettings.load()
        self.client = view.ApiClient(self.settings)
        self.card: dict | None = None
        self.upload_name, self.upload_content = "", b""
        self.table = pd.DataFrame()
        self.probability = np.empty(0)
        self.page_number = 0
        self.problem = "binary"

        limit_mb = self.settings.max_upload_bytes / (1024 * 1024)
        self.card_box = widgets.HTML(layout=widgets.Layout(margin="0 0 8px 0"))
        self.retry = widgets.Button(description="Retry", layout=widgets.Layout(display="none"))
        self.upload = widgets.FileUpload(accept=".csv,.gz,.csv.gz", multiple=False,
                                         description="Upload CSV")
        self.upload_help = widgets.HTML(f"<small>CSV or .csv.gz with a header row, up to {limit_mb:.0f} MB.</small>")
        self.status = widgets.HTML()
        self.preview_box = widgets.HTML()
        self.predict_button = widgets.Button(description="Predict", button_style="primary", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=3, description="",
                                            layout=widgets.Layout(visibility="hidden", width="240px"))
        self.messages = widgets.HTML()
        self.table_box = widgets.HTML()
        self.prev_button = widgets.Button(description="Previous", disabled=True)
        self.next_button = widgets.Button(description="Next", disabled=True)
        self.page_label = widgets.Label()
        self.histogram = widgets.Image(format="png", layout=widgets.Layout(width="480px"))
        self.gains = widgets.Image(format="png", layout=widgets.Layout(width="480px"))
        self.threshold = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.005, readout_format=".3f",
                                             description="Threshold", continuous_update=False,
                                             layout=widgets.Layout(width="480px"))
        self.above_label = widgets.HTML()
        self.download_box = widgets.HTML()
        self.drift_box = widgets.HTML()
        self.scored = pd.DataFrame()
        self.customer = widgets.Dropdown(description="Customer", options=[], layout=widgets.Layout(width="420px"))
        self.reasons_box = widgets.HTML()
        self.reasons_chart = widgets.Image(format="png", layout=widgets.Layout(width="480px", display="none"))
        self.ranking_title = widgets.HTML(f"<h3>{view.ranking_title('binary')}</h3>")
        self.distribution = widgets.Image(format="png", layout=widgets.Layout(width="480px"))
        self.truth_chart = widgets.Image(format="png", layout=widgets.Layout(width="420px", display="none"))
        self.binary_charts = widgets.HBox([self.histogram, self.gains])
        self.threshold_row = widgets.HBox([self.threshold, self.above_label])
        self.problem_charts = widgets.HBox([self.distribution, self.truth_chart])
        self.fit_box = widgets.HTML()
        self.reasons_section = widgets.VBox([
            widgets.HTML("<h3>Why a customer scores high or low</h3>"), self.customer,
            widgets.HBox([self.reasons_chart, self.reasons_box])])
        self.reasons_note = widgets.HTML("<p><i>Per-row explanations are shown for binary models only.</i></p>")
        self.results = widgets.VBox([
            self.drift_box,
            self.ranking_title, self.table_box,
            widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            self.binary_charts, self.threshold_row, self.problem_charts, self.fit_box,
            self.reasons_section, self.reasons_note,
            self.download_box,
        ], layout=widgets.Layout(display="none"))
        scoring = widgets.VBox([
            widgets.HBox([self.upload, self.upload_help]), self.status, self.preview_box,
            widgets.HBox([self.predict_button, self.progress]), self.messages, self.results,
        ])
        self.history_box = widgets.HTML()
        self.history_refresh = widgets.Button(description="Refresh")
        history = widgets.VBox([self.history_refresh, self.history_box])
        self.tabs = widgets.Tab(children=[scoring, history])
        self.tabs.set_title(0, "Score customers")
        self.tabs.set_title(1, "Model history")
        self.widget = widgets.VBox([widgets.HTML(STYLE), widgets.HBox([self.card_box, self.retry]), self.tabs])

        self.retry.on_click(lambda _: self.load_card())
        self.upload.observe(self.on_upload, names="value")
        self.predict_button.on_click(lambda _: self.on_predict())
        self.prev_button.on_click(lambda _: self.show_page(self.page_number - 1))
        self.next_button.on_click(lambda _: self.show_page(self.page_number + 1))
        self.threshold.observe(lambda change: self.show_threshold(change["new"]), names="value")
        self.history_refresh.on_click(lambda _: self.load_history())
        self.customer.observe(lambda change: self.show_reasons(change["new"]), names="value")
        self.tabs.observe(lambda change: self.load_history() if change["new"] == 1 else None, names="selected_index")
        self.load_card()

    # ------------------------------------------------------------------------------------------ steps

    def load_card(self) -> None:
        """Fetch ``GET /model``; when the API is down say so and offer Retry."""
        try:
            self.card = self.client.model_card()
        except (view.ApiUnavailable, view.ApiRejected) as exc:
            self.card = None
            self.card_box.value = view.alert_html("The prediction service is unavailable.",
                                                  f"{exc} Try again in a moment.")
            self.retry.layout.display = "inline-flex"
        else:
            self.card_box.value = view.card_html(self.card)
            self.retry.layout.display = "none"
            self.threshold.value = float(self.card.get("threshold") or 0.5)
        self._enable_predict()

    def load_history(self) -> None:
        """Fetch ``GET /models`` into the history tab."""
        try:
            self.history_box.value = view.history_html(self.client.models(), view.problem_of(self.card))
        except (view.ApiUnavailable, view.ApiRejected) as exc:
            self.history_box.value = view.alert_html("The model history is unavailable.", exc)

    def on_upload(self, change) -> None:
        """Keep the uploaded file and show its first rows and row count."""
        files = change["new"]
        if not files:
            return
        uploaded = files[0]
        self.upload_name, self.upload_content = uploaded["name"], bytes(uploaded["content"])
        self.results.layout.display = "none"
        self.messages.value = ""
        self.preview_box.value = ""
        try:
            head, rows = view.preview(self.upload_content, self.settings.max_upload_bytes)
        except DataContractError as exc:
            self.status.value = f"<b>{self.upload_name}</b>"
            self.messages.value = view.problems_html(str(exc), exc.problems)
            self.upload_content = b""
        else:
            self.status.value = f"<b>{self.upload_name}</b>: {rows:,} rows, {len(head.columns)} columns"
            self.preview_box.value = view.table_html(head, "preview")
        self._enable_predict()

    def on_predict(self) -> None:
        """Score the upload through the API, in the background so the page stays live."""
        self.predict_button.disabled = True
        self.progress.layout.visibility = "visible"
        self.progress.value = 1
        self.progress.bar_style = "info"
        self.messages.value = "<i>Scoring…</i>"
        threading.Thread(target=self._predict, daemon=True).start()

    def _predict(self) -> None:
        try:
            ranked, scored_csv = self.client.predict(self.upload_name, self.upload_content)
            self.progress.value = 2
            self.show_results(ranked, scored_csv)
        except view.ApiRejected as exc:
            self.messages.value = view.problems_html(exc.detail, exc.problems)
            self.progress.bar_style = "danger"
        except view.ApiUnavailable as exc:
            self.messages.value = view.alert_html("The prediction service is unavailable.", exc)
            self.progress.bar_style = "danger"
        except Exception as exc:  # noqa: BLE001 - a page must show what went wrong, not die
            log.exception("prediction failed")
            self.messages.value = view.alert_html("Scoring failed:", exc)
            self.progress.bar_style = "danger"
        else:
            self.progress.value = 3
            self.progress.bar_style = "success"
        finally:
            self.progress.layout.visibility = "hidden"
            self._enable_predict()

    def show_results(self, ranked: dict, scored_csv: bytes) -> None:
        """The ranked table, the problem type's charts (and threshold count), and the download link."""
        card = self.card or {}
        scored = pd.read_csv(io.BytesIO(scored_csv), dtype=str, keep_default_na=False)
        predictions = ranked["predictions"]
        ordered = scored.iloc[[p["row"] - 1 for p in predictions]]  # the upload in ranked order
        self.problem = view.problem_of(card)
        self.table = view.ranked_table(ranked, scored, (card.get("input_schema") or {}).get("id_column"),
                                       self.problem)
        self.messages.value = view.scored_html(ranked)
        self.drift_box.value = view.drift_html(ranked.get("drift"))
        self.download_box.value = view.download_link(scored_csv, view.scored_filename(self.upload_name))
        self.ranking_title.value = f"<h3>{view.ranking_title(self.problem)}</h3>"
        self.show_sections(self.problem)
        self.show_page(0)
        self.scored = scored
        if self.problem == "multiclass":
            self.show_classes(predictions, ordered)
        elif self.problem == "regression":
            self.show_regression(predictions, ordered)
        else:
            self.show_binary(predictions, ordered)
        self.results.layout.display = "flex"

    def show_sections(self, problem: str) -> None:
        """Show the parts of the results ``problem`` has (:data:`SECTIONS`), hide the others."""
        shown = SECTIONS[problem]
        for name in {n for names in SECTIONS.values() for n in names}:
            getattr(self, name).layout.display = None if name in shown else "none"

    def show_binary(self, predictions: list[dict], ordered: pd.DataFrame) -> None:
        """Histogram, gains, threshold count, and the customers whose reasons can be asked for."""
        self.probability = np.array([p["probability"] for p in predictions])
        self.gains.value = view.gains_png(self.probability, view.target_labels(ordered, self.card or {}))
        self.show_threshold(self.threshold.value)
        self.customer.options = [
            (f"#{p['rank']} · id {p['id'] if p['id'] is not None else p['row']} · {p['probability']:.1%}", p["row"] - 1)
            for p in predictions[:200]]  # the 200 most likely
        if self.customer.options:  # new options leave nothing selected: select the first, its reasons load
            self.customer.index = 0

    def show_classes(self, predictions: list[dict], ordered: pd.DataFrame) -> None:
        """Predicted class counts; with the true classes, the confusion matrix and the accuracy."""
        self._no_binary()
        classes, labels = view.classes_of(self.card), [p["label"] for p in predictions]
        self.distribution.value = view.class_counts_png(view.class_counts(labels, classes))
        truth = view.true_classes(ordered, self.card or {})
        if truth is None:
            self._no_truth()
            return
        matrix = view.confusion(truth, labels, classes)
        self.truth_chart.value = view.confusion_png(matrix)
        self.truth_chart.layout.display = "block"
        self.fit_box.value = view.accuracy_html(matrix)

    def show_regression(self, predictions: list[dict], ordered: pd.DataFrame) -> None:
        """Histogram of the predictions; with the actual values, predicted against actual, RMSE and MAE."""
        self._no_binary()
        predicted = np.array([p["prediction"] for p in predictions], dtype=float)
        self.distribution.value = view.prediction_histogram_png(predicted)
        actual = view.actual_values(ordered, self.card or {})
        if actual is None:
            self._no_truth()
            return
        self.truth_chart.value = view.actual_vs_predicted_png(actual, predicted)
        self.truth_chart.layout.display = "block"
        self.fit_box.value = view.residuals_html(view.residual_metrics(actual, predicted))

    def _no_binary(self) -> None:
        self.probability = np.empty(0)
        self.customer.options = []

    def _no_truth(self) -> None:
        self.truth_chart.layout.display = "none"
        self.fit_box.value = ""

    def show_reasons(self, position: int | None) -> None:
        """The top reasons (SHAP contributions) for the customer at scored-row ``position``."""
        if position is None or self.scored.empty:
            return
        try:
            record = view.customer_record(self.scored, position, view.classes_of(self.card))
            answer = self.client.explain(record)
        except (view.ApiUnavailable, view.ApiRejected) as exc:
            self.reasons_box.value = view.alert_html("No explanation:", exc)
            self.reasons_chart.layout.display = "none"
            return
        self.reasons_box.value = view.reasons_html(answer)
        available = bool((answer.get("explain") or {}).get("available"))
        if available:
            self.reasons_chart.value = view.reasons_png(answer)
        self.reasons_chart.layout.display = "block" if available else "none"

    def show_page(self, number: int) -> None:
        """Page ``number`` of the ranked table."""
        total = view.pages(self.table)
        self.page_number = min(max(number, 0), total - 1)
        shown = view.page(self.table, self.page_number)
        self.table_box.value = view.table_html(shown, "ranked")
        self.page_label.value = f"page {self.page_number + 1} of {total}"
        self.prev_button.disabled = self.page_number == 0
        self.next_button.disabled = self.page_number >= total - 1

    def show_threshold(self, threshold: float) -> None:
        """Count of customers at or above ``threshold``, and the histogram with it marked."""
        if not len(self.probability):
            return
        self.histogram.value = view.histogram_png(self.probability, threshold)
        count = view.above(self.probability, threshold)
        self.above_label.value = (f"<span class='above-count'>{count:,}</span> of {len(self.probability):,} "
                                  f"customers at or above {threshold:.3f}")

    def _enable_predict(self) -> None:
        self.predict_button.disabled = not (self.card and self.upload_content)
