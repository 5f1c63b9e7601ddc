"""Kopf's settings for every mode of the operator, and the process's logging.

Only the standard library and kopf: the benchmarks' bare operator (`bench/bare_operator.py`)
uses the same settings and log lines without loading the operator, so that the baseline
stays bare (registry-sync also escapes its lines: `controller.log_format`). The
mode-specific settings (the PipelineRun label selector without the webhook, the webhook
server) are `handlers.lifecycle`'s and `webhook.server`'s.
"""

from __future__ import annotations

import logging
from typing import Final

import kopf

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# One line per HTTP request drowns what the operator decides.
_CHATTY_LOGGERS: Final = ("httpx", "httpcore", "urllib3", "aiohttp.access")


def configure_logging(level: int) -> None:
    """Root logging at `level` in the operator's format, HTTP chatter quietened."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for chatty in _CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)


def configure(settings: kopf.OperatorSettings) -> None:
    """Kopf settings chosen on purpose."""
    settings.posting.level = logging.WARNING  # handler log lines are not turned into Events
    # A watch that goes quiet is restarted: a silently dead connection must not stall it.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.inactivity_timeout = 600
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    # No cluster-wide watch of namespaces and CRDs: the one namespace is known, and a
    # namespaced Role could not grant those watches (Kopf would retry and warn forever).
    # Resource kinds are discovered once at start; a CRD installed later needs a restart.
    settings.scanning.disabled = True
