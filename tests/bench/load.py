"""A bounded asyncio load: N concurrent clients mixing single-row JSON and 1,000-row CSV requests.

Used by ``make bench`` (50 clients, 60 s, figures in ``bench/results.json``) and by ``tests/test_load.py``
(a shorter run in ``make test``). Each client sends one request at a time on its own kept-alive connection;
any answer other than 200 (or a transport error) counts as an error.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np


#: Clients start at random moments over this first second (a ramp-up, as load tools spawn users at a rate):
#: started in the same instant, 40 single-row requests arrived together behind 10 CSV uploads and the first
#: ones waited 40-200 ms, a burst no real set of clients produces.
RAMP_UP_SECONDS = 1.0


@dataclass
class LoadResult:
    """Latencies (ms) per kind of request, errors and the wall time of one load run."""

    clients: int
    seconds: float
    csv_rows: int
    latency: dict[str, list[float]] = field(default_factory=lambda: {"json": [], "csv": []})
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The figures ``bench/results.json`` keeps (``load_*``)."""
        out = {"load_clients": self.clients, "load_seconds": round(self.seconds, 1),
               "load_requests": sum(len(v) for v in self.latency.values()) + len(self.errors),
               "load_errors": len(self.errors), "load_csv_rows_per_request": self.csv_rows}
        out["load_requests_per_s"] = out["load_requests"] / self.seconds
        out["load_rows_per_s"] = (len(self.latency["json"]) + self.csv_rows * len(self.latency["csv"])) / self.seconds
        for kind, values in self.latency.items():
            out[f"load_{kind}_requests"] = len(values)
            if values:
                out[f"load_{kind}_p50_ms"] = float(np.percentile(values, 50))
                out[f"load_{kind}_p99_ms"] = float(np.percentile(values, 99))
        return out


async def _client(client: httpx.AsyncClient, record: dict, csv_body: bytes, share_csv: float, deadline: float,
                  seed: int, result: LoadResult) -> None:
    chooser = random.Random(seed)
    await asyncio.sleep(chooser.uniform(0, RAMP_UP_SECONDS))
    while time.perf_counter() < deadline:
        kind = "csv" if chooser.random() < share_csv else "json"
        start = time.perf_counter()
        try:
            if kind == "csv":
                answer = await client.post("/predict", files={"file": ("customers.csv", csv_body, "text/csv")})
            else:
                answer = await client.post("/predict", json={"records": [record]})
            await answer.aread()
        except httpx.HTTPError as exc:
            result.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        if answer.status_code != 200:
            result.errors.append(f"{kind}: {answer.status_code}: {answer.text[:200]}")
            continue
        result.latency[kind].append((time.perf_counter() - start) * 1000)


def run_load(url: str, record: dict, csv_body: bytes, csv_rows: int, clients: int = 50, seconds: float = 60,
             share_csv: float = 0.2) -> LoadResult:
    """``clients`` concurrent clients for ``seconds``: single-row JSON, and a ``share_csv`` of CSV uploads."""
    result = LoadResult(clients=clients, seconds=seconds, csv_rows=csv_rows)

    async def main() -> None:
        # every client is built and connected before the clock starts: building 50 httpx clients (an SSL
        # context each) kept this thread busy for ~2 s, and the first requests' latencies counted that wait
        pool = [httpx.AsyncClient(base_url=url, timeout=120) for _ in range(clients)]
        try:
            await asyncio.gather(*(client.get("/health") for client in pool))
            deadline = time.perf_counter() + seconds
            await asyncio.gather(*(_client(client, record, csv_body, share_csv, deadline, seed, result)
                                   for seed, client in enumerate(pool)))
        finally:
            await asyncio.gather(*(client.aclose() for client in pool))

    # a thread of its own: its event loop must not meet one already running in the caller's thread
    # (Playwright's sync API keeps one in pytest's main thread)
    failures: list[BaseException] = []
    worker = threading.Thread(target=lambda: _run(main, failures), name="load")
    started = time.perf_counter()
    worker.start()
    worker.join()
    result.seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return result


def _run(main, failures: list[BaseException]) -> None:
    try:
        asyncio.run(main())
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
        failures.append(exc)
