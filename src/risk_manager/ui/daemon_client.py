"""A small synchronous client of the daemon's status API (docs/status-api.md) for one-shot commands.

stdlib urllib on purpose: the CLI commands make one or two calls and should start fast.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8765"


class DaemonUnreachable(Exception):
    """Nothing answers at the URL: the daemon is not running (or listens elsewhere)."""


class DaemonError(Exception):
    """The daemon answered with an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DaemonClient:
    def __init__(self, url: str = DEFAULT_URL, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                 token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise DaemonError(exc.code, _error_text(exc)) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DaemonUnreachable(
                f"the risk-manager daemon is not running (nothing answers at {self.url}: {reason})"
            ) from None
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            raise DaemonError(502, f"the daemon at {self.url} sent a reply that is not JSON") from None

    def status(self) -> dict[str, Any]:
        doc = self._request("GET", "/status")
        if not isinstance(doc, dict):
            raise DaemonError(502, f"the daemon at {self.url} sent an unexpected /status document")
        return doc

    def login(self, password: str) -> str:
        reply = self._request("POST", "/admin/login", {"password": password})
        return str(reply["token"])

    def logout(self, token: str) -> None:
        try:
            self._request("POST", "/admin/logout", {}, token)
        except (DaemonError, DaemonUnreachable):
            pass  # the session expires on its own anyway

    def self_lock(self, account_id: int, until: str | None = None, reason: str | None = None) -> Any:
        """The trader's own lock ("done for the day"): no password, only ever tightens."""
        body: dict[str, Any] = {"account_id": account_id, "until": until}
        if reason:
            body["reason"] = reason
        reply = self._request("POST", "/self/lock", body)
        return reply.get("result") if isinstance(reply, dict) else reply

    def admin(self, token: str, command: str, body: dict[str, Any] | None = None) -> Any:
        reply = self._request("POST", f"/admin/{command}", body or {}, token)
        return reply.get("result") if isinstance(reply, dict) else reply


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])
    except (json.JSONDecodeError, OSError):
        pass
    return f"HTTP {exc.code} {exc.reason}"
