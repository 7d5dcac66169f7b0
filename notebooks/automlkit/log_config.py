"""One logging configuration (``logging.config.dictConfig``) for every entry point, uvicorn's included."""

from __future__ import annotations

import logging.config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_config(level: str = "INFO") -> dict:
    """The configuration: one stderr handler on the root logger; uvicorn's loggers write through it."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        # uvicorn's own loggers (passed as its log_config) propagate to the root handler
        "loggers": {**{name: {"level": level, "handlers": [], "propagate": True}
                       for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
                    # one INFO line per request of every HTTP client (the dashboard's, the bench's) is noise
                    "httpx": {"level": "WARNING"}},
    }


def configure_logging(level: str | None = None) -> None:
    """Apply :func:`logging_config` at ``level`` (default: the ``LOG_LEVEL`` setting)."""
    if level is None:
        from .settings import CommonSettings

        level = CommonSettings.load().log_level
    logging.config.dictConfig(logging_config(level))
