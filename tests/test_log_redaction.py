"""Secrets never reach the log: the reload token and token-like query values are masked."""

from __future__ import annotations

import logging

from api.log_redaction import RedactSecrets


def _message(redactor: RedactSecrets, msg: str, *args) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)
    assert redactor.filter(record)
    return record.getMessage()


def test_the_token_and_secret_query_values_are_masked_wherever_they_appear():
    redactor = RedactSecrets(["s3cret"])
    access = '%s - "%s %s HTTP/%s" %d'
    assert _message(redactor, access, "127.0.0.1:1", "POST", "/reload?token=abc&x=1", "1.1", 401) == \
        '127.0.0.1:1 - "POST /reload?token=***&x=1 HTTP/1.1" 401'
    assert _message(redactor, "header was %s", "Bearer s3cret") == "header was Bearer ***"
    assert _message(redactor, "/x?API_KEY=k1&password=p2") == "/x?API_KEY=***&password=***"


def test_other_messages_are_left_as_they_are():
    redactor = RedactSecrets([""])  # no token configured: nothing to mask, empty strings are ignored
    assert _message(redactor, "serving %s v%s", "cross-sell", "3") == "serving cross-sell v3"
    assert _message(redactor, "/predict?rank=true") == "/predict?rank=true"
