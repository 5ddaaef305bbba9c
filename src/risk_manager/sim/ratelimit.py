"""Sliding-window request limiter (the gateway answers HTTP 429 beyond 200 requests / 60 s)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float, now: Callable[[], float]) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"rate limit needs limit >= 1 and window > 0, got {limit}/{window_s}s")
        self.limit = limit
        self.window_s = window_s
        self._now = now
        self._hits: deque[float] = deque()

    def acquire(self) -> float | None:
        """Record a request; None if allowed, else seconds until a slot frees (for Retry-After)."""
        now = self._now()
        while self._hits and now - self._hits[0] >= self.window_s:
            self._hits.popleft()
        if len(self._hits) >= self.limit:
            return max(0.0, self.window_s - (now - self._hits[0]))
        self._hits.append(now)
        return None


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
