"""JWT session tokens (HS256, `exp` claim), because clients decode `exp` to schedule their refresh."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from risk_manager.clock import Clock


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and checks tokens. `expire_all` models the gateway forgetting every session at once."""

    def __init__(self, clock: Clock, lifetime_s: float = 86_400.0) -> None:
        self.clock = clock
        self.lifetime_s = lifetime_s
        self._secret = secrets.token_bytes(32)
        self._serial = 0
        self._valid_from_serial = 1
        self._revoked: set[int] = set()

    def issue(self, user: str) -> str:
        self._serial += 1
        now = int(self.clock.now().timestamp())
        header = {"alg": "HS256", "typ": "JWT"}
        payload = {
            "sub": user, "name": user, "jti": str(self._serial), "iat": now, "nbf": now,
            "exp": now + int(self.lifetime_s), "iss": "risk-manager-sim", "aud": "projectx-sim",
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        return f"{signing_input}.{_b64(self._sign(signing_input))}"

    def verify(self, token: str | None) -> dict[str, Any] | None:
        """The claims of a valid, unexpired, unrevoked token; otherwise None."""
        if not token:
            return None
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}"
        try:
            if not hmac.compare_digest(_unb64(parts[2]), self._sign(signing_input)):
                return None
            claims = json.loads(_unb64(parts[1]))
            serial = int(claims["jti"])
            expires = float(claims["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if serial < self._valid_from_serial or serial in self._revoked:
            return None
        if self.clock.now().timestamp() >= expires:
            return None
        return claims

    def revoke(self, token: str) -> None:
        claims = self.verify(token)
        if claims is not None:
            self._revoked.add(int(claims["jti"]))

    def expire_all(self) -> None:
        self._valid_from_serial = self._serial + 1

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest()
