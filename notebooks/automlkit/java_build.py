"""Compile the Java helpers (``java/*.java``) into ``java/automlkit-scorer.jar`` with ``javac``.

    python -m automlkit.java_build          # run by `make setup`

The jar is optional at run time: without it the scorer falls back to a Python loop over the rows.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

JAVA_DIR = Path(__file__).with_name("java")
SCORER_JAR = JAVA_DIR / "automlkit-scorer.jar"

log = logging.getLogger(__name__)


def h2o_jar() -> Path:
    """The ``h2o.jar`` shipped in the h2o Python package (it contains the genmodel classes)."""
    import h2o

    return Path(h2o.__file__).parent / "backend" / "bin" / "h2o.jar"


#: Where the pinned h2o package keeps the genmodel jar inside ``h2o.jar`` (what ``GET /3/h2o-genmodel.jar``
#: of a running cluster serves, i.e. what ``download_mojo(get_genmodel_jar=True)`` saves).
GENMODEL_MEMBER = "www/3/h2o-genmodel.jar"


def genmodel_jar() -> Path:
    """``h2o-genmodel.jar`` of the installed h2o package, extracted once into the temp folder and kept: the
    in-process JVM keeps reading the jar it started with, so it must outlive every MOJO it loads."""
    import zipfile

    import h2o

    target = Path(tempfile.gettempdir()) / f"automlkit-h2o-genmodel-{h2o.__version__}.jar"
    if not target.exists():
        with zipfile.ZipFile(h2o_jar()) as archive, archive.open(GENMODEL_MEMBER) as source:
            partial = target.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(source.read())
            partial.replace(target)  # atomic: a concurrent reader never sees half a jar
    return target


def build(classpath: str | Path | None = None) -> Path:
    """Compile the helpers against ``classpath`` (default: h2o.jar) unless the jar is newer than the sources."""
    sources = sorted(JAVA_DIR.glob("*.java"))
    if SCORER_JAR.exists() and all(SCORER_JAR.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return SCORER_JAR
    javac, jar = shutil.which("javac"), shutil.which("jar")
    if not javac or not jar:
        from .errors import ServiceError  # here: the image's scorer stage has only this file and log_config.py

        raise ServiceError("javac/jar not found: install a JDK (make setup installs default-jdk-headless)")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([javac, "--release", "8", "-nowarn", "-cp", str(classpath or h2o_jar()), "-d", out,
                        *map(str, sources)], check=True)
        subprocess.run([jar, "cf", str(SCORER_JAR), "-C", out, "."], check=True)
    log.info("built %s", SCORER_JAR)
    return SCORER_JAR


if __name__ == "__main__":
    from .log_config import configure_logging

    configure_logging("INFO")  # a build step (the image's scorer stage has no settings module)
    print(build())
    sys.exit(0)
