"""Credentials never leave the process: `user:password@` in a URI is shown as `***@`, in our
messages and in every log record (MLflow's and urllib3's included)."""

from __future__ import annotations

import logging
import re

# Up to the LAST `@` of the URI: MLflow accepts a password with an unencoded `@`
# (`http://alice:Sec@ret@host`), and one with `/` leaks past the authority's first `/` too.
# Redacting a path's `@` as well costs nothing; leaking a password's tail would.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s'\"<>]*@")


def redact(text: str) -> str:
    """`http://user:secret@host/x` -> `http://***@host/x`, whatever the password holds."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def redact_logs() -> None:
    """Install the filter on every handler of the root logger and the named loggers around."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if not any(isinstance(f, RedactCredentials) for f in handler.filters):
                handler.addFilter(RedactCredentials())
