"""R15's per-day net P&L rebuilt from the gateway's trade history on first start (docs/rules.md).

R15 without `starting_balance` judges today against the profit of the days before it, which the
guard only knows for the days it recorded. When none before today is recorded, the daemon reads
`history_days` of `Trade/search` (in chunks, each call bounded in time), groups the fills by
trading day and hands the days to the engine, which persists them. It runs in the background:
enforcement never waits for it, and a failure only warns (R15 then counts what is recorded plus
`profit_before`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from risk_manager.engine.engine import RiskEngine
from risk_manager.engine.firm import day_net_from_trades
from risk_manager.events import Trade

log = logging.getLogger("risk_manager.daemon")

#: Days per Trade/search: a week of fills is a modest answer; 366 days are 53 calls at most.
CHUNK_DAYS = 7
#: One call, the REST client's own retries included: it must not hang the read for ever.
CALL_TIMEOUT_S = 30.0


async def read_trades(rest: Any, account_id: int, start: datetime, end: datetime, *,
                      timeout_s: float = CALL_TIMEOUT_S) -> list[Trade]:
    """Every trade of [start, end), `CHUNK_DAYS` per call; raises on the first failure (a
    partial history would misstate the profit before today)."""
    calls = max(1, math.ceil((end - start) / timedelta(days=CHUNK_DAYS)))
    out: list[Trade] = []
    for n in range(calls):
        a = start + timedelta(days=CHUNK_DAYS * n)
        b = min(end, a + timedelta(days=CHUNK_DAYS))
        out += await asyncio.wait_for(rest.search_trades(account_id, a, b), timeout_s)
    return out


async def rebuild_day_history(rest: Any, engine: RiskEngine, now: Callable[[], datetime],
                              account_ids: list[int], *, save: Callable[[], None],
                              warn: Callable[[str, str], None],
                              timeout_s: float = CALL_TIMEOUT_S) -> dict[int, int]:
    """For each account that needs it (RiskEngine.needs_day_history): read, group, hand to the
    engine, persist (`save`). Returns account → days added; a failed account is left out
    after `warn(title, body)`."""
    done: dict[int, int] = {}
    for aid in account_ids:
        today = engine.trading_day
        if not engine.needs_day_history(aid) or engine.day_start is None or today is None:
            continue
        days = engine.contexts(aid)["consistency_guard"].config.history_days
        end = engine.day_start  # today's fills are the reconciler's
        start = engine.timeline.day_bounds(end - timedelta(days=days))[0]
        try:
            trades = await read_trades(rest, aid, start, end, timeout_s=timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure: warn, never stop the daemon
            why = "no answer in time" if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
            log.warning("account %s: trade history (Trade/search, %s days) not read: %s; R15 counts "
                        "the recorded days plus profit_before", aid, days, why)
            warn(f"Trade history of account {aid} not read",
                 f"R15 consistency_guard could not rebuild the days before today from Trade/search "
                 f"({why}); it counts the days it recorded plus profit_before until it can.")
            continue
        by_day = day_net_from_trades(trades, engine.timeline.day_of, today)
        done[aid] = engine.restore_day_history(aid, by_day, now())
        save()
        log.info("account %s: R15 history rebuilt from %d trades: %d days, net %.2f", aid,
                 len(trades), done[aid], sum(by_day.values()))
    return done
