"""structlog setup: JSON lines to a file (or stderr when not a terminal), pretty on a terminal."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog


def setup(process: str, log_file: Path | None = None, level: str = "info") -> Any:
    """Configure structlog once per process and return a logger bound to ``process``."""
    stream: TextIO
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_file, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - process-lived
    else:
        stream = sys.stderr
    renderer: Any
    if stream.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    # PySyncObj and aiohttp log through the standard library: send them to the same stream.
    logging.basicConfig(
        stream=stream, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s"
    )
    return structlog.get_logger().bind(process=process)
