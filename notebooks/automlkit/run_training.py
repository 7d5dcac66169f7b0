"""Run ``notebooks/train.ipynb`` with papermill and log the executed notebook into its MLflow run.

    python -m automlkit.run_training -p max_runtime_secs 60 -p sample_rows 20000

The MLflow run is created here and handed to the notebook (``run_id``), so the executed copy (written
under ``MLRUNS_DIR/notebooks/``, never a tracked file) lands in the same run even when the notebook fails;
a failed notebook marks the run FAILED with the error, a run stopped by SIGTERM or Ctrl-C is marked KILLED.
Registration is the notebook's last step, so a run that does not finish registers nothing.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

import papermill
import yaml
from mlflow import MlflowClient

from .errors import AutomlKitError
from .log_config import configure_logging
from .settings import TrainingSettings
from .training import setup_mlflow

log = logging.getLogger("automlkit.run_training")


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
    """``-p NAME VALUE`` pairs as notebook parameters, each value read as YAML (``'[GLM]'`` is a list)."""
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
    notebook = notebook or settings.train_notebook
    output_dir = output_dir or output_dir_of(settings)
    experiment_id = setup_mlflow(settings, parameters.get("experiment_name", settings.experiment_name))
    client = MlflowClient()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mlflow_run = client.create_run(experiment_id, run_name=f"automl-{stamp}", tags={"runner": "make train"})
    run_id = mlflow_run.info.run_id
    output = Path(output_dir) / f"train-{stamp}-{run_id[:8]}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    log.info("running %s into MLflow run %s (%s); executed copy: %s", notebook, run_id,
             settings.tracking_uri, output)
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters={**parameters, "run_id": run_id},
                                   kernel_name=kernel, execution_timeout=timeout, progress_bar=True,
                                   cwd=str(Path.cwd()))
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, (Terminated, KeyboardInterrupt)) else "FAILED"
        _log_notebook(client, run_id, output)
        client.set_tag(run_id, "error", failure_reason(exc)[:5000])
        client.set_terminated(run_id, status=status)
        log.error("training stopped; run %s marked %s: %s", run_id, status, failure_reason(exc))
        raise
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
    except papermill.PapermillExecutionError:
        return 1
    except (Terminated, KeyboardInterrupt):
        return 143
    log.info("done: run %s, executed notebook %s", run_id, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
