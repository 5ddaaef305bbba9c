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


#: The largest record we accept, in characters (≈ bytes: the wire is UTF-8). Real records are well
#: under 1 KB (reference fixtures: events, quotes, depth levels); 1 MiB leaves a thousandfold margin
#: while bounding what a hostile peer can make us buffer and parse.
DEFAULT_MAX_RECORD = 1024 * 1024


class RecordTooLarge(ProtocolError):
    """A record over the decoder's limit was dropped. `records`: the well-framed records of the
    same frame, in order, so the caller still handles them."""

    def __init__(self, message: str, records: list[str]) -> None:
        super().__init__(message)
        self.records = records


class RecordDecoder:
    """Feeds text frames in, yields complete records out (split/merged frames handled).

    `feed` returns the raw record strings; `feed_json` parses them. A record that is not a JSON
    object raises ProtocolError from `parse` so the caller can count and skip it.

    Linear in what it is fed: an unfinished record is kept as a list of frame texts and only each
    new frame is searched for the separator, so a long record without one costs no more than its
    size (rebuilding the buffer on every frame cost the square of it). A record over `max_record`
    characters is dropped (the part buffered so far at once) and reported as `RecordTooLarge`.
    """

    __slots__ = ("_parts", "_size", "max_record")

    def __init__(self, max_record: int = DEFAULT_MAX_RECORD) -> None:
        self._parts: list[str] = []  # the unfinished record's pieces
        self._size = 0
        self.max_record = max_record

    def feed(self, text: str) -> list[str]:
        if RS not in text:
            self._size += len(text)
            if self._size > self.max_record:
                self._parts, self._size = [], 0
                raise RecordTooLarge(f"record over {self.max_record} characters without a separator", [])
            if text:
                self._parts.append(text)
            return []
        if self._parts:
            self._parts.append(text)
            text = "".join(self._parts)
        records = text.split(RS)
        tail = records.pop()
        self._parts, self._size = ([tail], len(tail)) if tail else ([], 0)
        if len(text) <= self.max_record:  # no record can be over the limit
            return [r for r in records if r]
        kept = [r for r in records if r and len(r) <= self.max_record]
        dropped = sum(1 for r in records if len(r) > self.max_record)
        if self._size > self.max_record:
            self._parts, self._size = [], 0
            dropped += 1
        if dropped:
            raise RecordTooLarge(f"{dropped} record(s) over {self.max_record} characters dropped", kept)
        return kept

    def feed_json(self, text: str) -> list[dict[str, Any]]:
        return [parse(r) for r in self.feed(text)]

    @property
    def pending(self) -> str:
        return "".join(self._parts)


def reject_json_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity, which JSON does not: a NaN price would make every rule
    # comparison false and a breach would silently never fire.
    raise ValueError(f"non-JSON number {name}")


def parse(record: str) -> dict[str, Any]:
    try:
        msg = json.loads(record, parse_constant=reject_json_constant)
    except ValueError as exc:
        raise ProtocolError(f"record is not JSON: {exc}") from None
    except RecursionError:  # e.g. "[" * 100000: the decoder recurses once per level
        raise ProtocolError("record is nested too deeply") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"record is not a JSON object: {type(msg).__name__}")
    return msg
