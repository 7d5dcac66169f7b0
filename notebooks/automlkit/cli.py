"""automl: one command for what the Makefile runs (each subcommand is a module's own main).

    automl train -p max_runtime_secs 60        # papermill on notebooks/train.ipynb into an MLflow run
    automl retrain --interval 86400            # training on a schedule (the compose trainer)
    automl serve                               # MLflow UI, API and dashboard as local processes
    automl api --port 8000                     # the prediction API (uvicorn)
    automl dashboard --port 8866               # the Voilà dashboard
    automl h2o-node                            # one node of a compose H2O cloud
    automl score customers.csv.gz scored.csv   # batch scoring of a CSV of any size, streaming
    automl score-spark customers/ scored/      # the same with Spark, for data sets beyond one machine
    automl promote                             # the challenger becomes champion if live traffic allows it

Each subcommand is its module's own ``main``, so ``automl SUBCOMMAND --help`` lists its options.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> ("module:function" that takes the arguments, arguments put first, one-line help)
COMMANDS: dict[str, tuple[str, list[str], str]] = {
    "train": ("automlkit.run_training:main", [], "run the training notebook with papermill into an MLflow run"),
    "retrain": ("automlkit.retrain:main", [], "train now when there is no champion, then on a schedule"),
    "serve": ("automlkit.launch:main", [], "start the MLflow UI, the API and the dashboard; print their URLs"),
    "api": ("automlkit.cli:api", [], "start the prediction API (uvicorn api.main:app)"),
    "dashboard": ("automlkit.dashboard_server:main", [], "start the Voilà dashboard"),
    "h2o-node": ("automlkit.h2o_cluster:main", ["--node"], "run one node of a compose H2O cloud"),
    "score": ("automlkit.score_command:main", [], "score a CSV of any size with the champion, streaming"),
    "score-spark": ("automlkit.spark_scoring:main", [], "score a data set with Spark (mlflow spark_udf)"),
    "promote": ("automlkit.promotion:main", [], "promote the challenger on live evidence (shadow scoring)"),
}


def api(argv: list[str] | None = None) -> int:
    """``automl api``: uvicorn on ``api.main:app``; SIGTERM or Ctrl-C stop it gracefully, and it exits 0."""
    import signal

    import uvicorn

    parser = argparse.ArgumentParser(description=COMMANDS["api"][2])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    args = parser.parse_args(argv)
    from .log_config import logging_config
    from .settings import ApiSettings

    settings = ApiSettings.load()  # validates every API setting before uvicorn starts
    # uvicorn drains, runs the lifespan's shutdown (the monitoring recorder writes what is queued), then
    # raises the signal it stopped for again with the handlers it found at start: the default ones would end
    # a stop that went as asked with 143 (SIGTERM) or a KeyboardInterrupt (SIGINT). These make it exit 0.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    uvicorn.run("api.main:app", host=args.host, port=args.port, log_config=logging_config(settings.log_level),
                timeout_graceful_shutdown=settings.graceful_shutdown_seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``automl SUBCOMMAND ARGS`` to the subcommand's ``main``."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="automl", description=__doc__.splitlines()[0],
                                     epilog="automl SUBCOMMAND --help lists a subcommand's options")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    for name, (_, _, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)
    command = parser.parse_args(argv[:1]).command
    target, first, _ = COMMANDS[command]
    module, function = target.split(":")
    sys.argv[0] = f"automl {command}"  # what the subcommand's own --help calls itself
    return getattr(importlib.import_module(module), function)(first + argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
