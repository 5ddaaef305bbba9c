"""ProjectX Gateway REST client (reference §2–§4): auth with token refresh, typed endpoints,
envelope/error handling, retries that are safe, and a client-side rate budget.

Retry policy, by what a failure can mean:
- reads (searches, contracts, validate): retried on timeouts, connection errors, 5xx and unreadable
  bodies with bounded jittered backoff, then `GatewayUnavailable`;
- mutating calls (place/modify/cancel/closeContract/partialCloseContract) are never retried once
  they may have reached the gateway: `MutationUncertain` tells the caller to reconcile first;
- 401 (any call): one fresh login, then one retry — the gateway did not execute a 401'd call;
- 429 (any call): wait Retry-After (or a backoff), retry up to a budget, then `RateLimited`.
Every call goes through `RateBudget` first (sliding window) and has a total timeout. Mutations,
logins and calls made on the executor's lock path get priority there: ordinary reads (e.g. a
reconcile after a hub reconnect) leave a reserve of the window to them and never go ahead of them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections import deque
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from collections.abc import Callable

import aiohttp

from risk_manager.clock import Clock, SystemClock
from risk_manager.events import Account, Contract, Order, Position, Trade
from risk_manager.gateway import decode
from risk_manager.gateway.errors import (
    AuthError,
    GatewayError,
    GatewayHTTPError,
    GatewayProtocolError,
    GatewayUnavailable,
    LoginFailed,
    MutationUncertain,
    RateLimited,
)
from risk_manager.gateway.models import error_name
from risk_manager.priority import ON_LOCK_PATH, ON_RISK_READ_PATH
from risk_manager.gateway.redact import get_logger, redact
from risk_manager.gateway.signalr_protocol import reject_json_constant

log = get_logger("risk_manager.gateway.rest")

MUTATING_ENDPOINTS = frozenset(
    {
        "Order/place",
        "Order/modify",
        "Order/cancel",
        "Position/closeContract",
        "Position/partialCloseContract",
    }
)
#: Every caller (the lock path too) waits on the single-flight token refresh: never let it queue.
PRIORITY_ENDPOINTS = MUTATING_ENDPOINTS | {"Auth/loginKey", "Auth/validate"}
#: Default share of the client budget kept for priority calls (`GatewayRest(mutation_reserve=)`):
#: 23 of 190, room for ~3 account flattens at once (more take every slot that frees), while a
#: reconcile of 50 accounts (~151 reads) or a 27-account start-up (~167) still fits in one window.
#: A quarter (47) pushed those past the window: a minute's delay per reconnect or start-up.
DEFAULT_RESERVE_SHARE = 0.125
#: Refresh the token this long before its JWT `exp` (reference §2.2: project-x-py uses 5 min).
REFRESH_MARGIN_S = 300.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # sort key for a row without a timestamp


def jwt_expiry(token: str | None) -> datetime | None:
    """The `exp` claim of a JWT as an aware UTC datetime; None if the token is not a readable JWT."""
    if not token or token.count(".") != 2:
        return None
    try:
        segment = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        exp = payload.get("exp") if isinstance(payload, dict) else None
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            return datetime.fromtimestamp(exp, UTC)
    except (ValueError, TypeError, OverflowError, RecursionError):
        pass
    return None


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps sent to the gateway must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RateBudget:
    """Sliding-window request budget: at most `limit` calls in any `window` seconds, of which the
    last `reserve` are kept for priority calls.

    Priority calls (the lock path: cancels, closes, stop placement, and the reads the executor makes
    while enforcing) may use the whole `limit`; other calls only `limit - reserve`. While a
    priority call waits for a slot, no other call takes one, so a close never queues behind a
    reconcile's reads. Measured with real monotonic time (it paces real requests against a real
    server). `pause` holds everybody back after a 429: the gateway's limit is one for all calls.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        reserve: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"rate budget needs limit >= 1 and window > 0, got {limit}/{window}")
        if not 0 <= reserve < limit:
            raise ValueError(f"rate budget reserve must be in [0, {limit - 1}] for limit {limit}, got {reserve}")
        self.limit = limit
        self.window = window
        self.reserve = reserve
        #: Of the reserve, this many slots per window only priority calls may take; urgent reads
        #: (reconciling accounts at risk) use the rest, so they can never starve a close.
        self.enforcement_reserve = (reserve + 1) // 2
        self._monotonic = monotonic
        # A request counts a little longer than the window: arrival at the server lags our
        # send time by a variable amount, and the server's window is measured on arrivals.
        self._span = window + max(0.25, 0.02 * window)
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._priority_waiting = 0
        self.waits = 0
        self.priority_waits = 0

    @property
    def ordinary_limit(self) -> int:
        """Calls per window that non-priority calls may use."""
        return self.limit - self.reserve

    def _trim(self, now: float) -> None:
        cutoff = now - self._span
        sent = self._sent
        while sent and sent[0] <= cutoff:
            sent.popleft()

    @property
    def used(self) -> int:
        self._trim(self._monotonic())
        return len(self._sent)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    def _delay(self, now: float, cap: int) -> float:
        """Seconds until fewer than `cap` calls are in the window (0 if already so)."""
        if now < self._paused_until:
            return self._paused_until - now
        self._trim(now)
        over = len(self._sent) - cap
        return 0.0 if over < 0 else self._sent[over] + self._span - now

    async def acquire(self, priority: bool = False, *, urgent: bool = False) -> None:
        if priority:
            cap = self.limit
        elif urgent:
            cap = self.limit - self.enforcement_reserve
        else:
            cap = self.ordinary_limit
        waiting = False
        try:
            while True:
                now = self._monotonic()
                delay = self._delay(now, cap)
                if delay <= 0 and not priority and self._priority_waiting:
                    # A priority call is due first; look again once it can have gone out.
                    delay = max(self._delay(now, self.limit), 0.002)
                if delay <= 0:
                    self._sent.append(now)
                    if waiting:
                        self.waits += 1
                        self.priority_waits += priority
                    return
                if not waiting:
                    waiting = True
                    self._priority_waiting += priority
                await asyncio.sleep(max(delay, 0.001))
        finally:
            if waiting and priority:
                self._priority_waiting -= 1


class GatewayRest:
    """Async client of the ProjectX Gateway REST API. Returns `risk_manager.events` payloads.

    `api_url` is the host (e.g. https://api.topstepx.com or the simulator's http://127.0.0.1:PORT);
    a trailing "/api" is accepted. `rate_limit` is the server's documented limit (requests,
    seconds); the client budget keeps 5 % (at least one request) below it. `mutation_reserve` is
    how many requests of that budget per window ordinary reads may not use, kept for priority calls
    (mutations, logins, the executor's lock-path reads); None: an eighth of the budget
    (23 of 190 for the gateway's 200/60 s).
    """

    def __init__(
        self,
        api_url: str,
        username: str,
        api_key: str,
        *,
        clock: Clock | None = None,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        rate_limit: tuple[int, float] | None = (200, 60.0),
        mutation_reserve: int | None = None,
        read_retries: int = 3,
        retry_429_attempts: int = 3,
        max_retry_after: float = 30.0,
        backoff_base: float = 0.25,
        backoff_max: float = 5.0,
        refresh_margin: float = REFRESH_MARGIN_S,
    ) -> None:
        base = api_url.rstrip("/")
        if base.lower().endswith("/api"):
            base = base[:-4]
        self.api_url = base
        self.username = username
        self._api_key = api_key
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout
        self._session = session
        self._own_session = session is None
        if rate_limit is None:
            self.budget: RateBudget | None = None
        else:
            limit, window = rate_limit
            budget = max(1, limit - max(1, limit // 20))
            reserve = int(budget * DEFAULT_RESERVE_SHARE) if mutation_reserve is None else mutation_reserve
            if not 0 <= reserve < budget:
                raise ValueError(f"mutation_reserve must be in [0, {budget - 1}] for a budget of {budget}, got {reserve}")
            self.budget = RateBudget(budget, window, reserve=reserve)
        self.read_retries = read_retries
        self.retry_429_attempts = retry_429_attempts
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.refresh_margin = refresh_margin
        self._token: str | None = None
        self._token_exp: datetime | None = None
        self._token_lock = asyncio.Lock()
        self.stats: dict[str, int] = {
            "requests": 0, "retries": 0, "http_401": 0, "http_429": 0, "http_5xx": 0,
            "timeouts": 0, "logins": 0, "validations": 0, "business_errors": 0,
        }
        #: monotonic time of the last HTTP answer of any kind (connection health for status).
        self.last_response_monotonic: float | None = None

    def __repr__(self) -> str:  # never show the key or the token
        return f"GatewayRest({self.api_url!r}, user={self.username!r})"

    # -- session -------------------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> GatewayRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- auth ----------------------------------------------------------------------------------
    @property
    def token_expiry(self) -> datetime | None:
        return self._token_exp

    def _set_token(self, token: str) -> None:
        self._token = token
        self._token_exp = jwt_expiry(token)

    async def login(self) -> str:
        """`Auth/loginKey`; stores and returns the new token. Raises LoginFailed on success:false."""
        self.stats["logins"] += 1
        try:
            env = await self._call("Auth/loginKey", {"userName": self.username, "apiKey": self._api_key}, auth=False)
        except GatewayError as exc:
            raise LoginFailed(exc.endpoint, exc.error_code, exc.error_name, exc.message, exc.envelope) from None
        token = env.get("token")
        if not isinstance(token, str) or not token:
            raise GatewayProtocolError("Auth/loginKey", "success without a token")
        self._set_token(token)
        log.info("gateway login ok", user=self.username, token_expires=str(self._token_exp))
        return token

    async def validate(self) -> str:
        """`Auth/validate`: exchange the current token for `newToken`; stores and returns it."""
        if self._token is None:
            return await self.login()
        self.stats["validations"] += 1
        env = await self._call("Auth/validate", None, retry_401=False)
        token = env.get("newToken")
        if isinstance(token, str) and token:
            self._set_token(token)
        return self._token

    def _needs_refresh(self) -> bool:
        if self._token is None:
            return True
        if self._token_exp is None:
            return False
        remaining = (self._token_exp - self.clock.now()).total_seconds()
        return remaining <= self.refresh_margin

    async def token(self, refresh: bool = False) -> str:
        """A valid token. Logs in when there is none; refreshes via Auth/validate when the JWT's
        `exp` is within `refresh_margin` (falling back to loginKey); `refresh=True` forces a fresh
        login (after a 401 or GatewayLogout). Single-flight: concurrent callers share one refresh."""
        if not refresh and self._token is not None and not self._needs_refresh():
            return self._token
        seen = self._token
        async with self._token_lock:
            if self._token is not seen and self._token is not None and not self._needs_refresh():
                return self._token  # somebody refreshed while we waited
            if refresh or self._token is None:
                return await self.login()
            try:
                return await self.validate()
            except (GatewayError, AuthError, GatewayUnavailable, GatewayProtocolError, GatewayHTTPError) as exc:
                log.warning("token validate failed, logging in again", error=str(exc))
                return await self.login()

    async def _token_after_401(self, rejected: str | None) -> None:
        async with self._token_lock:
            if self._token is not None and self._token != rejected:
                return  # already replaced by a concurrent caller
            await self.login()

    async def logout(self) -> None:
        await self._call("Auth/logout", None)
        self._token = None
        self._token_exp = None

    # -- the one request path ----------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * (2**attempt)) * random.uniform(0.5, 1.0)

    def _retry_after(self, header: str | None, attempt: int) -> float:
        delay: float | None = None
        if header:
            try:
                delay = float(header)
            except ValueError:
                try:
                    when = parsedate_to_datetime(header)
                    delay = (when - self.clock.now()).total_seconds()
                except (TypeError, ValueError):
                    delay = None
        if delay is None:
            delay = min(self.max_retry_after, float(2**attempt))
        return min(max(delay, 0.0), self.max_retry_after)

    async def _call(
        self,
        endpoint: str,
        body: dict[str, Any] | None,
        *,
        auth: bool = True,
        retry_401: bool = True,
    ) -> dict[str, Any]:
        """POST /api/<endpoint>; returns the success envelope or raises a GatewayRestError."""
        mutating = endpoint in MUTATING_ENDPOINTS
        priority = endpoint in PRIORITY_ENDPOINTS or ON_LOCK_PATH.get()
        urgent = not priority and ON_RISK_READ_PATH.get()
        url = f"{self.api_url}/api/{endpoint}"
        failures = 0
        rate_limited = 0
        refreshed = False
        http = self._http()
        while True:
            if self.budget is not None:
                await self.budget.acquire(priority, urgent=urgent)
            # Not pre-built (issue 18, measured): the URL, headers, timeout and JSON body of a cancel
            # cost ~6 us together (yarl parse 0.4, ClientTimeout 1.2, json.dumps 4.0, headers 0.2)
            # against a ~400-500 us loopback round trip whose run-to-run noise is larger.
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            sent_token = None
            if auth:
                sent_token = await self.token() if retry_401 else self._token
                headers["Authorization"] = f"Bearer {sent_token}"
            self.stats["requests"] += 1
            started = time.monotonic()
            reason: str
            try:
                async with http.post(
                    url,
                    data=json.dumps(body) if body is not None else b"",
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as resp:
                    status = resp.status
                    retry_after_header = resp.headers.get("Retry-After")
                    text = await resp.text()
            except aiohttp.ClientConnectorError as exc:
                # Never reached the server: nothing can have been executed.
                reason = f"cannot connect: {redact(str(exc))}"
                if mutating:
                    raise GatewayUnavailable(endpoint, reason, sent=False) from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                if isinstance(exc, asyncio.TimeoutError):
                    self.stats["timeouts"] += 1
                    reason = f"no answer within {self.timeout} s"
                else:
                    reason = f"{type(exc).__name__}: {redact(str(exc))}"
                if mutating:
                    raise MutationUncertain(endpoint, body or {}, reason) from None
            else:
                self.last_response_monotonic = time.monotonic()
                log.debug("gateway call", endpoint=endpoint, status=status, ms=round((time.monotonic() - started) * 1000, 2))
                if status == 200:
                    envelope = self._envelope(endpoint, text)
                    if envelope is not None:
                        return self._check_envelope(endpoint, envelope)
                    reason = f"unreadable response body: {text[:120]!r}"
                    if mutating:
                        raise MutationUncertain(endpoint, body or {}, reason)
                elif status == 401:
                    self.stats["http_401"] += 1
                    if not auth or not retry_401 or refreshed:
                        raise AuthError(endpoint, "HTTP 401 (token rejected)")
                    refreshed = True
                    log.info("token rejected (401), logging in again", endpoint=endpoint)
                    await self._token_after_401(sent_token)
                    continue
                elif status == 429:
                    self.stats["http_429"] += 1
                    delay = self._retry_after(retry_after_header, rate_limited)
                    if self.budget is not None:
                        self.budget.pause(delay)
                    rate_limited += 1
                    if rate_limited > self.retry_429_attempts:
                        raise RateLimited(endpoint, delay)
                    log.warning("rate limited (429), backing off", endpoint=endpoint, seconds=round(delay, 3))
                    self.stats["retries"] += 1
                    await asyncio.sleep(delay)
                    continue
                elif status >= 500:
                    self.stats["http_5xx"] += 1
                    reason = f"HTTP {status}"
                    if mutating:
                        raise MutationUncertain(endpoint, body or {}, reason)
                else:
                    raise GatewayHTTPError(endpoint, status, redact(text))
            # A read that failed in a retryable way.
            failures += 1
            if failures > self.read_retries:
                raise GatewayUnavailable(endpoint, reason, sent=True)
            delay = self._backoff(failures - 1)
            log.warning("gateway read failed, retrying", endpoint=endpoint, reason=reason, attempt=failures, seconds=round(delay, 3))
            self.stats["retries"] += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _envelope(endpoint: str, text: str) -> dict[str, Any] | None:
        try:
            # NaN/Infinity are not JSON; a NaN price or P&L would make every rule comparison false.
            value = json.loads(text, parse_constant=reject_json_constant)
        except (ValueError, RecursionError):  # RecursionError: a body nested too deeply
            return None
        return value if isinstance(value, dict) else None

    def _check_envelope(self, endpoint: str, env: dict[str, Any]) -> dict[str, Any]:
        success = env.get("success")
        code = env.get("errorCode")
        if success is True or (success is None and code in (None, 0)):
            return env
        self.stats["business_errors"] += 1
        code_int = code if isinstance(code, int) else None
        message = env.get("errorMessage")
        raise GatewayError(endpoint, code_int, error_name(endpoint, code_int), message if isinstance(message, str) else None, env)

    def _rows(self, endpoint: str, env: dict[str, Any], key: str, parse: Callable[[dict[str, Any]], Any]) -> list[Any]:
        try:
            return decode.parse_rows(env.get(key), parse, f"{endpoint} {key}")
        except decode.DecodeError as exc:
            raise GatewayProtocolError(endpoint, str(exc)) from None

    # -- accounts & positions --------------------------------------------------------------------
    async def search_accounts(self, only_active: bool = True) -> list[Account]:
        env = await self._call("Account/search", {"onlyActiveAccounts": only_active})
        return self._rows("Account/search", env, "accounts", decode.parse_account)

    async def search_open_positions(self, account_id: int) -> list[Position]:
        env = await self._call("Position/searchOpen", {"accountId": account_id})
        return self._rows("Position/searchOpen", env, "positions", decode.parse_position)

    async def close_contract(self, account_id: int, contract_id: str) -> None:
        await self._call("Position/closeContract", {"accountId": account_id, "contractId": contract_id})

    async def partial_close_contract(self, account_id: int, contract_id: str, size: int) -> None:
        await self._call(
            "Position/partialCloseContract",
            {"accountId": account_id, "contractId": contract_id, "size": size},
        )

    # -- orders ----------------------------------------------------------------------------------
    async def search_open_orders(self, account_id: int) -> list[Order]:
        """Working orders, excluding Suspended bracket children (the gateway hides them here)."""
        env = await self._call("Order/searchOpen", {"accountId": account_id})
        return self._rows("Order/searchOpen", env, "orders", decode.parse_order)

    async def search_orders(self, account_id: int, start: datetime, end: datetime | None = None) -> list[Order]:
        body = {"accountId": account_id, "startTimestamp": _iso(start), "endTimestamp": _iso(end) if end else None}
        env = await self._call("Order/search", body)
        return self._rows("Order/search", env, "orders", decode.parse_order)

    async def query_orders(
        self,
        account_id: int,
        statuses: list[int] | None = None,
        *,
        contract_id: str | None = None,
        page_size: int = 100,
        page_offset: int = 0,
    ) -> list[Order]:
        """`Order/v2/query` (Swagger only): the one call that also shows Suspended children."""
        filt: dict[str, Any] = {"accountId": account_id}
        if statuses is not None:
            filt["statuses"] = list(statuses)
        if contract_id is not None:
            filt["contractId"] = contract_id
        body = {"filter": filt, "pageSize": page_size, "pageOffset": page_offset}
        env = await self._call("Order/v2/query", body)
        return self._rows("Order/v2/query", env, "orders", decode.parse_order)

    async def place_order(
        self,
        account_id: int,
        contract_id: str,
        type: int,
        side: int,
        size: int,
        *,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_price: float | None = None,
        custom_tag: str | None = None,
        stop_loss_bracket: dict[str, int] | None = None,
        take_profit_bracket: dict[str, int] | None = None,
    ) -> int:
        """`Order/place`; returns the new order id. A rejection raises GatewayError (its
        `order_id` may still name the rejected order)."""
        body: dict[str, Any] = {
            "accountId": account_id,
            "contractId": contract_id,
            "type": int(type),
            "side": int(side),
            "size": size,
        }
        optional = {
            "limitPrice": limit_price,
            "stopPrice": stop_price,
            "trailPrice": trail_price,
            "customTag": custom_tag,
            "stopLossBracket": stop_loss_bracket,
            "takeProfitBracket": take_profit_bracket,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        env = await self._call("Order/place", body)
        order_id = env.get("orderId")
        if not isinstance(order_id, int) or isinstance(order_id, bool):
            raise GatewayProtocolError("Order/place", f"success without an orderId: {env.get('orderId')!r}")
        return order_id

    async def modify_order(
        self,
        account_id: int,
        order_id: int,
        *,
        size: int | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_price: float | None = None,
    ) -> None:
        body: dict[str, Any] = {"accountId": account_id, "orderId": order_id}
        optional = {"size": size, "limitPrice": limit_price, "stopPrice": stop_price, "trailPrice": trail_price}
        body.update({k: v for k, v in optional.items() if v is not None})
        await self._call("Order/modify", body)

    async def cancel_order(self, account_id: int, order_id: int) -> None:
        await self._call("Order/cancel", {"accountId": account_id, "orderId": order_id})

    # -- trades & contracts ------------------------------------------------------------------------
    async def search_trades(self, account_id: int, start: datetime, end: datetime | None = None) -> list[Trade]:
        body = {"accountId": account_id, "startTimestamp": _iso(start), "endTimestamp": _iso(end) if end else None}
        env = await self._call("Trade/search", body)
        trades = self._rows("Trade/search", env, "trades", decode.parse_trade)
        # Oldest first: the gateway answers newest first, and the running day P&L rules see must
        # follow the order the fills happened in (id breaks ties; ids grow with time).
        return sorted(trades, key=lambda t: (t.creation_timestamp or _EPOCH, t.id))

    async def contract_by_id(self, contract_id: str) -> Contract:
        env = await self._call("Contract/searchById", {"contractId": contract_id})
        row = env.get("contract")
        try:
            return decode.parse_contract(row)
        except decode.DecodeError as exc:
            raise GatewayProtocolError("Contract/searchById", str(exc)) from None

    async def search_contracts(self, text: str, live: bool = False) -> list[Contract]:
        env = await self._call("Contract/search", {"searchText": text, "live": live})
        return self._rows("Contract/search", env, "contracts", decode.parse_contract)

    async def available_contracts(self, live: bool = False) -> list[Contract]:
        env = await self._call("Contract/available", {"live": live})
        return self._rows("Contract/available", env, "contracts", decode.parse_contract)
