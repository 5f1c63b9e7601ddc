"""The operator's log lines: one record, one line, whatever the message holds.

Messages carry registry error bodies, registry names and object names written by other
people; a newline in one would forge a log line, an escape sequence would drive the
terminal of whoever tails the log. Tracebacks keep their lines: they come from the code.
"""

from __future__ import annotations

import logging

from registry_sync.controller import kopf_settings
from registry_sync.controller.kopf_settings import LOG_FORMAT
from registry_sync.domain.escaping import escaped


class EscapingFormatter(logging.Formatter):
    """`logging.Formatter` with the formatted message escaped (`domain.escaping.escaped`)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escaped(super().formatMessage(record))


def configure_logging(verbose: bool) -> None:
    """Root logging for `registry-sync run`: escaped lines, HTTP chatter quietened."""
    kopf_settings.configure_logging(logging.DEBUG if verbose else logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(EscapingFormatter(LOG_FORMAT))
