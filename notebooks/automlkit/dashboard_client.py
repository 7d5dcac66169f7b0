"""The dashboard's HTTP client of the prediction API: the model card, the versions, the monitoring, a file
scored (streamed up and down) and a customer explained; the API's refusals and outages as exceptions the page
can show, and the API's ``X-Drift`` and ``X-Warnings`` headers read back."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import requests
from urllib3.fields import RequestField

from .errors import AutomlKitError, Problem, ServiceError
from .settings import DashboardSettings

#: Bytes per chunk when streaming a file to the API or its answer to disk.
UPLOAD_CHUNK = DOWNLOAD_CHUNK = 1024 * 1024


class ApiUnavailable(ServiceError):
    """The API did not answer (down, or not ready); the message says so plainly."""


class ApiRejected(AutomlKitError):
    """The API refused the input with a 4xx; ``problems`` say where and why."""

    def __init__(self, detail: str, problems: list[Problem], status: int | None = None):
        super().__init__(detail)
        self.detail, self.problems, self.status = detail, problems, status


@dataclass
class ScoredFile:
    """The API's ranked CSV answer, written to ``path`` (``size`` bytes), and the model that made it."""

    path: Path
    model: str
    version: str
    size: int
    #: the drifted features from ``X-Drift`` (name and PSI only), when drift was asked of the API
    drift: list[dict] | None = None
    #: the per-row warnings from ``X-Warnings``, when the API sends them
    warnings: list[Problem] = field(default_factory=list)


class ApiClient:
    """The API calls the dashboard makes: the model card, the versions, a file scored, a customer explained."""

    def __init__(self, settings: DashboardSettings):
        self.settings = settings
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = f"{self.settings.api_url}{path}"
        try:
            answer = self.session.request(method, url, timeout=self.settings.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ApiUnavailable(f"The prediction service at {self.settings.api_url} is not reachable.") from exc
        if answer.status_code == 503:
            raise ApiUnavailable(f"The prediction service has no model loaded yet: {_detail(answer)}")
        if 400 <= answer.status_code < 500:
            body = _json(answer)
            problems = [Problem(**p) for p in body.get("problems", [])] if isinstance(body, dict) else []
            raise ApiRejected(_detail(answer), problems, answer.status_code)
        if answer.status_code >= 500:
            raise ApiUnavailable(f"The prediction service failed ({answer.status_code}): {_detail(answer)}")
        return answer

    def model_card(self) -> dict:
        """``GET /model``; raises :class:`ApiUnavailable` when no model is served."""
        card = self._call("GET", "/model").json()
        if not card.get("version"):
            reason = (card.get("load_error") or {}).get("message", "no model loaded yet")
            raise ApiUnavailable(f"The prediction service has no model loaded yet: {reason}")
        return card

    def explain(self, record: dict) -> dict:
        """``POST /predict?explain=true`` for one customer: its prediction and ``explain`` block."""
        return self._call("POST", "/predict", params={"explain": "true"}, json={"records": [record]}).json()

    def models(self) -> dict:
        """``GET /models``: the registered versions, their metrics and aliases, and why."""
        return self._call("GET", "/models").json()

    def monitoring(self, since: str, every: str = "day") -> dict:
        """``GET /monitoring?since=…&every=day|hour``: what was scored, drift and realised metrics over time."""
        return self._call("GET", "/monitoring", params={"since": since, "every": every}).json()

    def predict(self, filename: str, content: bytes, destination: Path, drift: bool = False,
                sent: Callable[[int, int], None] | None = None,
                received: Callable[[int, int], None] | None = None) -> ScoredFile:
        """Score a CSV once: ``POST /predict?rank=true`` with ``Accept: text/csv``, the file streamed up (``sent``
        is called with the bytes sent and the total) and the API's ranked CSV answer (the input columns as sent,
        the scores, ``rank``; most likely first) streamed straight into ``destination`` (``received``: bytes
        received, and the total when the API says it). With ``drift``, the API's ``X-Drift`` header too."""
        body = UploadBody(filename, content, sent)
        params = {"rank": "true", **({"drift": "true"} if drift else {})}
        answer = self._call("POST", "/predict", params=params, data=body, stream=True,
                            headers={"Content-Type": body.content_type, "Accept": "text/csv"})
        total, done = int(answer.headers.get("Content-Length") or 0), 0
        try:
            with answer, open(destination, "wb") as out:
                for chunk in answer.iter_content(DOWNLOAD_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if received:
                        received(done, total)
        except requests.RequestException as exc:
            raise ApiUnavailable(f"The prediction service stopped answering halfway: {exc}") from exc
        header = answer.headers.get("X-Drift")
        return ScoredFile(Path(destination), answer.headers.get("X-Model-Name", ""),
                          answer.headers.get("X-Model-Version", ""), done,
                          drift_from_header(header) if header is not None else None,
                          warnings_from_header(answer.headers.get("X-Warnings")))


def warnings_from_header(header: str | None) -> list[Problem]:
    """The API's ``X-Warnings`` header (a JSON array of problems) as problems; nothing when absent or unreadable."""
    try:
        return [Problem(**w) for w in json.loads(header or "[]")]
    except (ValueError, TypeError):
        return []


def drift_from_header(header: str) -> list[dict]:
    """The API's ``X-Drift`` header (``name=psi,...`` or ``none``) as drift rows (name and PSI only)."""
    rows = []
    for item in header.split(","):
        name, _, value = item.strip().rpartition("=")
        try:
            psi = float(value)
        except ValueError:
            continue
        if name:
            rows.append({"column": name, "psi": psi, "drifted": True})
    return rows


class UploadBody:
    """A CSV as one ``multipart/form-data`` body (field ``file``), read in chunks so the bytes sent can be
    counted (``on_read(sent, total)``); the file's bytes are not copied."""

    def __init__(self, filename: str, content: bytes, on_read: Callable[[int, int], None] | None = None):
        boundary = secrets.token_hex(16)
        part = RequestField(name="file", data=b"", filename=filename)
        part.make_multipart(content_type="application/octet-stream")
        self._parts = [f"--{boundary}\r\n{part.render_headers()}".encode(), memoryview(content),
                       f"\r\n--{boundary}--\r\n".encode()]
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._length = sum(len(p) for p in self._parts)
        self._offset = 0
        self._on_read = on_read

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(UPLOAD_CHUNK):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative) from where the last read stopped."""
        size = self._length - self._offset if size is None or size < 0 else size
        out, start = [], self._offset
        position = 0
        for part in self._parts:
            end = position + len(part)
            if self._offset < end and size > 0:
                take = min(end - self._offset, size)
                out.append(bytes(part[self._offset - position:self._offset - position + take]))
                self._offset += take
                size -= take
            position = end
        if self._on_read and self._offset > start:
            self._on_read(self._offset, self._length)
        return b"".join(out)


def _json(answer: requests.Response):
    try:
        return answer.json()
    except ValueError:
        return None


def _detail(answer: requests.Response) -> str:
    body = _json(answer)
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return answer.text[:300] or answer.reason
