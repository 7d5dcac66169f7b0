"""The API against its own OpenAPI document: the ``schemathesis run`` CLI with every check but one, against
a real uvicorn process serving the session's small champion.

Every answer must be documented (status code, content type, headers, body schema), no 5xx, invalid input
refused, ``/reload``'s declared security enforced. ``positive_data_acceptance`` is left out: a document cannot
say that a CSV upload needs a header and data rows, so schema-valid uploads are rightly refused.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import VENV_BIN

pytestmark = pytest.mark.integration

#: Test cases per operation and phase; with the seed, the same requests every run (replayable).
MAX_EXAMPLES, SEED = 150, 1


def test_every_answer_conforms_to_the_openapi_document(strict_api, tmp_path):
    contract_api = strict_api.url
    command = [
        str(VENV_BIN / "schemathesis"), "run", f"{contract_api}/openapi.json",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--request-timeout", "30", "--max-redirects", "0",
        # the token makes /reload answer 200 too (checked against its schema); `ignored_auth` then
        # re-sends without it and expects a 401
        "--header", f"Authorization: Bearer {strict_api.reload_token}",
        "--generation-database", "none", "--continue-on-failure", "--no-color",
    ]
    # in a folder of its own: no schemathesis.toml of the checkout is read, nothing is written into it
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "No issues found" in output, output[-5000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) > 100, output[-5000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested and tested.group(1) == selected.group(1) == selected.group(2), output[-5000:]
