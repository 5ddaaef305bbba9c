"""Daemon logging: structlog and stdlib logging into one pipeline.

- a JSON-lines file in the log dir, rotated by size (`daemon.log`, `daemon.log.1`, …);
- a readable console on stderr;
- every record passes the gateway's redaction (tokens, API keys, `access_token=`) before it is
  rendered (structlog and stdlib records alike, tracebacks included).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from io import TextIOWrapper
from pathlib import Path

import structlog
from structlog.typing import Processor

from risk_manager.gateway.redact import redact_processor
from risk_manager.private_files import private_dir, private_file

_HANDLER_TAG = "_risk_manager_daemon"


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens (the first and each one after a rollover) is owner-only."""

    def _open(self) -> TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


def setup_logging(log_dir: Path, *, level: int = logging.INFO, max_bytes: int = 10_000_000,
                  backups: int = 5, console: bool = True) -> Path:
    """Configure logging for the daemon process; returns the JSON log file path. Idempotent."""
    private_dir(log_dir)
    path = log_dir / "daemon.log"
    pre_chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_processor,
    ]
    structlog.configure(
        processors=[*pre_chain, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()

    file_handler = _PrivateRotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    file_handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_processor,  # again: tracebacks are rendered only here
                    structlog.processors.JSONRenderer()],
        foreign_pre_chain=pre_chain,
    ))
    handlers: list[logging.Handler] = [file_handler]
    if console:
        console_handler = logging.StreamHandler(sys.stderr)
        console_handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        redact_processor,
                        structlog.dev.ConsoleRenderer(colors=False)],
            foreign_pre_chain=pre_chain,
        ))
        handlers.append(console_handler)
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return path


def quiet_logging(level: int = logging.WARNING) -> None:
    """For one-shot commands (`admin accounts test`): structlog's default prints every debug
    line to stdout; route it through stdlib logging and show warnings and errors only, on stderr."""
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.add_log_level, redact_processor,
                    structlog.dev.ConsoleRenderer(colors=False)],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    if not any(getattr(h, _HANDLER_TAG, False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
    root.setLevel(level)
