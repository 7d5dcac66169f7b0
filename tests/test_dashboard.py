"""The Voilà dashboard in headless Chromium against real servers (mlflow, the API with a small champion, Voilà).

Screenshots of each state go to ``test-artifacts/screenshots/`` (docs/testing.md).
"""

from __future__ import annotations

import time

import pandas as pd
import psutil
import pytest
import requests
from playwright.sync_api import expect

from conftest import SCREENSHOTS, TRAIN_CSV, free_port, start_api, start_dashboard, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def api(api_champion, tmp_path_factory):
    process, url = start_api(api_champion, tmp_path_factory.mktemp("dash-api") / "api.log", POLL_SECONDS="0")
    yield url
    stop_process(process)


@pytest.fixture(scope="module")
def dashboard(api, tmp_path_factory):
    process, url = start_dashboard(api, tmp_path_factory.mktemp("voila") / "voila.log")
    yield url
    stop_process(process)


@pytest.fixture(scope="module")
def customers_csv(tmp_path_factory):
    """400 real labelled customers (the gains chart then uses the true labels)."""
    path = tmp_path_factory.mktemp("upload") / "customers.csv"
    pd.read_csv(TRAIN_CSV, nrows=400).to_csv(path, index=False)
    return path


def open_dashboard(browser, url: str):
    page = browser()
    page.goto(url, timeout=120_000)
    page.wait_for_selector(".model-card, .api-down", timeout=120_000)
    return page


def upload(page, path) -> None:
    """ipywidgets 8's FileUpload has no attached <input type=file>: go through the file chooser."""
    with page.expect_file_chooser() as chooser:
        page.click(".widget-upload")
    chooser.value.set_files(str(path))


def ranked_rows(page) -> list[dict]:
    """The ranked table's rows as shown, one dict of column -> cell text per row."""
    headers = page.eval_on_selector_all("table.ranked thead th", "cells => cells.map(c => c.textContent)")
    rows = page.eval_on_selector_all("table.ranked tbody tr",
                                     "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
    return [dict(zip(headers, row)) for row in rows]


def test_upload_predict_rank_threshold_and_download(browser, dashboard, api, customers_csv):
    page = open_dashboard(browser, dashboard)
    card = requests.get(f"{api}/model", timeout=10).json()
    assert f"version</b> {card['version']}" in page.inner_html(".model-card")
    page.screenshot(path=str(SCREENSHOTS / "1-model-card.png"), full_page=True)

    upload(page, customers_csv)
    page.wait_for_selector("text=400 rows", timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "2-uploaded-preview.png"), full_page=True)

    page.click("button:has-text('Predict')")
    page.wait_for_selector(".download-link", timeout=120_000)
    page.screenshot(path=str(SCREENSHOTS / "3-predicted.png"), full_page=True)

    content = customers_csv.read_bytes()
    ranked = requests.post(f"{api}/predict", params={"rank": "true"}, files={"file": ("c.csv", content)},
                           timeout=60).json()["predictions"]
    shown = ranked_rows(page)
    assert [int(r["rank"]) for r in shown] == list(range(1, 21))
    assert [int(r["id"]) for r in shown] == [p["id"] for p in ranked[:20]]
    assert [float(r["probability"]) for r in shown] == pytest.approx([p["probability"] for p in ranked[:20]],
                                                                     abs=1e-12)
    assert "page 1 of 20" in page.inner_text("body")

    # move the threshold: the count above it follows
    readout = page.locator(".widget-readout").first
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("0.3")
    page.keyboard.press("Enter")
    expected = sum(p["probability"] >= 0.3 for p in ranked)
    page.wait_for_function(f"document.querySelector('.above-count') && "
                           f"document.querySelector('.above-count').textContent === '{expected:,}'", timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "4-threshold-moved.png"), full_page=True)

    # the most likely customer is selected: its reasons are the API's own explanation of that row
    page.wait_for_selector(".reasons, .no-reasons", timeout=60_000)
    scored = pd.read_csv(customers_csv)
    record = scored[scored["id"] == ranked[0]["id"]].iloc[0].to_dict()
    explained = requests.post(f"{api}/predict", params={"explain": "true"}, json={"records": [record]},
                              timeout=30).json()
    if explained["explain"]["available"]:
        items = page.eval_on_selector_all(".reasons li b", "cells => cells.map(c => c.textContent)")
        assert items == [t["feature"] for t in explained["predictions"][0]["explanation"]["top"]]
    else:
        assert explained["explain"]["message"] in page.inner_text(".no-reasons")
    page.locator("text=Why a customer scores").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "11-customer-reasons.png"), full_page=True)

    with page.expect_download() as download:
        page.click(".download-link")
    downloaded = open(download.value.path(), "rb").read()
    api_csv = requests.post(f"{api}/predict", files={"file": ("c.csv", content)}, headers={"Accept": "text/csv"},
                            timeout=60).content
    assert downloaded == api_csv
    assert download.value.suggested_filename == "customers-scored.csv"
    assert not browser.refused or all("cdn." in u for u in browser.refused)  # only optional icon fonts asked


def test_bad_csv_shows_a_readable_message(browser, dashboard, customers_csv, tmp_path):
    lines = customers_csv.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("Age")] = "old"
    lines[3] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    page = open_dashboard(browser, dashboard)
    upload(page, bad)
    page.wait_for_selector("text=400 rows", timeout=60_000)
    page.click("button:has-text('Predict')")
    page.wait_for_selector(".problems", timeout=60_000)
    message = page.inner_text(".problems")
    assert "Age (row 3): expected a number" in message and "{" not in message
    page.screenshot(path=str(SCREENSHOTS / "5-bad-csv.png"), full_page=True)

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("a,b\n1,caf\u00e9\n".encode("latin-1"))
    upload(page, latin1)
    page.wait_for_selector("text=not UTF-8", timeout=60_000)
    assert "row 1" in page.inner_text(".problems")
    page.screenshot(path=str(SCREENSHOTS / "6-not-utf8.png"), full_page=True)


def test_drift_warning_and_model_history(browser, dashboard, api, customers_csv, tmp_path):
    page = open_dashboard(browser, dashboard)
    upload(page, customers_csv)
    page.wait_for_selector("text=400 rows", timeout=60_000)
    page.click("button:has-text('Predict')")
    page.wait_for_selector(".drift-ok", timeout=120_000)  # real customers: no feature drifts

    older = tmp_path / "older.csv"
    pd.read_csv(customers_csv).assign(Age=lambda d: d["Age"] + 25).to_csv(older, index=False)
    upload(page, older)
    page.wait_for_selector("text=older.csv", timeout=60_000)
    page.click("button:has-text('Predict')")
    page.wait_for_selector(".drift-warning", timeout=120_000)
    drift = requests.post(f"{api}/predict", params={"drift": "true"}, files={"file": ("o.csv", older.read_bytes())},
                          timeout=60).json()["drift"]
    shown = page.eval_on_selector_all("table.drift tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
    assert shown == [r["column"] for r in drift if r["drifted"]] and shown[0] == "Age"
    page.screenshot(path=str(SCREENSHOTS / "9-drift-warning.png"), full_page=True)

    page.click(".lm-TabBar-tab:has-text('Model history')")
    page.wait_for_selector("table.history", timeout=60_000)
    models = requests.get(f"{api}/models", timeout=30).json()
    versions = page.eval_on_selector_all("table.history tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
    assert [v.split(" ")[0] for v in versions] == [f"v{v['version']}" for v in models["versions"]]
    champion = next(v for v in models["versions"] if "champion" in v["aliases"])
    row = page.locator("table.history tbody tr", has_text=f"v{champion['version']}").first
    assert "champion" in row.inner_text() and champion["decision"] in row.inner_text()
    assert row.locator("a").get_attribute("href") == champion["run_url"]
    page.screenshot(path=str(SCREENSHOTS / "10-model-history.png"), full_page=True)


def test_api_down_says_so_plainly(browser, tmp_path):
    process, url = start_dashboard(f"http://127.0.0.1:{free_port()}", tmp_path / "voila.log")
    try:
        page = open_dashboard(browser, url)
        text = page.inner_text(".api-down")
        assert "The prediction service is unavailable" in text and "not reachable" in text
        assert page.is_visible("button:has-text('Retry')") and "Traceback" not in page.inner_text("body")
        page.screenshot(path=str(SCREENSHOTS / "7-api-down.png"), full_page=True)
    finally:
        stop_process(process)


def test_a_50_mb_upload_reaches_the_kernel(browser, dashboard, tmp_path):
    big = tmp_path / "big.csv"
    frame = pd.read_csv(TRAIN_CSV)
    with open(big, "w") as handle:
        frame.to_csv(handle, index=False)
        while big.stat().st_size < 50 * 1024 * 1024:
            frame.to_csv(handle, index=False, header=False)
    rows = sum(1 for _ in open(big)) - 1
    head = pd.read_csv(big, nrows=5, dtype=str, keep_default_na=False)  # the preview shows cells as sent
    page = open_dashboard(browser, dashboard)
    upload(page, big)
    page.wait_for_selector(f"text={rows:,} rows", timeout=240_000)
    page.screenshot(path=str(SCREENSHOTS / "8-large-upload.png"), full_page=True)
    # the kernel got all of it: the status counts every row and column, the preview shows the first rows
    assert f"big.csv: {rows:,} rows, {len(head.columns)} columns" in page.inner_text("body")
    page.wait_for_selector("table.preview", timeout=60_000)
    assert page.eval_on_selector_all("table.preview thead th", "cells => cells.map(c => c.textContent)") \
        == list(head.columns)
    shown = page.eval_on_selector_all("table.preview tbody tr",
                                      "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
    assert shown == head.values.tolist()
    expect(page.locator("button:has-text('Predict')")).to_be_enabled()  # accepted: it can be scored


def test_idle_kernels_are_culled(browser, api, tmp_path):
    process, url = start_dashboard(api, tmp_path / "voila.log", DASHBOARD_CULL_IDLE_SECONDS="4")

    def kernels() -> int:
        alive = 0
        for child in psutil.Process(process.pid).children(recursive=True):
            try:
                alive += "ipykernel" in " ".join(child.cmdline())
            except psutil.Error:  # exited (or a zombie) since it was listed: culled
                pass
        return alive

    try:
        page = open_dashboard(browser, url)
        assert kernels() >= 1  # one per page load (the readiness check loaded the page too)
        page.context.close()
        deadline = time.time() + 60
        while time.time() < deadline and kernels():
            time.sleep(1)
        assert kernels() == 0
    finally:
        stop_process(process)
