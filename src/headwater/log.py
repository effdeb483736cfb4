"""Logs as logfmt lines in Flux's style: `ts=... level=info component=sync event="Sync: ..."`.

Secrets never reach a log line: values registered with `redact()` are replaced by
`((redacted))` in every rendered line, tracebacks included. Every module logs through
`get(component)` with structured fields, never `logging.getLogger`, so the format and
the redaction hold for every line (tests/test_log.py checks it).

structlog is imported and configured on the first `get()`, not by `setup()`: the CLI
calls `setup()` for every verb, and the verbs that only talk to the server never log,
so they never pay for structlog's import (tests/test_cli_startup.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

_SECRETS: set[str] = set()
_settings: dict[str, Any] = {"level": "info", "stream": None}
_configured = False


def redact(*secrets: str | None) -> None:
    """Never print these values (tokens, passwords), whatever logs them."""
    _SECRETS.update(s for s in secrets if s and len(s) >= 4)


def _scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if _SECRETS:
        for key, value in event.items():
            text = str(value)
            for secret in _SECRETS:
                if secret in text:
                    text = text.replace(secret, "((redacted))")
                    event[key] = text
    return event


def setup(level: str = "info", stream: Any = None) -> None:
    """Log at `level` and above to `stream` (stderr by default, resolved at each line)."""
    _settings.update(level=level, stream=stream)
    if _configured:
        _configure()


def _configure() -> None:
    global _configured  # noqa: PLW0603 - structlog's configuration is process-wide
    import structlog  # noqa: PLC0415 - on first use, see the module docstring

    structlog.configure(
        processors=[
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.add_log_level,
            # `_log.exception(...)`: the traceback as one escaped field, scrubbed too.
            structlog.processors.format_exc_info,
            _scrub,
            structlog.processors.LogfmtRenderer(key_order=["ts", "level", "component",
                                                           "event"], drop_missing=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[str(_settings["level"]).upper()]),
        # Resolved at each log call: sys.stderr may be swapped (tests, daemons).
        logger_factory=lambda *_: structlog.PrintLogger(_settings["stream"] or sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get(component: str) -> Any:
    """A logger for `component`; lazy, so module-level loggers follow `setup()`."""
    if not _configured:
        _configure()
    import structlog  # noqa: PLC0415 - imported once, by _configure

    return structlog.get_logger(component=component)
