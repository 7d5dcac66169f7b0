"""The Voilà dashboard in headless Chromium against real servers (mlflow, the API with a small champion, Voilà).

Screenshots of each state go to ``test-artifacts/screenshots/`` (docs/testing.md).
"""

from __future__ import annotations

import glob
import hashlib
import io
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import requests
from playwright.sync_api import expect

from conftest import SCREENSHOTS, TEST_CSV, TRAIN_CSV, free_port, start_dashboard, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def api(shared_api) -> str:
    """The session's API with the default limits (the dashboard's 50 MB upload fits)."""
    return shared_api.url


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


def control(page, label: str, kind: str = "input"):
    """The input (or select) of the ipywidgets control labelled ``label``."""
    return page.locator(f".widget-inline-hbox:has(> label:text-is('{label}')) {kind}").first


def follow_predict(page, until: str = ".download-link", timeout: float = 600) -> list[tuple[str, int]]:
    """Click Predict and record each (stage, percent) the progress shows until it says done (or stopped) and
    ``until`` is visible (the results show a moment before the line says done)."""
    page.click("button:has-text('Predict')")
    seen: list[tuple[str, int]] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = page.evaluate("(() => { const s = document.querySelector('.predict-stage');"
                              " return s ? [s.dataset.stage, Number(s.dataset.percent)] : null; })()")
        if state and (not seen or tuple(state) != seen[-1]):
            seen.append(tuple(state))
            if state[0] == "score":
                page.screenshot(path=str(SCREENSHOTS / "13-predict-progress.png"), full_page=True)
        if seen and seen[-1][0] in ("done", "stopped") and page.is_visible(until):
            return seen
        time.sleep(0.05)
    raise TimeoutError(f"{until} did not show within {timeout} s; progress seen: {seen}")


def api_ranked_csv(api: str, content: bytes) -> bytes:
    """The API's own ranked CSV answer for ``content``."""
    answer = requests.post(f"{api}/predict", params={"rank": "true"}, files={"file": ("c.csv", content)},
                           headers={"Accept": "text/csv"}, timeout=600)
    assert answer.status_code == 200, answer.text[:500]
    return answer.content


def test_upload_predict_rank_threshold_and_download(browser, dashboard, api, customers_csv):
    page = open_dashboard(browser, dashboard)
    card = requests.get(f"{api}/model", timeout=10).json()
    assert f"version</b> {card['version']}" in page.inner_html(".model-card")
    page.screenshot(path=str(SCREENSHOTS / "1-model-card.png"), full_page=True)

    upload(page, customers_csv)
    page.wait_for_selector("text=400 rows", timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "2-uploaded-preview.png"), full_page=True)

    seen = follow_predict(page)
    assert seen[-1] == ("done", 100) and [p for _, p in seen] == sorted(p for _, p in seen)
    page.screenshot(path=str(SCREENSHOTS / "3-predicted.png"), full_page=True)

    content = customers_csv.read_bytes()
    ranked = requests.post(f"{api}/predict", params={"rank": "true"}, files={"file": ("c.csv", content)},
                           timeout=60).json()["predictions"]
    shown = ranked_rows(page)
    assert [int(r["rank"]) for r in shown] == list(range(1, 21))
    assert [int(r["id"]) for r in shown] == [p["id"] for p in ranked[:20]]
    # four significant digits on the page (the download keeps every digit, below)
    assert [r["probability"] for r in shown] == [f"{p['probability']:#.4g}" for p in ranked[:20]]
    assert "page 1 of 20" in page.inner_text("body")

    # sort by any column, search, and jump to a page: the rows the user sees are the API's rows so arranged
    api_csv = api_ranked_csv(api, content)
    table = pd.read_csv(io.BytesIO(api_csv), dtype=str, keep_default_na=False)
    control(page, "Sort by", "select").select_option("Age")
    control(page, "Order", "select").select_option(label="descending")
    search = control(page, "Search")
    search.fill("female")
    search.press("Enter")
    females = table[table.apply(lambda column: column.str.contains("female", case=False)).any(axis=1)]
    expected = females.assign(age=females["Age"].astype(float)).sort_values("age", ascending=False, kind="stable")
    page.wait_for_function(f"document.body.innerText.includes('{len(expected):,} of 400 rows match')",
                           timeout=30_000)
    assert [r["id"] for r in ranked_rows(page)] == expected["id"].tolist()[:20]
    jump = control(page, "Go to page")
    jump.fill("2")
    jump.press("Enter")
    page.wait_for_function("document.body.innerText.includes('page 2 of')", timeout=30_000)
    assert [r["id"] for r in ranked_rows(page)] == expected["id"].tolist()[20:40]
    page.locator("table.ranked").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "12-sorted-searched-page-2.png"), full_page=True)
    search.fill("")
    search.press("Enter")
    control(page, "Sort by", "select").select_option("rank")
    control(page, "Order", "select").select_option(label="ascending")
    page.wait_for_function("document.body.innerText.includes('page 1 of 20')", timeout=30_000)

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
    assert downloaded == api_csv  # the API's own ranked CSV answer, every digit, as a real download
    assert download.value.suggested_filename == "customers-scored.csv"
    assert page.get_attribute(".download-link", "href").startswith("/voila/downloads/")
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

    # a column named <script> is text on the page: in the preview, and in the API's message
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    hostile = tmp_path / "hostile.csv"
    hostile.write_text("<script>alert(1)</script>,<b>bold</b>\n1,<img src=x onerror=alert(2)>\n")
    upload(page, hostile)
    page.wait_for_selector("text=hostile.csv: 1 rows", timeout=60_000)
    page.click("button:has-text('Predict')")
    page.wait_for_selector(".problems", timeout=60_000)
    assert "<script>alert(1)</script>" in page.inner_text(".problems")  # named as text
    assert "<script>alert(1)</script>" in page.inner_text("table.preview")
    assert page.locator("table.preview img, table.preview b, .problems b:text-is('bold')").count() == 0
    assert dialogs == []
    page.screenshot(path=str(SCREENSHOTS / "15-script-column-as-text.png"), full_page=True)

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
        page.click(".lm-TabBar-tab:has-text('Monitoring')")  # the monitoring tab says so too
        page.wait_for_selector(".monitoring-error[data-reason='unavailable']", timeout=60_000)
        assert "The monitoring is unavailable" in page.inner_text(".monitoring-error")
        assert "not reachable" in page.inner_text(".monitoring-error")
    finally:
        stop_process(process)


def test_a_50_mb_upload_is_scored_once_and_downloaded_over_http(browser, dashboard, api, tmp_path):
    big = tmp_path / "big.csv"
    frame = pd.read_csv(TEST_CSV)
    with open(big, "w") as handle:  # ~50 MB of real rows, repeated (under the API's million rows)
        frame.head(0).to_csv(handle, index=False)
        start = 0
        while handle.tell() < 50 * 1024 * 1024:
            frame.iloc[start:start + 10_000].to_csv(handle, index=False, header=False)
            start = (start + 10_000) % len(frame)
    rows = sum(1 for _ in open(big)) - 1
    head = pd.read_csv(big, nrows=5, dtype=str, keep_default_na=False)  # the preview shows cells as sent
    page = open_dashboard(browser, dashboard)
    upload(page, big)
    # the browser's own bar follows the upload to the kernel
    # (read from the slot the bar was drawn in: the kernel may redraw an empty slot beside or over it)
    slot = page.wait_for_selector(".upload-progress[data-total]:has(progress)", state="attached", timeout=60_000)
    assert int(slot.get_attribute("data-total")) >= big.stat().st_size
    page.screenshot(path=str(SCREENSHOTS / "14-upload-progress.png"), full_page=True)
    page.wait_for_selector(f"text={rows:,} rows", timeout=240_000)
    expect(page.locator(".upload-progress progress")).to_have_count(0)  # done: the kernel has the file
    page.screenshot(path=str(SCREENSHOTS / "8-large-upload.png"), full_page=True)
    # the kernel got all of it: the status counts every row and column, the preview shows the first rows
    assert f"big.csv: {rows:,} rows, {len(head.columns)} columns" in page.inner_text("body")
    page.wait_for_selector("table.preview", timeout=60_000)
    assert page.eval_on_selector_all("table.preview thead th", "cells => cells.map(c => c.textContent)") \
        == list(head.columns)
    shown = page.eval_on_selector_all("table.preview tbody tr",
                                      "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
    assert shown == head.values.tolist()
    expect(page.locator("button:has-text('Predict')")).to_be_enabled()

    # Predict: the bar moves through the stages, in order, and ends at 100
    seen = follow_predict(page, timeout=900)
    stages = list(dict.fromkeys(stage for stage, _ in seen))
    assert stages[0] == "check" and stages[-1] == "done" and "score" in stages and len(stages) >= 4
    assert stages == sorted(stages, key=["check", "send", "score", "receive", "table", "charts", "done"].index)
    assert [p for _, p in seen] == sorted(p for _, p in seen) and seen[-1][1] == 100
    page.screenshot(path=str(SCREENSHOTS / "16-large-predicted.png"), full_page=True)
    assert f"Scored {rows:,} customers" in page.inner_text(".scored")

    # the download is a plain file the server serves: fetched over HTTP, it is the API's own answer
    href = page.get_attribute(".download-link", "href")
    assert href.startswith("/voila/downloads/") and not href.startswith("data:")
    downloaded = tmp_path / "downloaded.csv"
    with requests.get(dashboard.rstrip("/") + href, stream=True, timeout=600) as answer:
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in answer.headers["Content-Disposition"] and "big-scored.csv" in \
            answer.headers["Content-Disposition"]
        with open(downloaded, "wb") as out:
            for chunk in answer.iter_content(1024 * 1024):
                out.write(chunk)
    api_csv = api_ranked_csv(api, big.read_bytes())
    ours = pd.read_csv(downloaded, dtype=str, keep_default_na=False)
    theirs = pd.read_csv(io.BytesIO(api_csv), dtype=str, keep_default_na=False)
    assert len(ours) == len(theirs) == rows and list(ours.columns) == list(theirs.columns)
    assert {"probability", "label", "rank"} <= set(ours.columns) and ours["rank"].iloc[0] == "1"
    for position in (0, 1, 12_345, rows // 2, rows - 1):
        assert ours.iloc[position].tolist() == theirs.iloc[position].tolist()
    assert hashlib.sha256(downloaded.read_bytes()).digest() == hashlib.sha256(api_csv).digest()


def test_an_idle_page_says_its_session_was_closed_and_idle_kernels_are_culled(browser, api, customers_csv,
                                                                                 tmp_path):
    process, url = start_dashboard(api, tmp_path / "voila.log", DASHBOARD_CULL_IDLE_SECONDS="8")
    downloads = Path(glob.glob(f"{tempfile.gettempdir()}/automl-dashboard-downloads-{process.pid}-*")[0])

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
        upload(page, customers_csv)
        page.wait_for_selector("text=400 rows", timeout=60_000)
        page.click("button:has-text('Predict')")
        page.wait_for_selector(".download-link", timeout=120_000)
        href = page.get_attribute(".download-link", "href")
        assert requests.get(url.rstrip("/") + href, timeout=30).status_code == 200
        kernel_folder = downloads / href.split("/")[3]
        assert kernel_folder.is_dir()

        # left alone, the page's kernel is culled: the page says so instead of failing silently
        page.wait_for_selector(".session-ended", timeout=90_000)
        assert page.get_attribute(".session-ended", "data-reason") == "culled"
        message = page.inner_text(".session-ended")
        assert "not used for 8 seconds" in message and "Reload the page" in message
        page.screenshot(path=str(SCREENSHOTS / "17-session-closed.png"), full_page=True)
        deadline = time.time() + 60  # its files go with it
        while time.time() < deadline and kernel_folder.exists():
            time.sleep(1)
        assert not kernel_folder.exists() and requests.get(url.rstrip("/") + href, timeout=30).status_code == 404
        page.click(".session-ended button")
        page.wait_for_selector(".model-card", timeout=120_000)
        assert page.locator(".session-ended").count() == 0  # a fresh session

        page.context.close()
        deadline = time.time() + 60
        while time.time() < deadline and kernels():
            time.sleep(1)
        assert kernels() == 0
    finally:
        stop_process(process)
    assert not downloads.exists()  # the server removes its downloads when it stops
