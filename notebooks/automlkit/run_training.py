"""Run ``notebooks/train.ipynb`` with papermill and log the executed notebook into its MLflow run.

    python -m automlkit.run_training -p max_runtime_secs 60 -p sample_rows 20000

The MLflow run is created here and handed to the notebook (``run_id``), so the executed copy (written
under ``MLRUNS_DIR/notebooks/``, never a tracked file) lands in the same run even when the notebook fails;
a failed notebook marks the run FAILED with the error, a run stopped by SIGTERM or Ctrl-C is marked KILLED.
Registration is the notebook's last step, so a run that does not finish registers nothing.

The notebook's output streams to this process's log as it runs (papermill's ``log_output``: AutoML's
progress, the leaderboard, the decision). A run killed outright (SIGKILL, a lost machine) cannot close
itself: every run carries its owner (``owner_host``, ``owner_pid``) and a ``heartbeat`` tag renewed every
:data:`HEARTBEAT_SECONDS`, and the next training (or schedule) marks KILLED, with the evidence, the runs
left RUNNING whose owner process is gone or whose heartbeat stopped :data:`STALE_SECONDS` ago.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import papermill
import yaml
from mlflow import MlflowClient

from .errors import AutomlKitError, ParameterError
from .log_config import configure_logging
from .settings import TrainingSettings
from .training import TrainParams, setup_mlflow

log = logging.getLogger("automlkit.run_training")
#: How often a training run renews its ``heartbeat`` tag, and how old a heartbeat must be before another
#: host's RUNNING run counts as dead.
HEARTBEAT_SECONDS = 30
STALE_SECONDS = 600


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live training process on this host (a reused pid running something else is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    # empty while the process is being started (or a zombie): no evidence that it is not ours
    return not cmdline.strip() or "automlkit" in cmdline or "automl " in cmdline or "run_training" in cmdline


def dead_run_reason(tags: dict, now: float | None = None, host: str | None = None) -> str:
    """Why a RUNNING run's owner is gone ('' when it may be alive, or there is no evidence either way)."""
    now = time.time() if now is None else now
    host = host or socket.gethostname()
    owner_host, owner_pid = tags.get("owner_host"), tags.get("owner_pid", "")
    if owner_host == host and owner_pid.isdigit() and not _process_alive(int(owner_pid)):
        return f"its training process (pid {owner_pid} on {host}) is gone"
    beat = tags.get("heartbeat", "")
    if owner_host != host and beat.replace(".", "", 1).isdigit() and now - float(beat) > STALE_SECONDS:
        return f"its heartbeat stopped {now - float(beat):.0f} s ago (owner {owner_host}, pid {owner_pid})"
    return ""


def reap_dead_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the runs of ``experiment_id`` left RUNNING by a training process that died without
    closing them (see the module's docstring); returns their ids. Runs without an owner's tags (started by
    hand in a notebook) are left alone: there is no evidence."""
    killed = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=200):
        reason = dead_run_reason(run.data.tags)
        if reason:
            client.set_tag(run.info.run_id, "killed_reason", f"marked KILLED by pid {os.getpid()}: {reason}")
            client.set_terminated(run.info.run_id, status="KILLED")
            log.warning("run %s was left RUNNING: %s; marked KILLED", run.info.run_id, reason)
            killed.append(run.info.run_id)
    return killed


def _beat(client: MlflowClient, run_id: str, stop: threading.Event) -> None:
    """Renew the run's ``heartbeat`` tag until ``stop`` (a tracking outage only skips a beat)."""
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            client.set_tag(run_id, "heartbeat", f"{time.time():.0f}")
        except Exception as exc:  # noqa: BLE001 - the store may be briefly away; the run goes on
            log.warning("heartbeat of run %s not recorded: %s", run_id, exc)


def output_dir_of(settings: TrainingSettings) -> Path:
    """Where executed copies of the notebook go unless told otherwise (under the store, ignored by git)."""
    return settings.mlruns_dir / "notebooks"


class Terminated(AutomlKitError):
    """The process was asked to stop (SIGTERM)."""


def raise_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated`, so a run in progress is closed as KILLED, not left RUNNING."""
    def handler(signum, _frame):
        raise Terminated(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)


def read_parameters(pairs: list[list[str]]) -> dict:
    """``-p NAME VALUE`` pairs as notebook parameters, each value read as YAML (``'[GLM]'`` is a list; the
    notebook checks each one's shape, :meth:`~automlkit.training.TrainParams.read`)."""
    return {name: yaml.safe_load(value) for name, value in pairs}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``-p NAME VALUE`` as with papermill; values are read as YAML)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="notebook parameter, e.g. -p max_runtime_secs 60 or -p exclude_algos '[GLM]'")
    parser.add_argument("--notebook", default=None, help="notebook to run (default: NOTEBOOKS_DIR/train.ipynb)")
    parser.add_argument("--output-dir", default=None,
                        help="where the executed copy is written (default: MLRUNS_DIR/notebooks)")
    parser.add_argument("--timeout", type=int, default=6 * 3600, help="per-cell execution timeout, seconds")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: %(default)s)")
    return parser.parse_args(argv)


def run(parameters: dict, notebook: str | Path | None = None, output_dir: str | Path | None = None,
        timeout: int = 6 * 3600, kernel: str = "python3") -> tuple[str, Path]:
    """Execute the notebook (default: the settings') into a new MLflow run; returns (run id, executed
    notebook path).

    The kernel runs in this process's working directory, so it reads the same settings (``.env``, relative
    paths) as this process. Raises papermill's execution error after logging the failure to the run.
    """
    settings = TrainingSettings.load()
    TrainParams.read(settings, **parameters)  # a parameter of the wrong shape is refused before any run starts
    notebook = notebook or settings.train_notebook
    output_dir = output_dir or output_dir_of(settings)
    experiment_id = setup_mlflow(settings, parameters.get("experiment_name", settings.experiment_name))
    client = MlflowClient()
    reap_dead_runs(client, experiment_id)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    owner = {"runner": "make train", "owner_host": socket.gethostname(), "owner_pid": str(os.getpid()),
             "heartbeat": f"{time.time():.0f}"}
    mlflow_run = client.create_run(experiment_id, run_name=f"automl-{stamp}", tags=owner)
    run_id = mlflow_run.info.run_id
    stop_beating = threading.Event()
    threading.Thread(target=_beat, args=(client, run_id, stop_beating), name="heartbeat", daemon=True).start()
    output = Path(output_dir) / f"train-{stamp}-{run_id[:8]}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    log.info("running %s into MLflow run %s (%s); executed copy: %s", notebook, run_id,
             settings.tracking_uri, output)
    try:
        # log_output: each cell's output reaches this process's log as it comes (AutoML's progress)
        papermill.execute_notebook(str(notebook), str(output), parameters={**parameters, "run_id": run_id},
                                   kernel_name=kernel, execution_timeout=timeout, log_output=True,
                                   progress_bar=sys.stderr.isatty(), cwd=str(Path.cwd()))
    except BaseException as exc:
        stop_beating.set()
        status = "KILLED" if isinstance(exc, (Terminated, KeyboardInterrupt)) else "FAILED"
        _log_notebook(client, run_id, output)
        client.set_tag(run_id, "error", failure_reason(exc)[:5000])
        client.set_terminated(run_id, status=status)
        log.error("training stopped; run %s marked %s: %s", run_id, status, failure_reason(exc))
        raise
    stop_beating.set()
    _log_notebook(client, run_id, output)
    return run_id, output


def failure_reason(exc: BaseException) -> str:
    """One line saying why a run stopped: the failing cell's exception (``Name: message``), not its traceback."""
    if isinstance(exc, papermill.PapermillExecutionError):
        return f"cell [{exc.exec_count}]: {exc.ename}: {exc.evalue}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _log_notebook(client: MlflowClient, run_id: str, output: Path) -> None:
    if output.exists():
        client.log_artifact(run_id, str(output), "notebook")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make train``."""
    configure_logging()
    args = parse_args(argv)
    raise_on_sigterm()
    parameters = read_parameters(args.parameter)
    try:
        run_id, output = run(parameters, args.notebook, args.output_dir, args.timeout, args.kernel)
    except ParameterError as exc:
        log.error("%s", exc)
        return 2
    except papermill.PapermillExecutionError:
        return 1
    except (Terminated, KeyboardInterrupt):
        return 143
    log.info("done: run %s, executed notebook %s", run_id, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
