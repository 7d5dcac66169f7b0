"""Settings shared by the notebooks, the trainer and the API, read from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: Root of the repository checkout (the package lives in ``<root>/notebooks/automlkit``).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the embedded MLflow store keeps its SQLite database and artifacts.
MLRUNS_DIR = REPO_ROOT / "mlruns"
#: Places searched, in order, for the shipped data set when no path is given.
DATA_DIRS = (REPO_ROOT.parent / "shared" / "data", REPO_ROOT / "data")


#: The upload size limit, in one place: the API refuses larger bodies with a 413, the dashboard refuses
#: larger files before sending them and sizes Voilà's websocket messages to it. ``MAX_UPLOAD_BYTES``
#: overrides it for both (compose passes the same variable to both services).
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def max_upload_bytes() -> int:
    """``MAX_UPLOAD_BYTES`` from the environment (a positive integer), else :data:`DEFAULT_MAX_UPLOAD_BYTES`."""
    value = os.environ.get("MAX_UPLOAD_BYTES", "").strip()
    if not value:
        return DEFAULT_MAX_UPLOAD_BYTES
    if not value.isdigit() or int(value) == 0:
        raise ValueError(f"MAX_UPLOAD_BYTES must be a positive integer (bytes), got {value!r}")
    return int(value)


#: The secrets' values in ``.env.example`` start with this. A placeholder is refused at start, never used
#: as a secret; ``make up`` replaces them with random values when it creates ``.env``.
PLACEHOLDER_PREFIX = "change-me"


def require_secret(name: str, value: str) -> str:
    """``value`` unless it is ``.env.example``'s placeholder, which is refused with how to set ``name``."""
    if value.strip().startswith(PLACEHOLDER_PREFIX):
        raise ValueError(f"{name} still holds the placeholder of .env.example: set {name} in .env to a long "
                         f"random string (for example the output of `openssl rand -hex 24`); `make up` makes "
                         f"one when it creates .env")
    return value


def default_tracking_uri() -> str:
    """The embedded store: SQLite under ``mlruns/`` (MLflow >= 3.13 refuses the file store)."""
    return f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"


def default_data_path(filename: str = "train.csv.gz") -> str:
    """First existing ``filename`` in ``../shared/data`` or ``data/``; the shared path if neither has it."""
    for folder in DATA_DIRS:
        candidate = folder / filename
        if candidate.exists():
            return str(candidate)
    return str(DATA_DIRS[0] / filename)


@dataclass(frozen=True)
class Settings:
    """Environment-driven settings; build with :meth:`from_env`."""

    tracking_uri: str = field(default_factory=default_tracking_uri)
    artifact_root: str = str(MLRUNS_DIR / "artifacts")
    model_name: str = "cross-sell"
    experiment_name: str = "cross-sell"
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"

    @classmethod
    def from_env(cls) -> "Settings":
        """Read ``MLFLOW_TRACKING_URI``, ``MLFLOW_ARTIFACT_ROOT``, ``MODEL_NAME``, ``EXPERIMENT_NAME``."""
        defaults = cls()
        return cls(
            tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or defaults.tracking_uri,
            artifact_root=os.environ.get("MLFLOW_ARTIFACT_ROOT") or defaults.artifact_root,
            model_name=os.environ.get("MODEL_NAME") or defaults.model_name,
            experiment_name=os.environ.get("EXPERIMENT_NAME") or defaults.experiment_name,
        )

    @property
    def is_embedded(self) -> bool:
        """True when MLflow is used in-process on a SQLite file rather than through a server."""
        return self.tracking_uri.startswith("sqlite:")


def main(argv: list[str] | None = None) -> int:
    """``python -m automlkit.settings --require-secret NAME``: exit 2 with the reason when the environment's
    ``NAME`` is empty or still the placeholder (JupyterLab's container checks its token with it)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--require-secret", metavar="NAME", required=True)
    name = parser.parse_args(argv).require_secret
    try:
        if not os.environ.get(name, "").strip():
            raise ValueError(f"{name} is not set: set it in .env to a long random string")
        require_secret(name, os.environ[name])
    except ValueError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
