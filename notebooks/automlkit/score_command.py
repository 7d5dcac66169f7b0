"""``automl score IN OUT``: score a CSV of any size with the registry's champion (or any model), streaming.

    automl score customers.csv.gz scored.csv.gz              # MODEL_NAME@MODEL_ALIAS of MLFLOW_TRACKING_URI
    automl score - - < customers.csv > scored.csv            # standard input to standard output
    automl score customers.csv ranked.csv --rank --skip-bad-rows rejects.csv --model models:/cross-sell/3

IN and OUT are CSV or gzip CSV (OUT by its ``.gz`` suffix, IN by its first bytes); ``-`` is standard input or
output. The output equals the API's CSV answer for the same rows (``automlkit.batch``). On stderr: a progress
bar with rows/s on a terminal, and a one-line summary.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
from typing import BinaryIO

import numpy as np

from .batch import DEFAULT_CHUNK_ROWS, Options, score_file
from .errors import AutomlKitError, DataContractError
from .scoring import ScoringModel
from .settings import CommonSettings

log = logging.getLogger(__name__)

#: Exit statuses besides 0: the input or the model is refused, the arguments are wrong, interrupted.
FAILED, USAGE, INTERRUPTED = 1, 2, 130
#: A registered version's model URI: ``models:/NAME/VERSION``.
VERSION_URI = re.compile(r"models:/([^/@]+)/(\d+)")


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    commands = argparse.ArgumentParser(prog="automl score", description="score a CSV of any size, streaming",
                                       formatter_class=argparse.RawDescriptionHelpFormatter,
                                       epilog="\n".join(__doc__.splitlines()[2:]))
    commands.add_argument("input", metavar="IN", help="the CSV to score (.csv or .csv.gz; - for standard input)")
    commands.add_argument("output", metavar="OUT", help="where the scored CSV goes (.gz: gzip; - for standard "
                                                        "output); written whole at the end or not at all")
    commands.add_argument("--model", metavar="URI", help="an MLflow model URI such as models:/NAME@ALIAS or "
                                                         "models:/NAME/VERSION (default: MODEL_NAME@MODEL_ALIAS)")
    commands.add_argument("--rank", action="store_true", help="order rows as the API's ?rank=true (largest "
                                                              "score first) and add `rank`; sorted on disk")
    commands.add_argument("--explain", action="store_true", help="add each row's top SHAP contributions as "
                                                                 "explain_* columns (binary and regression trees)")
    commands.add_argument("--drift", action="store_true", help="print each feature's population stability index "
                                                               "over the whole file against the training data")
    commands.add_argument("--skip-bad-rows", metavar="REJECTS.csv", dest="rejects",
                          help="write rows that break the data contract there, with the reason, and score the "
                               "rest (default: stop at the first bad chunk and write no OUT)")
    commands.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                          help="rows scored at once (default: %(default)s; at most 1,000 with --explain)")
    commands.add_argument("--verbose", action="store_true", help="log at LOG_LEVEL (default: warnings only)")
    return commands


def resolve(uri: str, tracking_uri: str) -> tuple[str, str]:
    """The URI to load (an alias resolved to its version now, so the run scores one version throughout) and
    how the summary names the model."""
    from mlflow import MlflowClient

    by_alias = re.fullmatch(r"models:/([^/@]+)@(.+)", uri)
    if by_alias:
        name, alias = by_alias.groups()
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        version = str(client.get_model_version_by_alias(name, alias).version)
        return f"models:/{name}/{version}", f"{name} v{version} (@{alias})"
    by_version = VERSION_URI.fullmatch(uri)
    return uri, f"{by_version[1]} v{by_version[2]}" if by_version else uri


def load(uri: str, tracking_uri: str) -> ScoringModel:
    """The scoring model of an MLflow pyfunc model, as the API loads it."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().scoring_model


def explain_refusal(model: ScoringModel) -> str | None:
    """Why ``model`` cannot explain its scores (the API's message), or None when it can."""
    if model.problem != "multiclass" and model.scorer.has_contributions:
        return None
    return model.explanations(np.empty((0, model.scorer.n_features)))["message"]


def _monitoring(uri: str, model: ScoringModel, settings: CommonSettings):
    """The monitoring recorder of this run and the callback that records each scored chunk (docs/monitoring.md);
    (None, None) when ``MONITORING=0`` or the model is not a registered version (nothing to file it under)."""
    from .monitoring import MonitoringRecorder

    version = VERSION_URI.fullmatch(uri)
    if not settings.monitoring or version is None:
        if settings.monitoring:
            log.info("monitoring: %s is not a registered version; this run is not recorded", uri)
        return None, None
    recorder = MonitoringRecorder.from_settings(settings)
    recorder.start()
    name, number = version.groups()
    return recorder, lambda scored: recorder.record(name, number, model, scored)


def _private_stdout() -> BinaryIO:
    """Standard output for the CSV alone: a copy of it, while file descriptor 1 (and so ``print`` of any
    library, the JVM's and xgboost's included) goes to stderr."""
    sys.stdout.flush()
    private = os.fdopen(os.dup(1), "wb", buffering=1 << 20)
    os.dup2(2, 1)
    return private


def _interrupts_reach_python() -> None:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so a stopped run cleans up its output and writes the
    monitoring summaries of what it scored (the in-process JVM leaves both signals to Python:
    ``automlkit.mojo.HOST_KEEPS_SIGNALS``)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    """Run ``automl score``; returns the exit status."""
    args = parser().parse_args(argv)
    if args.chunk_rows < 1 or args.rejects == "-":
        parser().error("--chunk-rows must be at least 1" if args.chunk_rows < 1
                       else "--skip-bad-rows needs a file name, not -")
    settings = CommonSettings.load()
    from .log_config import configure_logging

    configure_logging(settings.log_level if args.verbose else "WARNING")
    stdout = _private_stdout() if args.output == "-" else None
    try:
        return _run(args, settings, stdout)
    finally:
        if stdout is not None:
            with contextlib.suppress(OSError):
                stdout.close()


def _run(args: argparse.Namespace, settings: CommonSettings, stdout: BinaryIO | None) -> int:
    uri = args.model or f"models:/{settings.model_name}@{settings.model_alias}"
    try:
        uri, label = resolve(uri, settings.tracking_uri)
        model = load(uri, settings.tracking_uri)
    except Exception as exc:  # noqa: BLE001 - any failure to load is reported the same way
        print(f"automl score: cannot load {uri} from {settings.tracking_uri}: {exc}", file=sys.stderr)
        return FAILED
    _interrupts_reach_python()
    refusal = explain_refusal(model) if args.explain else None
    if refusal:
        print(f"automl score: --explain: {refusal}", file=sys.stderr)
        return USAGE
    from tqdm import tqdm

    options = Options(rank=args.rank, explain=args.explain, drift=args.drift, rejects=args.rejects,
                      chunk_rows=args.chunk_rows)
    bar = tqdm(desc="scoring", unit=" rows", unit_scale=True, file=sys.stderr, disable=not sys.stderr.isatty())
    recorder, on_scored = _monitoring(uri, model, settings)
    try:
        with bar:
            summary = score_file(model, args.input, args.output, options, label, bar.update, stdout, on_scored)
    except (DataContractError, AutomlKitError, OSError) as exc:
        print(f"automl score: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print(f"automl score: interrupted; {args.output} not written", file=sys.stderr)
        return INTERRUPTED
    finally:
        if recorder is not None:
            recorder.stop()  # writes the summaries of what was scored
    print(summary.line(), file=sys.stderr)
    if args.drift:
        print(summary.drift_line(), file=sys.stderr)
    return 0
