"""Keep secrets out of the logs: the reload token, and any ``token=`` style query value a client sends."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|access_token|api_key|apikey|password)=)[^&\s\"]+")
MASK = "***"


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with ``secrets`` and secret-looking query values masked."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(r"\1" + MASK, message)
        for secret in self.secrets:
            redacted = redacted.replace(secret, MASK)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install(secrets: list[str], loggers: tuple[str, ...] = ("uvicorn.access", "uvicorn.error", "api", "")) -> None:
    """Attach one :class:`RedactSecrets` to each of ``loggers`` (the root logger is ``""``)."""
    redactor = RedactSecrets(secrets)
    for name in loggers:
        logger = logging.getLogger(name)
        logger.filters = [f for f in logger.filters if not isinstance(f, RedactSecrets)]
        logger.addFilter(redactor)
