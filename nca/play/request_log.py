"""One line, not a traceback, for a request the HTTP parser refuses.

aiohttp answers a malformed request (no ``Host`` header in HTTP/1.1, a bad method,
an oversized header) with a 400 by itself, then logs the parser's exception with its
traceback, which reads like a crash of the viewer. The viewer's request logger turns
those into one line; any other exception keeps its traceback.
"""

from __future__ import annotations

import logging

LOGGER_NAME = "nca.play.requests"


class _OneLineForMalformed(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            reason = " ".join(str(error.message).split())
            record.msg = "nca play: refused a malformed request from %s (%s: %s)"
            record.args = (remote, error.code, reason)
            record.exc_info = record.exc_text = None
        return True


def request_logger() -> logging.Logger:
    """The logger the viewer's HTTP server reports request errors to."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, _OneLineForMalformed) for f in logger.filters):
        logger.addFilter(_OneLineForMalformed())
    return logger
