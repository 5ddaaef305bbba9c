"""The SignalR JSON hub protocol: records, framing and message shapes.

Shared by our client (`gateway.hub`) and our server (`sim.hubs`). Every record is a JSON object
terminated by the record separator 0x1E; one WebSocket text frame may carry several records and a
record may be split across frames, so decoding always goes through a buffering `RecordDecoder`.
"""

from __future__ import annotations

import enum
import json
from typing import Any

RS = "\x1e"
HANDSHAKE_REQUEST = {"protocol": "json", "version": 1}


class MessageType(enum.IntEnum):
    INVOCATION = 1
    STREAM_ITEM = 2
    COMPLETION = 3
    STREAM_INVOCATION = 4
    CANCEL_INVOCATION = 5
    PING = 6
    CLOSE = 7


class ProtocolError(ValueError):
    """A record that is not valid JSON hub protocol."""


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(message: dict[str, Any]) -> str:
    """One record, with its terminator."""
    return _dumps(message) + RS


def encode_many(messages: list[dict[str, Any]]) -> str:
    return "".join(encode(m) for m in messages)


def invocation(target: str, arguments: list[Any], invocation_id: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": MessageType.INVOCATION, "target": target, "arguments": arguments}
    if invocation_id is not None:
        msg["invocationId"] = invocation_id
    return msg


def completion(invocation_id: str, *, result: Any = None, error: str | None = None, has_result: bool = False) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": MessageType.COMPLETION, "invocationId": invocation_id}
    if error is not None:
        msg["error"] = error
    elif has_result:
        msg["result"] = result
    return msg


PING = {"type": MessageType.PING}


def close(error: str | None = None, allow_reconnect: bool | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": MessageType.CLOSE}
    if error is not None:
        msg["error"] = error
    if allow_reconnect is not None:
        msg["allowReconnect"] = allow_reconnect
    return msg


class RecordDecoder:
    """Feeds text frames in, yields complete records out (split/merged frames handled).

    `feed` returns the raw record strings; `feed_json` parses them. A record that is not a JSON
    object raises ProtocolError from `parse` so the caller can count and skip it.
    """

    __slots__ = ("_buffer", "max_buffer")

    def __init__(self, max_buffer: int = 16 * 1024 * 1024) -> None:
        self._buffer = ""
        self.max_buffer = max_buffer

    def feed(self, text: str) -> list[str]:
        if self._buffer:
            text = self._buffer + text
        if RS not in text:
            if len(text) > self.max_buffer:
                self._buffer = ""
                raise ProtocolError(f"record larger than {self.max_buffer} bytes without separator")
            self._buffer = text
            return []
        *records, self._buffer = text.split(RS)
        return [r for r in records if r]

    def feed_json(self, text: str) -> list[dict[str, Any]]:
        return [parse(r) for r in self.feed(text)]

    @property
    def pending(self) -> str:
        return self._buffer


def reject_json_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity, which JSON does not: a NaN price would make every rule
    # comparison false and a breach would silently never fire.
    raise ValueError(f"non-JSON number {name}")


def parse(record: str) -> dict[str, Any]:
    try:
        msg = json.loads(record, parse_constant=reject_json_constant)
    except ValueError as exc:
        raise ProtocolError(f"record is not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"record is not a JSON object: {type(msg).__name__}")
    return msg
