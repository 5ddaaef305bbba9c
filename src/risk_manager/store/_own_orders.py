"""What the engine hands out to persist: the guard's own orders and the trades it handled.

`trades_seen` holds every trade whose event rules ran; after a restart those trades rebuild
state only (docs/operations.md, start-up step 4). `own_orders` holds the orders the guard placed (docs/rules.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from risk_manager.engine.own_orders import HandledTradeRecord, JudgedExitRecord, OwnOrderRecord
from risk_manager.store._base import StoreBase
from risk_manager.store.codec import day_out, ts_out

#: Meta key set once the daemon records handled trades (absent: a store from before that).
HANDLED_SINCE_META = "handled_trades_recorded_since"


class OwnOrdersMixin(StoreBase):
    def save_engine_records(self, records: Iterable[Any]) -> int:
        """Persist own orders and handled trades in one commit; ids already stored are kept."""
        own, handled, judged = [], [], []
        for r in records:
            if isinstance(r, OwnOrderRecord):
                own.append((r.order_id, r.account_id, r.contract_id, r.kind, ts_out(r.at)))
            elif isinstance(r, HandledTradeRecord):
                handled.append((r.trade_id, r.account_id, day_out(r.trading_day), r.pnl,
                                int(r.voided), ts_out(r.at)))
            elif isinstance(r, JudgedExitRecord):
                judged.append((r.account_id, r.exec_key, day_out(r.trading_day), r.worst, ts_out(r.at)))
        if not own and not handled and not judged:
            return 0
        with self.transaction():
            self._conn.executemany(
                "INSERT OR IGNORE INTO own_orders (order_id, account_id, contract_id, kind, "
                "placed_at) VALUES (?, ?, ?, ?, ?)", own)
            self._conn.executemany(
                "INSERT OR IGNORE INTO trades_seen (trade_id, account_id, trading_day, pnl, "
                "voided, seen_at) VALUES (?, ?, ?, ?, ?, ?)", handled)
            # the worst judged only falls (later fills escalate)
            self._conn.executemany(
                "INSERT INTO exits_judged (account_id, exec_key, trading_day, worst, judged_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, exec_key) DO UPDATE SET "
                "worst = MIN(worst, excluded.worst)", judged)
        return len(own) + len(handled) + len(judged)

    def judged_exits(self, since_day: date) -> list[tuple[int, str, float]]:
        """(account id, exec key, worst sum judged) of R07's exits judged on `since_day` and later."""
        rows = self._rows("SELECT account_id, exec_key, worst FROM exits_judged WHERE trading_day >= ?",
                          (day_out(since_day),))
        return [(int(a), str(k), float(w)) for a, k, w in rows]

    def own_orders(self, since: datetime | None = None) -> list[tuple[int, int, str]]:
        """(account id, order id, kind) of the orders the guard placed (since `since`), oldest
        first."""
        cut = "" if since is None else ts_out(since, "since")
        rows = self._rows("SELECT account_id, order_id, kind FROM own_orders WHERE placed_at >= ? "
                          "ORDER BY placed_at", (cut,))
        return [(int(a), int(o), str(k)) for a, o, k in rows]

    def handled_trade_ids(self, since_day: date) -> list[tuple[int, int]]:
        """(account id, trade id) of the trades handled on `since_day` and later."""
        rows = self._rows("SELECT account_id, trade_id FROM trades_seen WHERE trading_day >= ?",
                          (day_out(since_day),))
        return [(int(a), int(t)) for a, t in rows]

    def restart_handled_trade_ids(self, since_day: date, day_start: datetime,
                                  now: datetime) -> list[tuple[int, int]]:
        """The trades a restart must not act on again: `handled_trade_ids(since_day)`. A store
        that never recorded them (written by an older version) has today's journaled trade
        events stand in, once: every journaled trade was handled by the daemon that wrote it."""
        handled = self.handled_trade_ids(since_day)
        if self.get_meta(HANDLED_SINCE_META) is None:  # type: ignore[attr-defined]
            handled += self.journaled_trade_ids(day_start)
            self.set_meta(HANDLED_SINCE_META, ts_out(now))  # type: ignore[attr-defined]
        return handled

    def journaled_trade_ids(self, since: datetime) -> list[tuple[int, int]]:
        """(account id, trade id) of the trade events journaled at/after `since`."""
        bound = self._journal_seq_bound(ts_out(since, "since"))  # type: ignore[attr-defined]
        rows = self._rows("SELECT account_id, payload FROM journal WHERE seq >= ? AND kind = ? "
                          "AND received_at >= ?", (bound, "trade", ts_out(since, "since")))
        out = []
        for account_id, payload in rows:
            trade_id = (json.loads(payload).get("data") or {}).get("id")
            if account_id is not None and isinstance(trade_id, int):
                out.append((int(account_id), trade_id))
        return out
