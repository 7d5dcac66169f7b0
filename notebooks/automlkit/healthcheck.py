"""The compose services' healthchecks: standard library only, so that each answers in milliseconds.

    python -m automlkit.healthcheck heartbeat                  # the trainer: its schedule's heartbeat is fresh
    python -m automlkit.healthcheck http URL                   # one GET answers 200 (/ready, /health, ...)
    python -m automlkit.healthcheck h2o URL --size N           # a healthy H2O cloud of N nodes in consensus

An orchestrator runs a check every few seconds, and acts on it exactly when the host is busy: a check that
imported the training stack (measured in the trainer's container: 11 s of imports, mlflow, papermill and
``automlkit.training``) competed with the training it watched and timed out while the service was alive.
So this module imports nothing but the standard library (``tests/test_retrain_health.py`` checks it), and
the heavy modules import their shared definitions from here: the heartbeat's path and staleness, and what a
ready H2O cloud is. Each check prints one line saying what it saw (``make up`` shows the last one while it
waits) and exits 0 (healthy) or 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

#: The trainer's schedule rewrites this file while it is alive (``automlkit.retrain.beat_while_alive``).
HEARTBEAT = Path(tempfile.gettempdir()) / "automlkit-retrain.heartbeat"
#: Seconds between heartbeats, and the age past which the schedule counts as dead.
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_STALE_SECONDS = 60.0
#: Seconds one check's GET may take (the compose checks' own timeouts are longer).
GET_TIMEOUT = 3.0


def heartbeat_age(path: Path = HEARTBEAT) -> float:
    """Seconds since the schedule's last heartbeat (infinite when there is none)."""
    try:
        return time.time() - float(path.read_text())
    except (OSError, ValueError):
        return float("inf")


def check_heartbeat(path: Path = HEARTBEAT, stale: float = HEARTBEAT_STALE_SECONDS) -> tuple[bool, str]:
    """Healthy while the heartbeat is younger than ``stale`` seconds; a dead schedule lets it go stale."""
    age = heartbeat_age(path)
    if age == float("inf"):
        return False, f"no schedule heartbeat yet ({path})"
    return age < stale, f"schedule heartbeat {age:.0f} s ago" + ("" if age < stale else f" (stale after {stale:.0f} s)")


def get(url: str, timeout: float = GET_TIMEOUT) -> tuple[int, bytes]:
    """One GET: the status and the body (an HTTP error's too); raises OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_http(url: str, timeout: float = GET_TIMEOUT) -> tuple[bool, str]:
    """Healthy when one GET of ``url`` answers 200; otherwise the status and the start of the body."""
    try:
        status, body = get(url, timeout)
    except OSError as exc:
        return False, f"GET {url}: {getattr(exc, 'reason', exc)}"
    text = " ".join(body[:300].decode("utf-8", "replace").split())
    return status == 200, f"GET {url}: {status}" + (f" {text}" if status != 200 and text else "")


def cloud_state(url: str, timeout: float = 5.0) -> dict:
    """What the H2O node at ``url`` says of its cluster (``GET /3/Cloud``)."""
    status, body = get(f"{url.rstrip('/')}/3/Cloud", timeout)
    if status != 200:
        raise OSError(f"GET /3/Cloud answered {status}")
    return json.loads(body)


def cloud_ready(state: dict, size: int) -> bool:
    """True when ``state`` (of :func:`cloud_state`) is a healthy cloud in consensus, of ``size`` nodes
    (of any size when ``size`` is 0)."""
    return (size in (0, state["cloud_size"])) and bool(state["consensus"]) and bool(state["cloud_healthy"])


def check_h2o(url: str, size: int) -> tuple[bool, str]:
    """Healthy when the node at ``url`` reports a healthy cloud of ``size`` nodes in consensus."""
    try:
        state = cloud_state(url, GET_TIMEOUT)
    except (OSError, ValueError) as exc:
        return False, f"H2O at {url}: {getattr(exc, 'reason', exc)}"
    return cloud_ready(state, size), (f"{state['cloud_size']} of {size or 'any'} node(s), healthy: "
                                      f"{state['cloud_healthy']}, consensus: {state['consensus']}")


def main(argv: list[str] | None = None) -> int:
    """Run one check, print what it saw, exit 0 when healthy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    checks = parser.add_subparsers(dest="check", required=True)
    checks.add_parser("heartbeat", help="the trainer's schedule is alive (its heartbeat file is fresh)")
    http = checks.add_parser("http", help="one GET of URL answers 200")
    http.add_argument("url")
    cloud = checks.add_parser("h2o", help="URL is a healthy H2O cloud of --size nodes in consensus")
    cloud.add_argument("url")
    cloud.add_argument("--size", type=int, default=1, help="nodes the cloud must have (0: any; default 1)")
    args = parser.parse_args(argv)
    if args.check == "heartbeat":
        healthy, seen = check_heartbeat(HEARTBEAT)
    elif args.check == "http":
        healthy, seen = check_http(args.url)
    else:
        healthy, seen = check_h2o(args.url, args.size)
    print(seen)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
