"""The dashboard's Monitoring tab: its render functions on answers shaped as ``GET /monitoring`` answers, the
tab's widgets against a stand-in HTTP server, and (marked ``integration``, ``browser``) the tab in headless
Chromium against the real API and its monitoring store, after real scorings with one feature shifted."""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler

import numpy as np
import pandas as pd
import pytest
import requests
from PIL import Image

from automlkit import dashboard_monitoring as monitoring
from automlkit.drift import PSI_ALERT
from automlkit.settings import DashboardSettings
from conftest import SCREENSHOTS, TEST_CSV, TRAIN_CSV, stand_in_http, start_api, start_dashboard, stop_process
from route_fixtures import TINY_MODEL_NAME, register_tiny_model

SCRIPT = "<script>alert(1)</script>"


def _period(start: str, end: str, version: str, rows: int, psi: dict, drifted: list[str],
            realised: dict | None = None, median: float = 0.2) -> dict:
    deciles = [round(median + (k - 4) * 0.04, 3) for k in range(9)]
    return {"start": start, "end": end, "version": version, "rows": rows, "summaries": 3,
            "score_deciles": deciles, "share_above_threshold": 0.12, "psi": psi, "drifted": drifted,
            "realised": realised}


#: Three days: v2 serves the first, v3 takes over on the second; Age drifts on the third.
ANSWER = {
    "model": "cross-sell", "since": "2026-11-01T00:00:00+00:00", "every": "day", "psi_alert": 0.2,
    "auc_margin": 0.02,
    "recorder": {"enabled": True, "queue_size": 1000, "pending": 0, "written": 9, "dropped": 0, "errors": 0},
    "versions": [
        {"version": "2", "first_scored": "2026-11-01T09:00:00+00:00", "last_scored": "2026-11-02T08:00:00+00:00",
         "rows": 1500, "holdout_metrics": {"auc": 0.851, "logloss": 0.27}, "serving": False},
        {"version": "3", "first_scored": "2026-11-02T10:30:00+00:00", "last_scored": "2026-11-03T18:00:00+00:00",
         "rows": 3200, "holdout_metrics": {"auc": 0.859, "logloss": 0.26}, "serving": True}],
    "periods": [
        _period("2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00", "2", 1000,
                {"Age": 0.01, "Vehicle_Age": 0.002}, [], {"rows": 400, "auc": 0.85, "logloss": 0.28}),
        _period("2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00+00:00", "2", 500,
                {"Age": 0.012, "Vehicle_Age": 0.003}, []),
        _period("2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00+00:00", "3", 1200,
                {"Age": 0.02, "Vehicle_Age": 0.001}, [], {"rows": 300, "auc": 0.845, "logloss": 0.29}),
        _period("2026-11-03T00:00:00+00:00", "2026-11-04T00:00:00+00:00", "3", 2000,
                {"Age": 0.91, "Vehicle_Age": 0.004}, ["Age"], {"rows": 500, "auc": 0.80, "logloss": 0.35},
                median=0.3)],
    "alerts": [
        {"kind": "drift", "version": "3", "feature": "Age", "psi": 0.91,
         "message": "Age drifted: PSI 0.910 over the window (alert above 0.2)."},
        {"kind": "performance", "version": "3", "metric": "auc", "realised": 0.80, "holdout": 0.859,
         "message": "Realised AUC 0.800 is below the holdout AUC 0.859 by more than 0.02."}],
}


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(png)).size


def _images(shown: str) -> dict[str, tuple[str, bytes]]:
    """Chart name -> (alt text, PNG bytes) of the tab's figures."""
    found = re.findall(r"<figure class='monitoring-chart' data-chart='(\w+)'><img alt='([^']*)' "
                       r"src='data:image/png;base64,([^']+)'>", shown)
    return {name: (alt, base64.b64decode(data)) for name, alt, data in found}


# ------------------------------------------------------------------ what the tab shows, from the answer


def test_the_tab_shows_alerts_first_then_summary_drifted_features_versions_and_four_charts():
    shown = monitoring.monitoring_html(ANSWER)
    assert shown.index("monitoring-alerts") < shown.index("monitoring-summary") < shown.index("monitoring-charts")
    images = _images(shown)
    assert list(images) == ["rows", "psi", "scores", "realised"]
    assert all(_png_size(png)[0] > 300 for _, png in images.values())
    assert "data-rows='4700'" in shown and "<b>4,700 rows</b>" in shown and "in 3 days" in shown
    assert "since 2026-11-01 00:00 UTC" in shown and "by v2, v3" in shown
    assert "<b class='drifted-feature'>Age</b>" in shown and "drifted-feature'>Vehicle_Age" not in shown
    assert "<td>v3 <small>(serving)</small></td><td>2026-11-02 10:30 UTC</td>" in shown
    assert "<td>0.8590</td>" in shown and "holdout AUC" in shown
    assert "written" in shown and "data-dropped='0'" in shown


def test_chart_alt_texts_say_what_each_chart_shows():
    alts = monitoring.chart_alts(ANSWER)
    assert alts["rows"].startswith("Rows scored per day: 4,700 rows in 3 days")
    assert "v2 on 2026-11-01 09:00 UTC, v3 on 2026-11-02 10:30 UTC" in alts["rows"]
    assert alts["psi"] == "PSI per feature per day, alert at 0.2; drifted: Age"
    assert "10th to 90th percentile" in alts["scores"] and "median" in alts["scores"]
    assert "holdout AUC (v2 0.8510, v3 0.8590)" in alts["realised"]
    assert "latest realised AUC 0.8000 on 500 labelled rows" in alts["realised"]
    calm = copy.deepcopy(ANSWER)
    calm["periods"][-1].update(drifted=[], psi={"Age": 0.02})
    calm["alerts"] = []
    assert monitoring.chart_alts(calm)["psi"].endswith("drifted: none")
    assert "no realised AUC yet" in monitoring.chart_alts({**ANSWER, "periods": [
        {**p, "realised": None} for p in ANSWER["periods"]]})["realised"]


def test_alerts_are_a_warning_box_naming_the_feature_and_the_metric():
    shown = monitoring.alerts_html(ANSWER)
    assert "role='alert'" in shown and "2 monitoring alerts" in shown
    assert "data-kind='drift' data-subject='Age'><b>Drift: Age</b> Age drifted: PSI 0.910" in shown
    assert "data-kind='performance' data-subject='auc'><b>Performance: AUC</b> Realised AUC 0.800" in shown
    assert monitoring.alerts_html({**ANSWER, "alerts": []}) == ""
    # without a message the alert is built from its fields
    assert monitoring.alert_text({"kind": "drift", "version": "3", "feature": "Age", "psi": 0.9}) == (
        "Age drifts in v3 (PSI 0.900).")
    assert monitoring.alert_text({"kind": "performance", "version": "3", "metric": "auc", "realised": 0.8,
                                  "holdout": 0.86}) == "Realised AUC of v3 is 0.8000 against 0.8600 on the holdout."


def test_drifted_features_come_from_the_periods_and_the_alerts():
    assert monitoring.drifted_features(ANSWER) == ["Age"]
    alerts_only = {"periods": [], "alerts": [{"kind": "drift", "feature": "Gender"}, {"kind": "performance"}]}
    assert monitoring.drifted_features(alerts_only) == ["Gender"]
    assert "No feature passed the PSI alert (0.2)" in monitoring.drifted_html({"periods": [], "psi_alert": 0.2})
    assert monitoring.psi_alert({}) == PSI_ALERT and monitoring.psi_alert({"psi_alert": 0.1}) == 0.1


def test_nothing_scored_is_a_clear_empty_state_without_charts():
    empty = {**ANSWER, "periods": [], "versions": [], "alerts": []}
    shown = monitoring.monitoring_html(empty)
    assert "Nothing scored since 2026-11-01 00:00 UTC" in shown and "data-state='empty'" in shown
    assert "<img" not in shown and "monitoring-alerts" not in shown
    assert "Recorder: 9 summaries written" in shown


def test_the_recorder_says_when_it_is_off_or_lost_summaries():
    assert "does not record" in monitoring.recorder_html({"enabled": False})
    lossy = monitoring.recorder_html({"enabled": True, "written": 5, "pending": 2, "dropped": 3, "errors": 1})
    assert "monitoring-lossy" in lossy and "3 dropped, 1 failed" in lossy and "2 waiting" in lossy
    assert "missing from these charts" in lossy and "data-pending='2'" in lossy
    assert monitoring.recorder_html(None) == ""


def test_no_monitoring_on_the_api_and_an_api_down_are_told_apart():
    missing = monitoring.unavailable_html(Exception("Not Found"), 404)
    assert "data-reason='missing'" in missing and "has no monitoring" in missing and "GET /monitoring" in missing
    down = monitoring.unavailable_html(Exception(f"not reachable {SCRIPT}"))
    assert "data-reason='unavailable'" in down and "&lt;script&gt;" in down and "<script" not in down


def test_every_text_from_the_answer_is_escaped():
    hostile = copy.deepcopy(ANSWER)
    hostile["model"] = SCRIPT
    hostile["versions"][1]["version"] = SCRIPT
    hostile["periods"][-1].update(drifted=[SCRIPT], psi={SCRIPT: 0.9}, version=SCRIPT)
    hostile["alerts"] = [{"kind": SCRIPT, "feature": SCRIPT, "metric": SCRIPT, "message": SCRIPT},
                         {"kind": "drift", "feature": SCRIPT, "version": SCRIPT, "psi": 1}]
    shown = monitoring.monitoring_html(hostile)
    assert "<script" not in shown and "&lt;script&gt;" in shown
    assert "<script" not in monitoring.monitoring_html({**hostile, "periods": []})


def test_realised_performance_uses_the_problems_decision_metric_and_margin():
    assert monitoring.decision_metric("binary") == "auc" and monitoring.decision_metric("regression") == "rmse"
    assert monitoring.margin_of(ANSWER, "auc") == 0.02 and monitoring.margin_of(ANSWER, "rmse") is None
    regression = copy.deepcopy(ANSWER)
    for version in regression["versions"]:
        version["holdout_metrics"] = {"rmse": 3.2, "r2": 0.8}
    for period in regression["periods"]:
        period["realised"] = {"rows": 100, "rmse": 3.5} if period["realised"] else None
        period["share_above_threshold"] = None
    regression["rmse_margin"] = 0.5
    alts = monitoring.chart_alts(regression, "regression")
    assert "Realised RMSE per day against the holdout RMSE (v2 3.2000, v3 3.2000)" in alts["realised"]
    shown = monitoring.monitoring_html(regression, "regression")
    assert "holdout RMSE" in shown and len(_images(shown)) == 4
    assert [v for _, v in monitoring.realised_points(regression, "rmse")] == [3.5, 3.5, 3.5]


def test_charts_draw_one_psi_line_per_feature_the_alert_and_the_switch_overs(monkeypatch):
    """What is drawn, read back from the matplotlib figure before it becomes a PNG."""
    figures = []
    real_png = monitoring._png
    monkeypatch.setattr(monitoring, "_png", lambda fig, **kw: (figures.append(fig), real_png(fig, **kw))[1])
    monitoring.psi_png(ANSWER)
    ax = figures[-1].axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == ["Age (drifted)", "Vehicle_Age", "alert: PSI 0.2"]
    age = ax.get_lines()[0]
    assert age.get_linewidth() > ax.get_lines()[1].get_linewidth()
    assert list(age.get_ydata()) == [0.01, 0.012, 0.02, 0.91]
    assert list(ax.get_lines()[2].get_ydata()) == [0.2, 0.2] and ax.get_lines()[2].get_linestyle() == "--"
    switch_overs = [line for line in ax.get_lines()[3:] if line.get_linestyle() == ":"]
    assert len(switch_overs) == 2 and [t.get_text() for t in ax.texts] == ["v2", "v3"]

    monitoring.rows_png(ANSWER)
    bars = figures[-1].axes[0].patches
    assert [int(b.get_height()) for b in bars] == [1000, 500, 1200, 2000]
    assert [int(b.get_y()) for b in bars] == [0, 0, 500, 0]  # v3's first day stacked on v2's last

    monitoring.realised_png(ANSWER)
    ax = figures[-1].axes[0]
    realised = next(line for line in ax.get_lines() if line.get_label() == "realised AUC")
    assert list(realised.get_ydata()) == [0.85, 0.845, 0.80]
    holdouts = [c.get_label() for c in ax.collections]
    assert holdouts == ["v2 holdout 0.8510", "v2 alert below 0.8310", "v3 holdout 0.8590", "v3 alert below 0.8390"]

    monitoring.scores_png(ANSWER)
    median = next(line for line in figures[-1].axes[0].get_lines() if line.get_label() == "median")
    assert list(median.get_ydata()) == [0.2, 0.2, 0.2, 0.3]
    boxes = figures[-1].axes[0].patches[:4]  # p10-p90 of each period
    assert [round(b.get_y(), 3) for b in boxes] == [0.04, 0.04, 0.04, 0.14]
    # one time axis: every chart's plot area and limits are the same
    assert len({tuple(np.round(f.axes[0].get_position().bounds, 4)) for f in figures}) == 1
    assert len({tuple(np.round(f.axes[0].get_xlim(), 6)) for f in figures}) == 1


def test_a_wide_model_names_the_drifted_and_the_largest_psi_features_and_greys_the_rest(monkeypatch):
    figures = []
    real_png = monitoring._png
    monkeypatch.setattr(monitoring, "_png", lambda fig, **kw: (figures.append(fig), real_png(fig, **kw))[1])
    wide = copy.deepcopy(ANSWER)
    for period in wide["periods"]:
        period["psi"] = {**period["psi"], **{f"f{k:02d}": k / 1000 for k in range(30)}}
    monitoring.psi_png(wide)
    labels = [t.get_text() for t in figures[-1].axes[0].get_legend().get_texts()]
    assert labels[:3] == ["Age (drifted)", "f29", "f28"] and len(labels) == 12
    assert labels[-2:] == ["22 other features", "alert: PSI 0.2"]


def test_the_window_starts_at_the_start_of_its_first_day_or_hour():
    now = datetime(2026, 11, 26, 21, 45, 12, tzinfo=timezone.utc)
    assert monitoring.since_for(7, "day", now) == datetime(2026, 11, 19, tzinfo=timezone.utc)
    assert monitoring.since_for(1, "hour", now) == datetime(2026, 11, 25, 21, tzinfo=timezone.utc)
    assert monitoring.time_text("2026-11-01T09:00:00Z") == "2026-11-01 09:00 UTC"
    assert monitoring.time_text("2026-11-01T10:00:00+01:00") == "2026-11-01 09:00 UTC"
    assert monitoring.time_text("not a time") == "not a time" and monitoring.time_text(None) == ""


# ------------------------------------------------------------------ the tab's widgets, over HTTP


class MonitoringServer(BaseHTTPRequestHandler):
    """Answers ``GET /monitoring`` with :attr:`answer` (404 when it is None) and records the queries."""

    answer: dict | None = None
    queries: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.queries.append(self.path)
        found = self.path.startswith("/monitoring?") and self.answer is not None
        body = json.dumps(self.answer if found else {"detail": "Not Found"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def monitoring_server():
    MonitoringServer.queries, MonitoringServer.answer = [], ANSWER
    with stand_in_http(MonitoringServer) as url:
        yield url


def test_the_tab_asks_once_per_refresh_with_the_window_and_period_chosen(monitoring_server, tmp_path):
    from urllib.parse import parse_qs, urlparse

    from automlkit.dashboard_app import Dashboard
    from automlkit.dashboard_server import DownloadFolder

    app = Dashboard(DashboardSettings(api_url=monitoring_server, timeout=10), DownloadFolder(tmp_path, session="k"))
    assert app.tabs.get_title(2) == "Monitoring" and app.monitoring_box.value == ""
    MonitoringServer.queries.clear()
    app.tabs.selected_index = 2
    assert len(MonitoringServer.queries) == 1
    query = parse_qs(urlparse(MonitoringServer.queries[0]).query)
    assert query["every"] == ["day"] and datetime.fromisoformat(query["since"][0]).hour == 0
    assert "<b class='drifted-feature'>Age</b>" in app.monitoring_box.value
    assert len(_images(app.monitoring_box.value)) == 4
    app.monitoring_every.value = "hour"
    assert parse_qs(urlparse(MonitoringServer.queries[-1]).query)["every"] == ["hour"]
    app.monitoring_window.value = 1
    since = datetime.fromisoformat(parse_qs(urlparse(MonitoringServer.queries[-1]).query)["since"][0])
    assert 23 * 3600 <= (datetime.now(timezone.utc) - since).total_seconds() <= 25 * 3600
    MonitoringServer.answer = None  # an API without monitoring
    app.monitoring_refresh.click()
    assert "data-reason='missing'" in app.monitoring_box.value and len(MonitoringServer.queries) == 4
    app.client.settings = DashboardSettings(api_url="http://127.0.0.1:9", timeout=2)
    app.monitoring_refresh.click()
    assert "data-reason='unavailable'" in app.monitoring_box.value and "not reachable" in app.monitoring_box.value


# ------------------------------------------------------------------ the tab in Chromium, against the real API


@pytest.fixture(scope="module")
def monitored_api(tmp_path_factory):
    """The real API (uvicorn) serving the committed tiny model from a SQLite MLflow store of its own, recording
    every scoring to that store (written every half second; ``GET /monitoring`` reads it afresh each time)."""
    root = tmp_path_factory.mktemp("monitored")
    uri = register_tiny_model(root)
    process, url = start_api(uri, root / "api.log", MODEL_NAME=TINY_MODEL_NAME, POLL_SECONDS="0", MONITORING="1",
                             MONITORING_FLUSH_SECONDS="0.5", MONITORING_CACHE_SECONDS="0")
    yield url
    stop_process(process)


def _score_batches(api: str) -> int:
    """Real customers scored through the API (CSV uploads and a JSON request), then a batch whose ages are
    moved up by 20 years, then labelled rows; returns the rows sent."""
    customers = pd.read_csv(TEST_CSV, nrows=3200)
    batches = [("csv", customers.iloc[:500]), ("json", customers.iloc[500:700]), ("csv", customers.iloc[700:1200]),
               ("csv", customers.iloc[1200:3200].assign(Age=lambda d: d["Age"] + 20)),
               ("csv", pd.read_csv(TRAIN_CSV, nrows=300))]  # these carry the target: realised AUC
    for kind, frame in batches:
        if kind == "json":
            answer = requests.post(f"{api}/predict", json={"records": json.loads(frame.to_json(orient="records"))},
                                   timeout=60)
        else:
            answer = requests.post(f"{api}/predict", files={"file": ("batch.csv", frame.to_csv(index=False))},
                                   timeout=60)
        assert answer.status_code == 200, answer.text[:500]
    return sum(len(frame) for _, frame in batches)


def _wait_until_recorded(api: str, scorings: int, timeout: float = 120) -> dict:
    """``GET /monitoring`` once the API's recorder has written ``scorings`` scorings and has none waiting."""
    deadline = time.time() + timeout
    while True:
        answer = requests.get(f"{api}/monitoring", params={"every": "day"}, timeout=30)
        assert answer.status_code == 200, answer.text[:500]
        report = answer.json()
        recorder = report["recorder"]
        if recorder["written"] >= scorings and recorder["pending"] == 0:
            return report
        assert time.time() < deadline, f"the recorder did not write {scorings} scorings: {recorder}"
        time.sleep(0.5)


@pytest.mark.integration
@pytest.mark.browser
def test_the_monitoring_tab_shows_the_shifted_feature_and_the_rows_scored(browser, monitored_api, tmp_path):
    process, url = start_dashboard(monitored_api, tmp_path / "voila.log")
    try:
        page = browser()
        page.goto(url, timeout=120_000)
        page.wait_for_selector(".model-card", timeout=120_000)
        page.click(".lm-TabBar-tab:has-text('Monitoring')")
        # nothing scored yet: said plainly, no chart
        page.wait_for_selector(".monitoring[data-state='empty']", timeout=120_000)
        assert "Nothing scored since" in page.inner_text(".monitoring-empty")
        assert page.locator("figure.monitoring-chart").count() == 0

        sent = _score_batches(monitored_api)
        report = _wait_until_recorded(monitored_api, scorings=5)
        assert sum(p["rows"] for p in report["periods"]) == sent  # the API's own figure first
        page.click("button:has-text('Refresh') >> visible=true")
        page.wait_for_selector(".monitoring[data-state='charts']", timeout=120_000)

        # the alert box above the charts names the shifted feature, and only it
        alerts = page.locator(".monitoring-alerts")
        assert alerts.is_visible() and "Age" in alerts.inner_text()
        drift = page.eval_on_selector_all(".monitoring-alert[data-kind='drift']",
                                          "items => items.map(i => i.dataset.subject)")
        assert drift == ["Age"]
        assert page.eval_on_selector_all(".drifted-feature", "items => items.map(i => i.textContent)") == ["Age"]

        # the rows the page counts are the rows sent
        summary = page.locator(".monitoring-summary")
        assert int(summary.get_attribute("data-rows")) == sent and f"{sent:,} rows" in summary.inner_text()

        # four charts, drawn (decoded by the browser), each saying what it shows
        charts = page.eval_on_selector_all(
            "figure.monitoring-chart img",
            "imgs => imgs.map(i => [i.closest('figure').dataset.chart, i.alt, i.complete && i.naturalWidth])")
        assert [c[0] for c in charts] == ["rows", "psi", "scores", "realised"] and all(c[2] > 300 for c in charts)
        alts = {name: alt for name, alt, _ in charts}
        assert alts["rows"].startswith(f"Rows scored per day: {sent:,} rows in 1 day")
        assert alts["psi"].endswith("drifted: Age")
        assert "latest realised AUC" in alts["realised"] and "on 300 labelled rows" in alts["realised"]
        version = report["versions"][-1]["version"]
        assert f"v{version} on " in alts["rows"]  # the switch-over, on the time axis
        assert page.locator("table.monitoring-versions tbody tr").count() == len(report["versions"])
        page.screenshot(path=str(SCREENSHOTS / "17-monitoring.png"), full_page=True)
        page.locator("figure[data-chart='psi']").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "18-monitoring-psi.png"), full_page=True)

        # per hour: asked again, the same rows
        page.click(".widget-toggle-buttons button:has-text('per hour')")
        page.wait_for_function("document.querySelector('.monitoring-summary') && "
                               "document.querySelector('.monitoring-summary').textContent.includes('hour')",
                               timeout=60_000)
        assert int(page.get_attribute(".monitoring-summary", "data-rows")) == sent
    finally:
        stop_process(process)
