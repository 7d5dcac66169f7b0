"""``automl score-spark IN OUT``: score a (partitioned) data set with Spark, through MLflow's own path for it.

    automl score-spark customers.parquet scored.parquet --master local[2]
    automl score-spark 'lake/customers/*.csv' scored/ --output-format csv --model models:/cross-sell/3
    spark-submit --master yarn -m automlkit.spark_scoring IN OUT      # or any cluster (see the README)

The model is the registry's (``models:/NAME@ALIAS``, resolved to its version once) and Spark scores it with
:func:`mlflow.pyfunc.spark_udf`: each Python worker loads it (one in-process JVM per worker) and scores Arrow
batches of rows with the same data contract and scorer as the API. A row that breaks the contract does not fail
the job: its scores are null and ``reason`` says why, as the API would. CSV is read as text and parsed by the
data contract, as the API parses an upload; its features come out with the contract's types, the id as a whole
number when every id is one, other columns as text (:func:`typed_columns`); Parquet keeps its types. The output
is Spark's: a folder of part files, committed whole at the end of the job or not at all.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import AutomlKitError, DataContractError, Problem
from .schema import Schema
from .scoring import META_FILE, ModelMeta, answer_columns

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")
#: The column that says why a row was not scored (null for the rows scored).
REASON = "reason"
#: Rows per Arrow batch handed to the model: per-call costs vanish, a batch weighs a few MB in the worker.
BATCH_ROWS = 20_000


@dataclass
class SparkSummary:
    """What a job did."""

    model: str
    rows: int
    rejected: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        """Rows read (scored or rejected) per second of the scoring job."""
        return self.rows / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """The one-line summary the command prints."""
        return (f"scored {self.rows - self.rejected:,} rows, rejected {self.rejected:,}, in {self.seconds:.1f} s "
                f"({self.rows_per_s:,.0f} rows/s) with {self.model}")


def session(master: str | None = None, app_name: str = "automl score-spark"):
    """A Spark session whose Python workers run this interpreter; ``master`` None keeps spark-submit's."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).config("spark.sql.execution.arrow.maxRecordsPerBatch",
                                                            str(BATCH_ROWS))
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


def format_of(path: str, fmt: str | None = None) -> str:
    """``fmt``, else ``parquet`` for a ``.parquet`` path and ``csv`` for any other."""
    return fmt or ("parquet" if path.rstrip("/").endswith(".parquet") else "csv")


def read(spark, path: str, fmt: str | None = None):
    """A DataFrame of ``path`` (a file, a folder of parts or a glob): CSV (with a header, every cell as text;
    gzip by suffix) or Parquet, by ``fmt`` or the suffix."""
    if format_of(path, fmt) == "parquet":
        return spark.read.parquet(path)
    return spark.read.options(header=True, inferSchema=False, multiLine=True, escape='"').csv(path)


def model_schema(model_uri: str) -> Schema:
    """The data contract of the model at ``model_uri`` (its ``model_meta.json``; every version has one)."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="score-spark-") as folder:
        local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=folder))
        return ModelMeta.read(next(local.rglob(META_FILE))).schema


def answers_bad_rows(model_uri: str) -> bool:
    """Whether the model takes ``bad_rows`` (models logged before it refuse a whole batch for one bad row)."""
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    return signature is not None and signature.params is not None and any(
        p.name == "bad_rows" for p in signature.params.params)


#: Spark's type for a feature of each pandas dtype the data contract records (any other: text).
SQL_TYPE_OF_DTYPE = {"int": "bigint", "uint": "bigint", "float": "double", "bool": "boolean"}


def _sql_type(dtype: str) -> str:
    return next((sql for prefix, sql in SQL_TYPE_OF_DTYPE.items() if dtype.startswith(prefix)), "string")


def typed_columns(frame, schema: Schema) -> dict[str, object]:
    """The passed-through columns of a text-read ``frame`` (CSV) as typed Spark columns: each feature as the
    data contract types it (a value that breaks the contract is null; the row's ``reason`` names it), the id
    as a whole number when every id is one written plainly (``"007"`` keeps the id text), other columns as read.
    A whole-number feature comes out ``bigint`` when every value is whole (``24.0`` too: the contract takes it),
    else ``double``: no value the model scored is lost.

    The whole-number check costs one more read of the input (one aggregate); reading CSV is cheap beside
    scoring it."""
    from pyspark.sql import functions as F

    sql = {spec.name: _sql_type(spec.dtype) for spec in schema.columns if spec.name in frame.columns}
    typed = {name: F.col(f"`{name}`").try_cast(kind).alias(name) for name, kind in sql.items()
             if kind not in ("string", "bigint")}
    candidates = {}  # column: (its values as read or as numbers, the same as whole numbers where they are)
    for name in [name for name, kind in sql.items() if kind == "bigint"]:
        number = F.col(f"`{name}`").try_cast("double")
        candidates[name] = (number, F.when(number == F.floor(number), number.cast("bigint")))
    if schema.id_column and schema.id_column in frame.columns:
        text = F.col(f"`{schema.id_column}`")
        whole = text.try_cast("bigint")
        candidates[schema.id_column] = (text, F.when(whole.cast("string") == text, whole))
    if candidates:
        counts = frame.agg(*[F.count(value).alias(f"{k}v") for k, (value, _) in enumerate(candidates.values())],
                           *[F.count(whole).alias(f"{k}w") for k, (_, whole) in enumerate(candidates.values())]
                           ).first()
        for k, (name, (value, whole)) in enumerate(candidates.items()):
            if counts[f"{k}v"] == counts[f"{k}w"]:
                typed[name] = whole.alias(name)
            elif name != schema.id_column:
                typed[name] = value.alias(name)
    return typed


def score(spark, frame, model_uri: str, text_input: bool = False):
    """``frame`` with the model's answer columns and ``reason`` after its own columns (scored lazily); the
    answer is null on the rows whose ``reason`` says why they were not scored. ``text_input``: ``frame`` was
    read as text (CSV), and its columns come out typed (:func:`typed_columns`); else as they are.

    Raises :class:`DataContractError` naming the columns the model needs and ``frame`` lacks."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    schema = model_schema(model_uri)
    missing = [name for name in schema.feature_names if name not in frame.columns]
    if missing:
        raise DataContractError([Problem(name, "required column is missing") for name in missing])
    sql_types = {"double": "double", "long": "bigint", "string": "string"}
    columns = [(name, sql_types[kind]) for name, kind in answer_columns(schema)]
    params = {"bad_rows": "null"} if answers_bad_rows(model_uri) else None
    if params:
        columns.append((REASON, "string"))
    else:
        log.warning("%s was logged without the bad_rows parameter: a row that breaks the data contract stops "
                    "the job (retrain to score past bad rows)", model_uri)
    # numbers cross as doubles: spark_udf casts each field with numpy, which has no null integer; a rejected
    # row's scores are set to null below, whatever the model answered for it
    udf_type = StructType([StructField(name, StringType() if kind == "string" else DoubleType(), True)
                           for name, kind in columns])
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=udf_type, env_manager="local",
                                  params=params)
    features = [F.col(f"`{name}`") for name in [schema.id_column, *schema.feature_names] if name in frame.columns]
    taken = {name for name, _ in columns} & set(frame.columns)
    if taken:  # the answer's columns replace input columns of the same name, as in the API's CSV answer
        frame = frame.drop(*taken)
    workers = spark.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < workers:  # one small file is one partition: keep every core busy
        frame = frame.repartition(workers)
    scored = frame.withColumn("__answer", udf(F.struct(*features)))  # the model reads the text as it came
    typed = typed_columns(frame, schema) if text_input else {}
    passed = [typed.get(c, F.col(f"`{c}`")) for c in frame.columns]
    if not params:
        return scored.select(*passed,
                             *[F.col(f"__answer.`{name}`").cast(kind).alias(name) for name, kind in columns])
    reason = F.col(f"__answer.`{REASON}`")
    answer = [F.when(reason == "", F.col(f"__answer.`{name}`").cast(kind)).alias(name)
              for name, kind in columns if name != REASON]
    return scored.select(*passed, *answer,
                         F.when(reason != "", reason).alias(REASON))


def write(frame, path: str, fmt: str = "parquet", overwrite: bool = False) -> None:
    """Write ``frame`` as Spark does (a folder of parts, committed at the end of the job)."""
    writer = frame.write.mode("overwrite" if overwrite else "errorifexists")
    if fmt == "csv":
        writer.options(header=True, escape='"').csv(path)
    else:
        writer.parquet(path)


def score_dataset(spark, source: str, target: str, model_uri: str, label: str = "", input_format: str | None = None,
                  output_format: str = "parquet", overwrite: bool = False) -> SparkSummary:
    """Score ``source`` into ``target`` and count what was scored and rejected."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    text_input = format_of(source, input_format) == "csv"
    write(score(spark, read(spark, source, input_format), model_uri, text_input), target, output_format, overwrite)
    seconds = time.perf_counter() - started
    written = read(spark, target, output_format)
    rejected = F.count(REASON) if REASON in written.columns else F.lit(0)  # a model without bad_rows rejects none
    counts = written.agg(F.count(F.lit(1)).alias("rows"), rejected.alias("rejected")).first()
    return SparkSummary(label or model_uri, counts["rows"], counts["rejected"], seconds)


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    commands = argparse.ArgumentParser(prog="automl score-spark", description=__doc__.splitlines()[0],
                                       formatter_class=argparse.RawDescriptionHelpFormatter,
                                       epilog="\n".join(__doc__.splitlines()[2:]))
    commands.add_argument("input", metavar="IN", help="CSV or Parquet: a file, a folder of parts or a glob")
    commands.add_argument("output", metavar="OUT", help="the folder the scored parts go to")
    commands.add_argument("--model", metavar="URI", help="an MLflow model URI (default: MODEL_NAME@MODEL_ALIAS)")
    commands.add_argument("--master", help="Spark master, e.g. local[2] (default: spark-submit's, else local[*])")
    commands.add_argument("--input-format", choices=FORMATS, help="default: by the suffix (.parquet, else CSV)")
    commands.add_argument("--output-format", choices=FORMATS, default="parquet", help="default: %(default)s")
    commands.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    return commands


def main(argv: list[str] | None = None) -> int:
    """``automl score-spark``: exit 0 with the summary on stderr, 1 with the reason."""
    import mlflow

    from .log_config import configure_logging
    from .score_command import INTERRUPTED, resolve
    from .settings import CommonSettings

    args = parser().parse_args(argv)
    settings = CommonSettings.load()
    configure_logging("WARNING")
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    uri = args.model or f"models:/{settings.model_name}@{settings.model_alias}"
    try:
        uri, label = resolve(uri, settings.tracking_uri)
    except Exception as exc:  # noqa: BLE001 - registry down or no such model: one line, as automl score says it
        print(f"automl score-spark: cannot find {uri} in {settings.tracking_uri}: {exc}", file=sys.stderr)
        return 1
    spark = session(args.master)
    # SIGTERM stops the job as Ctrl-C does: PySpark's own SIGINT handler cancels the running jobs and raises
    # KeyboardInterrupt (without it, Python would die at once and leave the job's half-written folder)
    signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
    written, replaceable = False, args.overwrite or not Path(args.output).exists()
    try:
        spark.sparkContext.setLogLevel("WARN")
        summary = score_dataset(spark, args.input, args.output, uri, label, args.input_format,
                                args.output_format, args.overwrite)
        written = True
    except AutomlKitError as exc:
        print(f"automl score-spark: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"automl score-spark: interrupted; {args.output} not written", file=sys.stderr)
        return INTERRUPTED
    finally:
        spark.stop()
        if not written and replaceable and not (Path(args.output) / "_SUCCESS").exists():
            shutil.rmtree(args.output, ignore_errors=True)  # the parts of a job that did not commit (ours only)
    print(summary.line(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
