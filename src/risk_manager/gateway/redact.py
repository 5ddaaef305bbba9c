"""Secret redaction for every log line the gateway writes (token, API key, ``access_token=``).

Three entry points:
- `redact(text)` — scrub a plain string (URLs, exception messages, bodies);
- `redact_value(obj)` — scrub nested dict/list/str values, and values under secret-looking keys;
- `redact_processor` — a structlog processor doing the same for a whole event dict.
`RedactingFilter` does it for stdlib `logging` records (aiohttp and friends log through it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

MASK = "[REDACTED]"

#: Keys whose value is always secret, whatever it looks like (compared lower-case, no separators).
_SECRET_KEYS = frozenset(
    {"token", "newtoken", "apikey", "accesstoken", "authorization", "password", "secret", "jwt",
     "bearer", "sessiontoken", "refreshtoken"}
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # access_token=... in URLs / query strings (stop at &, whitespace, quote, #)
    (re.compile(r"(access_token=)[^&\s\"'#>]+", re.IGNORECASE), r"\1" + MASK),
    # Authorization: Bearer xxx
    (re.compile(r"(bearer\s+)[A-Za-z0-9\-_.~+/=]+", re.IGNORECASE), r"\1" + MASK),
    # JSON-ish "token": "xxx", apiKey='xxx', api_key=xxx
    (
        re.compile(
            r"""((?:new)?token|api[_-]?key|password|authorization)(["']?\s*[:=]\s*["']?)(?!bearer\s)([^"'\s,&}]+)""",
            re.IGNORECASE,
        ),
        r"\1\2" + MASK,
    ),
    # anything shaped like a JWT: three base64url segments, the first starting with eyJ ('{"')
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
)


def redact(text: str) -> str:
    """Return `text` with every secret we know how to recognise replaced by ``[REDACTED]``."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and key.replace("_", "").replace("-", "").lower() in _SECRET_KEYS


def redact_value(value: Any, _depth: int = 0) -> Any:
    """Scrub strings inside nested containers; values under secret keys are masked outright."""
    if isinstance(value, str):
        return redact(value)
    if _depth > 8:
        return value
    if isinstance(value, dict):
        return {
            k: (MASK if _is_secret_key(k) and v is not None else redact_value(v, _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, _depth + 1) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: put it first in the chain (before renderers and exception formatters)."""
    redacted: Mapping[str, Any] = redact_value(event_dict)
    return redacted


class RedactingFilter(logging.Filter):
    """stdlib logging filter that renders the message and scrubs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


class _RedactingLogger:
    """A structlog logger that scrubs its arguments before the configured chain sees them.

    Used by the gateway modules so secrets stay out of logs even when the application has not put
    `redact_processor` into its structlog configuration.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def _log(self, method: str, event: str, kw: dict[str, Any]) -> None:
        logger = structlog.get_logger(self._name)
        getattr(logger, method)(redact(event), **redact_value(kw))

    def debug(self, event: str, **kw: Any) -> None:
        self._log("debug", event, kw)

    def info(self, event: str, **kw: Any) -> None:
        self._log("info", event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._log("warning", event, kw)

    def error(self, event: str, **kw: Any) -> None:
        self._log("error", event, kw)


def get_logger(name: str) -> _RedactingLogger:
    return _RedactingLogger(name)
