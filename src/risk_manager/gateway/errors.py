"""Errors raised by the gateway REST client. All derive from `GatewayRestError`.

What the caller should do differs, so they are distinct types:
- `GatewayError`: the gateway answered and refused (HTTP 200, success:false) — do not retry blindly;
  `error_name` says why (e.g. "PositionNotFound" after a close means it is already flat).
- `MutationUncertain`: a place/modify/cancel/close may or may not have been executed (timeout, 5xx,
  dropped connection after sending) — reconcile via REST before doing it again.
- `RateLimited`: still 429 after the retry budget — nothing was executed.
- `GatewayUnavailable`: could not get an answer (reads: after bounded retries; any call: connection
  refused, so nothing was sent — `sent` is False then).
- `AuthError`: login refused or 401 persists after a fresh token.
"""

from __future__ import annotations

from typing import Any


class GatewayRestError(Exception):
    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint


class GatewayError(GatewayRestError):
    """HTTP 200 with success:false; `error_name` comes from the endpoint's own errorCode enum."""

    def __init__(
        self,
        endpoint: str,
        error_code: int | None,
        error_name: str,
        message: str | None,
        envelope: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(endpoint, f"{error_name} (errorCode {error_code}): {message or 'no message'}")
        self.error_code = error_code
        self.error_name = error_name
        self.message = message
        self.envelope = envelope or {}

    @property
    def order_id(self) -> int | None:
        """A rejected Order/place can still carry the id of the (rejected) order it created."""
        value = self.envelope.get("orderId")
        return value if isinstance(value, int) else None


class LoginFailed(GatewayError):
    """Auth/loginKey answered success:false (bad credentials, agreements not signed, ...)."""


class AuthError(GatewayRestError):
    """HTTP 401 even after a fresh token."""


class RateLimited(GatewayRestError):
    def __init__(self, endpoint: str, retry_after: float | None) -> None:
        super().__init__(endpoint, f"rate limited (HTTP 429), retry after {retry_after} s")
        self.retry_after = retry_after


class MutationUncertain(GatewayRestError):
    """A mutating call whose outcome is unknown. Never retried for you: reconcile first."""

    def __init__(self, endpoint: str, body: dict[str, Any], reason: str) -> None:
        super().__init__(endpoint, f"outcome unknown ({reason}); reconcile before retrying")
        self.body = body
        self.reason = reason


class GatewayUnavailable(GatewayRestError):
    def __init__(self, endpoint: str, reason: str, *, sent: bool) -> None:
        super().__init__(endpoint, f"unavailable: {reason}")
        self.reason = reason
        self.sent = sent


class GatewayHTTPError(GatewayRestError):
    """An HTTP status we do not retry (400, 403, 404, ...)."""

    def __init__(self, endpoint: str, status: int, body: str) -> None:
        super().__init__(endpoint, f"HTTP {status}: {body[:200]}")
        self.status = status
        self.body = body


class GatewayProtocolError(GatewayRestError):
    """A response we cannot read (not JSON, wrong shape, malformed rows)."""
