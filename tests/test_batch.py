"""``automl score``: batch scoring of CSV files of any size (``automlkit.batch``, ``automlkit.csvstream``,
``automlkit.score_command``), checked against the API's own answers for the same rows.

The fast tests score in this process with the model the API serves (FastAPI's ``TestClient`` on the
committed tiny GBM, as ``test_routes.py``); the integration ones run the real console command.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from automlkit import csvstream
from automlkit.answers import csv_parts
from automlkit.batch import Options, score_file
from automlkit.cli import COMMANDS
from automlkit.csvstream import CsvRecords
from automlkit.errors import DataContractError
from automlkit.score_command import explain_refusal, load, resolve
from automlkit.scoring import Scored
from automlkit.settings import ApiSettings
from conftest import TEST_CSV, VENV_BIN
import route_fixtures
from route_fixtures import TINY_MODEL_NAME, restored_mlflow_uris

tiny_champion = route_fixtures.tiny_champion  # the fixture: the committed tiny model in a SQLite store

AGE = 2  # the Age field of a test.csv row


@pytest.fixture(scope="module")
def model(tiny_champion):
    """``tiny-model`` v1 loaded as ``automl score`` loads it, in pytest's main thread: the in-process JVM's
    main thread must be one that lives to the end (started in TestClient's portal thread, which ends first,
    the JVM would wait for it at exit: the process hangs)."""
    with restored_mlflow_uris():
        return load(f"models:/{TINY_MODEL_NAME}/1", tiny_champion)


@pytest.fixture(scope="module")
def client(tiny_champion, model):
    """The API serving ``tiny-model@champion`` in this process (after ``model`` started the JVM)."""
    settings = ApiSettings(tracking_uri=tiny_champion, model_name=TINY_MODEL_NAME, poll_seconds=0)
    with restored_mlflow_uris(), TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    """The header and the first 2,000 rows of test.csv.gz, as sent (line ends included)."""
    with gzip.open(TEST_CSV, "rb") as source:
        return [next(source) for _ in range(2001)]


def csv_of(lines: list[bytes], rows: int, bad: dict[int, bytes] | None = None) -> bytes:
    """The header and ``rows`` rows; ``bad`` replaces whole-file row n (1-based) by other bytes."""
    body = [(bad or {}).get(n, line) for n, line in enumerate(lines[1:rows + 1], start=1)]
    return b"".join([lines[0], *body])


def with_field(line: bytes, index: int, value: bytes) -> bytes:
    """``line`` with field ``index`` replaced."""
    fields = line.split(b",")
    fields[index] = value
    return b",".join(fields)


def api_answer(client: TestClient, data: bytes, **params) -> str:
    """The API's CSV answer for ``data`` uploaded as a file."""
    answer = client.post("/predict", files={"file": ("in.csv", data, "text/csv")}, headers={"Accept": "text/csv"},
                         params=params)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def api_error(client: TestClient, data: bytes) -> str:
    """The API's error message for ``data`` (its ``detail``)."""
    answer = client.post("/predict", files={"file": ("in.csv", data, "text/csv")})
    assert 400 <= answer.status_code < 500, answer.text[:500]
    return answer.json()["detail"]


def score(model, tmp_path: Path, data: bytes, out: str = "out.csv", source: str = "in.csv", **options):
    """``score_file`` of ``data`` (written to ``tmp_path/source``) into ``tmp_path/out``: (summary, OUT)."""
    path = tmp_path / source
    path.write_bytes(gzip.compress(data) if source.endswith(".gz") else data)
    summary = score_file(model, str(path), str(tmp_path / out), Options(**options), "tiny-model v1")
    return summary, tmp_path / out


def leftovers(folder: Path, *keep: str) -> list[str]:
    """Files in ``folder`` other than ``keep`` (temporary files, a partial OUT)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ------------------------------------------------------------------------------------------- the answer


@pytest.mark.parametrize("chunk_rows", [1, 7, 249, 250, 251])
def test_the_output_equals_the_api_csv_answer_at_any_chunk_size(model, client, lines, tmp_path, chunk_rows):
    data = csv_of(lines, 250)
    summary, out = score(model, tmp_path, data, chunk_rows=chunk_rows)
    assert out.read_text() == api_answer(client, data)
    assert (summary.rows, summary.rejected) == (250, 0)
    assert leftovers(tmp_path, "in.csv", "out.csv") == []


def test_quoted_formula_and_multiline_cells_come_back_as_the_api_writes_them(model, client, lines, tmp_path):
    """Some chunks hold plain lines (written back as sent), others quoting or formula text (parsed and
    written again, made inert): the whole file still reads as the API's answer for it."""
    table = pd.read_csv(io.BytesIO(csv_of(lines, 60)), dtype=str, keep_default_na=False)
    notes = {3: "=HYPERLINK(\"http://x\")", 17: "a, b\nc\n\"d\"", 18: "-5", 33: "@SUM(A1)", 34: "+1.5e3", 51: "say \"hi\""}
    table.insert(1, "note", [notes.get(i, "plain") for i in range(60)])
    data = table.to_csv(index=False).encode()
    _, out = score(model, tmp_path, data, chunk_rows=10)
    answer = api_answer(client, data)
    assert out.read_text() == answer
    assert "'=HYPERLINK" in answer and "'@SUM" in answer and ",-5," in answer  # made inert; numbers kept


def test_model_text_that_could_run_as_a_formula_is_written_inert_even_beside_plain_lines():
    scored = Scored(columns={"label": np.array(["=1+1", "ok"], dtype=object), "probability_=1+1": np.array([0.5, 0.25]),
                             "probability_ok": np.array([0.5, 0.75])},
                    ids=None, warnings=[], rank_by=np.array([0.5, 0.75]), problem="multiclass", classes=["=1+1", "ok"],
                    text="id,x\n1,a\n2,b\n")
    assert csv_parts(scored) == ("id,x,label,probability_=1+1,probability_ok", ["1,a,'=1+1,0.5,0.5", "2,b,ok,0.25,0.75"])


def test_gzip_in_and_out(model, client, lines, tmp_path):
    data = csv_of(lines, 300)
    _, out = score(model, tmp_path, data, out="out.csv.gz", source="in.csv.gz", chunk_rows=64)
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(out.read_bytes()).decode() == api_answer(client, gzip.compress(data))


@pytest.mark.parametrize("chunk_rows", [7, 1000])
def test_rank_orders_rows_as_the_api_rank_true(model, client, lines, tmp_path, monkeypatch, chunk_rows):
    monkeypatch.setattr(csvstream, "MAX_FAN_IN", 3)  # 43 sorted runs merged in passes of 3
    data = csv_of(lines, 300)
    _, out = score(model, tmp_path, data, rank=True, chunk_rows=chunk_rows)
    answer = api_answer(client, data, rank="true")
    ranked = pd.read_csv(io.StringIO(answer))
    assert ranked["probability"].nunique() < 300, "no ties: the order of equal scores goes untested"
    assert out.read_text() == answer
    assert leftovers(tmp_path, "in.csv", "out.csv") == []  # the sorted runs are gone


def test_explain_adds_each_rows_top_contributions_as_the_api_explains_them(model, client, lines, tmp_path):
    assert explain_refusal(model) is None
    data = csv_of(lines, 30)
    _, out = score(model, tmp_path, data, explain=True, chunk_rows=12)
    table = pd.read_csv(out)
    answer = client.post("/predict", files={"file": ("in.csv", data, "text/csv")}, params={"explain": "true"})
    for row, prediction in zip(table.to_dict("records"), answer.json()["predictions"], strict=True):
        explanation = prediction["explanation"]
        assert row["probability"] == prediction["probability"]
        assert (row["explain_bias"], row["explain_other"]) == (explanation["bias"], explanation["other"])
        top = [{"feature": row[f"explain_feature_{k}"], "contribution": row[f"explain_contribution_{k}"]}
               for k in range(1, 6)]
        assert top == explanation["top"]
    plain = pd.read_csv(io.StringIO(api_answer(client, data)))
    pd.testing.assert_frame_equal(table[plain.columns], plain)


def test_drift_over_the_whole_file_equals_the_apis_for_it(model, client, lines, tmp_path):
    data = csv_of(lines, 400)
    summary, _ = score(model, tmp_path, data, drift=True, chunk_rows=64)
    answer = client.post("/predict", files={"file": ("in.csv", data, "text/csv")}, params={"drift": "true"}).json()
    expected = {r["column"]: r["psi"] for r in answer["drift"]}
    assert {r["column"]: r["psi"] for r in summary.drift} == expected
    assert max(expected.values()) > 0
    assert summary.drift_line().startswith("drift (PSI > 0.2 against training): ")


# ----------------------------------------------------------------------------------------------- chunks


def test_records_keep_quoted_line_breaks_and_skip_blank_lines():
    data = (b"\xef\xbb\xbfid,note\r\n1,plain\r\n\r\n2,\"two\nlines\"\n3,\"a \"\"quote\"\"\"\n\n"
            b"4,\"three\n\"\"lines\"\"\nhere\"\n5,last")
    records = CsvRecords(io.BytesIO(data))
    assert records.header == b"id,note\r\n"
    chunks = list(records.chunks(2))
    assert [c.records for c in chunks] == [[b"1,plain\r\n", b"2,\"two\nlines\"\n"],
                                           [b"3,\"a \"\"quote\"\"\"\n", b"4,\"three\n\"\"lines\"\"\nhere\"\n"],
                                           [b"5,last"]]
    assert [(c.first_row, c.lines) for c in chunks] == [(1, [1, 3]), (3, [5, 7]), (5, [10])]
    assert (chunks[0].part(1, 2).first_row, chunks[0].part(1, 2).lines) == (2, [3])
    assert records.rows == 5


def test_a_quote_left_open_never_holds_the_rest_of_the_file(monkeypatch):
    monkeypatch.setattr(csvstream, "MAX_RECORD_BYTES", 100)
    data = b"id,note\n1,\"open\n" + b"".join(b"%d,plain text\n" % i for i in range(2, 1000))
    records = [r for chunk in CsvRecords(io.BytesIO(data)).chunks(50) for r in chunk.records]
    assert max(map(len, records)) < 120 and b"".join(records) == data.split(b"\n", 1)[1]


def test_crlf_bom_blank_lines_and_no_final_line_end_score_as_the_api_does(model, client, lines, tmp_path):
    rows = [line.rstrip(b"\n") + b"\r\n" for line in lines[:41]]
    rows.insert(20, b"\r\n")
    data = b"\xef\xbb\xbf" + b"".join(rows).rstrip(b"\r\n")
    _, out = score(model, tmp_path, data, chunk_rows=6)
    assert out.read_text() == api_answer(client, data)


# ------------------------------------------------------------------------------------------- bad rows


def test_a_bad_row_in_the_middle_stops_with_the_apis_whole_file_message_and_no_output(model, client, lines,
                                                                                       tmp_path):
    data = csv_of(lines, 1000, {537: with_field(lines[537], AGE, b"abc"), 538: with_field(lines[538], AGE, b"x")})
    (tmp_path / "out.csv").write_text("yesterday's\n")
    with pytest.raises(DataContractError) as failure:
        score(model, tmp_path, data, chunk_rows=100)
    assert str(failure.value) == api_error(client, data) == "column 'Age', rows 537, 538: expected a number, got ['abc', 'x']"
    assert (tmp_path / "out.csv").read_text() == "yesterday's\n"  # the old OUT stays whole
    assert leftovers(tmp_path, "in.csv", "out.csv") == []


@pytest.mark.parametrize("row", [1, 345])
def test_bytes_that_are_not_utf8_are_named_by_the_apis_row(model, client, lines, tmp_path, row):
    data = csv_of(lines, 400, {row: with_field(lines[row], 1, b"M\xe4le")})
    with pytest.raises(DataContractError) as failure:
        score(model, tmp_path, data, chunk_rows=50)
    assert str(failure.value) == api_error(client, data)
    assert f"in row {row} " in str(failure.value) and leftovers(tmp_path, "in.csv") == []


def test_an_empty_file_and_a_header_alone_are_refused_as_the_api_refuses_them(model, client, lines, tmp_path):
    for data in (b"", lines[0]):
        with pytest.raises(DataContractError) as failure:
            score(model, tmp_path, data)
        assert str(failure.value) == api_error(client, data)
        assert leftovers(tmp_path, "in.csv") == []


def test_skip_bad_rows_writes_them_with_the_reason_and_scores_the_rest(model, client, lines, tmp_path):
    bad = {3: with_field(lines[3], AGE, b"abc"), 120: with_field(lines[120], 8, b"inf"),
           121: lines[121].rstrip(b"\n") + b",extra\n", 200: with_field(lines[200], 1, b"M\xe4le"),
           **{n: with_field(lines[n], AGE, f"bad{n}".encode()) for n in range(251, 258)}}  # 7: more than a problem names
    data = csv_of(lines, 300, bad)
    summary, out = score(model, tmp_path, data, rejects=str(tmp_path / "rejects.csv"), chunk_rows=50)
    good = b"".join([lines[0], *(lines[n] for n in range(1, 301) if n not in bad)])
    assert out.read_text() == api_answer(client, good)
    assert (summary.rows, summary.rejected) == (300 - len(bad), len(bad))
    rejects = pd.read_csv(tmp_path / "rejects.csv", dtype=str, keep_default_na=False)
    assert list(rejects.columns) == ["row", "reason", *lines[0].decode().strip().split(",")]
    assert rejects["row"].astype(int).tolist() == sorted(bad)
    for n, reason in zip(sorted(bad), rejects["reason"]):  # the API's message for the file with only that row bad
        assert reason == api_error(client, csv_of(lines, 300, {n: bad[n]})), n
    assert rejects.iloc[0, 2:].tolist() == bad[3].decode().strip().split(",")
    assert rejects.loc[rejects["row"] == "121", "Vintage"].item().endswith(",extra")  # a row too long: kept
    assert leftovers(tmp_path, "in.csv", "out.csv", "rejects.csv") == []


def test_a_problem_that_is_not_about_rows_stops_even_when_skipping(model, client, lines, tmp_path):
    data = b"".join(b",".join(line.split(b",")[:1] + line.split(b",")[2:]) for line in lines[:50])  # no Gender
    with pytest.raises(DataContractError) as failure:
        score(model, tmp_path, data, rejects=str(tmp_path / "rejects.csv"), chunk_rows=10)
    assert str(failure.value) == api_error(client, data) and "'Gender'" in str(failure.value)
    assert leftovers(tmp_path, "in.csv") == []


def test_when_every_row_is_bad_nothing_is_written(model, lines, tmp_path):
    data = csv_of(lines, 20, {n: with_field(lines[n], AGE, b"?") for n in range(1, 21)})
    with pytest.raises(DataContractError, match="no row could be scored: all 20 rows break the data contract; "
                                                "the first: column 'Age', rows 1: expected a number"):
        score(model, tmp_path, data, rejects=str(tmp_path / "rejects.csv"), chunk_rows=8)
    assert leftovers(tmp_path, "in.csv") == []


def test_an_interrupted_run_leaves_no_output(model, lines, tmp_path):
    (tmp_path / "in.csv").write_bytes(csv_of(lines, 500))
    calls = []

    def interrupt(rows: int) -> None:
        calls.append(rows)
        if len(calls) == 2:
            raise KeyboardInterrupt

    for options in (Options(chunk_rows=100), Options(chunk_rows=100, rank=True, rejects=str(tmp_path / "r.csv"))):
        with pytest.raises(KeyboardInterrupt):
            score_file(model, str(tmp_path / "in.csv"), str(tmp_path / "out.csv.gz"), options, progress=interrupt)
        assert leftovers(tmp_path, "in.csv") == []
        calls.clear()


# ------------------------------------------------------------------------------------------ the command


def test_the_command_is_registered_and_an_alias_is_pinned_to_its_version(tiny_champion):
    assert COMMANDS["score"][0] == "automlkit.score_command:main"
    assert resolve(f"models:/{TINY_MODEL_NAME}@champion", tiny_champion) == (
        f"models:/{TINY_MODEL_NAME}/1", f"{TINY_MODEL_NAME} v1 (@champion)")
    assert resolve("models:/other/7", tiny_champion) == ("models:/other/7", "other v7")
    with restored_mlflow_uris():
        assert load(f"models:/{TINY_MODEL_NAME}/1", tiny_champion).problem == "binary"


def command(args: list[str], tracking_uri: str, **kwargs) -> subprocess.Popen:
    """The real console command ``automl score ARGS`` with the tiny champion as the default model."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MODEL_NAME": TINY_MODEL_NAME,
           "AUTOML_ENV_FILE": os.devnull}
    return subprocess.Popen([str(VENV_BIN / "automl"), "score", *args], env=env, **kwargs)


def big_file(lines: list[bytes], path: Path, rows: int, bad: dict[int, bytes] | None = None) -> bytes:
    """``rows`` rows made by repeating test.csv's first 2,000 (``bad``: whole-file row n replaced)."""
    body = [lines[1 + i % 2000] for i in range(rows)]
    for n, line in (bad or {}).items():
        body[n - 1] = line
    data = b"".join([lines[0], *body])
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.name.endswith(".gz") else data)
    return data


@pytest.mark.integration
def test_stdin_to_stdout_through_the_console_command(tiny_champion, client, lines):
    data = csv_of(lines, 700)
    process = command(["-", "-", "--chunk-rows", "100"], tiny_champion, stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate(data, timeout=300)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode() == api_answer(client, data)
    summary = stderr.decode().splitlines()
    assert len(summary) == 1 and summary[0].startswith("scored 700 rows, rejected 0, in "), summary  # no bar: no tty
    assert summary[0].endswith(" rows/s) with tiny-model v1 (@champion)")


@pytest.mark.integration
def test_a_large_gzip_file_with_a_bad_row_in_the_middle(tiny_champion, client, lines, tmp_path):
    rows, bad_row = 300_000, 150_001
    source, out = tmp_path / "big.csv.gz", tmp_path / "scored.csv.gz"
    big_file(lines, source, rows, {bad_row: with_field(lines[1], AGE, b"forty")})
    process = command([str(source), str(out)], tiny_champion, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 1
    assert stderr.decode() == f"automl score: column 'Age', rows {bad_row}: expected a number, got ['forty']\n"
    assert leftovers(tmp_path, "big.csv.gz") == []
    data = big_file(lines, source, rows)
    process = command([str(source), str(out)], tiny_champion, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()
    assert stderr.decode().startswith(f"scored {rows:,} rows, rejected 0, in ")
    assert gzip.decompress(out.read_bytes()).decode() == api_answer(client, data)


@pytest.mark.integration
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_command_leaves_no_output(tiny_champion, lines, tmp_path, sent):
    source, out = tmp_path / "big.csv", tmp_path / "scored.csv"
    big_file(lines, source, 1_000_000)
    process = command([str(source), str(out), "--chunk-rows", "20000"], tiny_champion, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".part") and p.stat().st_size for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
        time.sleep(0.1)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    assert stderr.decode().endswith(f"automl score: interrupted; {out} not written\n")
    assert leftovers(tmp_path, "big.csv") == []
