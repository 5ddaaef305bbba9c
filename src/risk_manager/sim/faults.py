"""Injected faults (`POST /sim/fault`): what the next REST requests and hub pushes suffer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class HttpFault:
    status: int  # 500 or 429
    remaining: int
    paths: frozenset[str] | None  # lower-cased request paths; None = every /api/ path
    retry_after: int = 1

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.paths is None or path.lower() in self.paths)


@dataclass(slots=True)
class DelayFault:
    ms: float
    remaining: int | None  # None = until cleared
    paths: frozenset[str] | None

    def matches(self, path: str) -> bool:
        return (self.remaining is None or self.remaining > 0) and (self.paths is None or path.lower() in self.paths)


@dataclass(slots=True)
class FaultState:
    http: list[HttpFault] = field(default_factory=list)
    delays: list[DelayFault] = field(default_factory=list)
    duplicate_events: int = 0
    hub_down_until: dict[str, float] = field(default_factory=dict)  # hub name -> loop time

    def take_http(self, path: str) -> HttpFault | None:
        for fault in self.http:
            if fault.matches(path):
                fault.remaining -= 1
                self.http = [f for f in self.http if f.remaining > 0]
                return fault
        return None

    def take_delay(self, path: str) -> float:
        total = 0.0
        for fault in self.delays:
            if fault.matches(path):
                total += fault.ms
                if fault.remaining is not None:
                    fault.remaining -= 1
        self.delays = [f for f in self.delays if f.remaining is None or f.remaining > 0]
        return total / 1000.0

    def clear(self) -> None:
        self.http.clear()
        self.delays.clear()
        self.duplicate_events = 0
        self.hub_down_until.clear()


def parse_paths(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError("paths must be a list of request paths like \"/api/Order/cancel\"")
    return frozenset(p.lower() for p in value)
