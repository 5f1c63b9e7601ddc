"""The operator's log lines: other people's text in a message cannot forge a line or drive
the reader's terminal, while tracebacks keep their lines."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

from registry_sync.controller.log_format import EscapingFormatter

HOSTILE = "registry said: 500\nINFO kopf: all good \x1b]52;c;cm0gLXJm\x07 \u202etxt.exe"


def formatted(message: str, exc_info: bool = False) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.log_format")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        if exc_info:
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("%s", message)
        else:
            logger.warning("%s", message)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_hostile_message_stays_one_line_without_control_characters() -> None:
    line = formatted(HOSTILE)

    assert line.count("\n") == 1 and line.endswith("\n")
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    assert "\\x0a" in line and "\\x1b" in line and "\\u202e" in line


def test_a_traceback_keeps_its_lines() -> None:
    text = formatted("failed", exc_info=True)

    assert text.startswith("ERROR failed\nTraceback (most recent call last):\n")
    assert "ValueError: boom" in text


def test_the_run_command_logging_escapes_every_root_line() -> None:
    script = (
        "import logging\n"
        "from registry_sync.controller.log_format import configure_logging\n"
        "configure_logging(verbose=False)\n"
        f"logging.getLogger('registry_sync.x').warning('%s', {HOSTILE!r})\n"
        "logging.getLogger('httpx').info('one line per request')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "WARNING registry_sync.x: registry said: 500\\x0aINFO kopf" in lines[0]
    assert "\x1b" not in done.stderr
