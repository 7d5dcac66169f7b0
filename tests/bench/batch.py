"""`make bench`'s batch figures: ``automl score`` on millions of rows, ``automl score-spark`` on ``local[2]``, and
the monitoring recorder's cost to the API (the same API with ``MONITORING`` on and off, measured in turns).

Called by ``tests/bench/run.py``; each command runs as a child of the bench, on the same champion.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from tests.conftest import TEST_CSV, VENV_BIN

log = logging.getLogger("bench")

#: the summary line both commands print: "... in 88.0 s (57,700 rows/s) ..."
SUMMARY = re.compile(r"scored ([\d,]+) rows, rejected ([\d,]+), in ([\d.]+) s \(([\d,]+) rows/s\)")


def repeated_csv(path: Path, rows: int) -> int:
    """Write a plain CSV of ``rows`` rows by repeating test.csv.gz (one header); returns the rows written."""
    with gzip.open(TEST_CSV, "rb") as source:
        header, *lines = source.read().splitlines(keepends=True)
    written = 0
    with open(path, "wb") as out:
        out.write(header)
        while written < rows:
            take = lines[:rows - written]
            out.writelines(take)
            written += len(take)
    return written


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command``; (wall seconds, its peak resident set in MB, its stderr). Raises when it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, stderr


def summary_of(stderr: str) -> dict:
    """The rows and rows/s of a command's summary line."""
    match = SUMMARY.search(stderr)
    if not match:
        raise RuntimeError(f"no summary line in:\n{stderr[-2000:]}")
    return {"rows": int(match[1].replace(",", "")), "rows_per_s": float(match[4].replace(",", ""))}


def batch_figures(env: dict[str, str], workdir: Path, rows: int, spark_rows: int) -> dict:
    """``automl score`` over ``rows`` rows (``batch_*``) and ``automl score-spark`` on ``local[2]`` over the
    first ``spark_rows`` of them (``spark_*``); 0 skips one."""
    results: dict = {}
    source = workdir / "batch.csv"
    if rows:
        made = repeated_csv(source, rows)
        log.info("automl score: %d rows (%.0f MB)", made, source.stat().st_size / 1e6)
        seconds, rss, stderr = run_measured([str(VENV_BIN / "automl"), "score", str(source),
                                             str(workdir / "scored.csv")], env)
        summary = summary_of(stderr)
        results.update(batch_rows=summary["rows"], batch_rows_per_s=summary["rows_per_s"],
                       batch_wall_seconds=seconds, batch_peak_rss_mb=rss)
        (workdir / "scored.csv").unlink()
        log.info("automl score: %s", stderr.strip().splitlines()[-1])
    if spark_rows:
        made = repeated_csv(source, spark_rows)
        seconds, _, stderr = run_measured([str(VENV_BIN / "automl"), "score-spark", str(source),
                                           str(workdir / "spark-out"), "--master", "local[2]"], env)
        summary = summary_of(stderr)
        results.update(spark_rows=summary["rows"], spark_rows_per_s=summary["rows_per_s"],
                       spark_wall_seconds=seconds, spark_master="local[2]")
        log.info("automl score-spark: %s", stderr.strip().splitlines()[-1])
    source.unlink(missing_ok=True)
    return results


def monitoring_overhead(on_url: str, off_url: str, record: dict, data: bytes, rounds: int = 5,
                        requests_per_round: int = 200) -> dict:
    """Single-row p50 and CSV rows/s of two APIs on the same champion, ``MONITORING`` on and off, measured in
    alternate turns so that the machine's load weighs on both alike; the overhead is the ratio of medians."""
    from .run import csv_upload, single_row_latency

    p50 = {"on": [], "off": []}
    rate = {"on": [], "off": []}
    rows = data.count(b"\n") - 1
    for turn in range(rounds):
        for name, url in (("on", on_url), ("off", off_url)) if turn % 2 == 0 else (("off", off_url), ("on", on_url)):
            p50[name].append(statistics.median(single_row_latency(url, record, requests_per_round, warmup=10)))
            rate[name].append(rows / csv_upload(url, "/predict", data, repeats=1)[0])
    on_p50, off_p50 = statistics.median(p50["on"]), statistics.median(p50["off"])
    on_rate, off_rate = statistics.median(rate["on"]), statistics.median(rate["off"])
    return {"monitoring_single_row_p50_ms_on": on_p50, "monitoring_single_row_p50_ms_off": off_p50,
            "monitoring_p50_overhead": on_p50 / off_p50 - 1,
            "monitoring_csv_rows_per_s_on": on_rate, "monitoring_csv_rows_per_s_off": off_rate,
            "monitoring_csv_overhead": off_rate / on_rate - 1, "monitoring_rounds": rounds}
