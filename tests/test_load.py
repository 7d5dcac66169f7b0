"""Load: 50 concurrent clients mixing single-row JSON and 1,000-row CSV requests against a real uvicorn.

`make bench` runs the same load for 60 s and records the figures; here it runs shorter, and every request
must be answered with a 200.
"""

from __future__ import annotations

import pandas as pd
import pytest
import requests

from bench.load import run_load
from conftest import TEST_CSV

pytestmark = pytest.mark.integration


def test_fifty_concurrent_clients_get_no_error(shared_api):
    frame = pd.read_csv(TEST_CSV, nrows=1000)
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[0].to_dict().items()}
    url = shared_api.url
    result = run_load(url, record, frame.to_csv(index=False).encode(), len(frame), clients=50, seconds=15)
    assert requests.get(f"{url}/ready", timeout=10).status_code == 200
    summary = result.summary()
    assert result.errors == [], result.errors[:5]
    assert summary["load_json_requests"] > 50 and summary["load_csv_requests"] > 5, summary
    assert summary["load_json_p99_ms"] >= summary["load_json_p50_ms"] > 0

