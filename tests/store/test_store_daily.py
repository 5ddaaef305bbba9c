"""Daily P&L and trades seen, reset idempotency, contract cache, meta, admin logins."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from store_helpers import T0, trade

from risk_manager.events import Contract
from risk_manager.store import DailyPnl, Store

DAY = date(2026, 3, 9)


def test_trades_are_counted_once_and_voids_taken_back(store: Store) -> None:
    assert store.record_trade(trade(1, pnl=-50.0), DAY, -51.4)
    assert not store.record_trade(trade(1, pnl=-50.0), DAY, -51.4)  # duplicate event
    assert store.record_trade(trade(2, pnl=None), DAY, None)  # opening half-turn
    assert store.record_trade(trade(3, pnl=100.0), DAY, 98.6)
    got = store.daily_pnl(7, DAY)
    assert got.realized == pytest.approx(47.2) and got.trade_count == 3
    assert store.record_trade(trade(3, pnl=100.0, voided=True), DAY, 98.6)
    assert not store.record_trade(trade(3, pnl=100.0, voided=True), DAY, 98.6)
    got = store.daily_pnl(7, DAY)
    assert got.realized == pytest.approx(-51.4) and got.trade_count == 2
    assert not store.record_trade(trade(4, voided=True), DAY, -51.4)  # voided on first sight
    assert store.trade_seen(4) and not store.trade_seen(5)
    assert store.daily_pnl(7, DAY + timedelta(days=1)) == DailyPnl(7, DAY + timedelta(days=1))


def test_set_daily_pnl_overwrites(store: Store) -> None:
    store.record_trade(trade(1), DAY, -50.0)
    store.set_daily_pnl(7, DAY, -120.5, 4)
    assert store.daily_pnl(7, DAY) == DailyPnl(7, DAY, -120.5, 4)


def test_reset_is_recorded_once_per_day_across_restarts(db_path: Path, clock) -> None:
    with Store(db_path, clock) as s:
        assert s.last_reset() is None
        assert s.record_reset(DAY, T0)
        assert not s.record_reset(DAY, T0 + timedelta(minutes=1))
    with Store(db_path, clock) as s:
        assert not s.record_reset(DAY, T0)  # a restart does not reset the same day again
        assert s.record_reset(DAY + timedelta(days=1), T0 + timedelta(days=1))
        assert s.last_reset() == DAY + timedelta(days=1)


def test_contract_cache_round_trips(store: Store) -> None:
    contracts = [
        Contract("CON.F.US.EP.U26", "ESU6", 0.25, 12.5, "F.US.EP", "E-mini S&P 500", True),
        Contract("CON.F.US.MNQ.U26", "MNQU6", 0.25, 0.5),
    ]
    assert store.cache_contracts(contracts) == 2
    assert store.cached_contracts() == contracts
    updated = Contract("CON.F.US.MNQ.U26", "MNQU6", 0.25, 0.5, active_contract=False)
    store.cache_contracts([updated])
    assert store.cached_contract("CON.F.US.MNQ.U26") == updated
    assert store.cached_contract("nope") is None


def test_meta(store: Store) -> None:
    assert store.get_meta("config_hash", "none") == "none"
    store.set_meta("config_hash", "abc")
    assert store.get_meta("config_hash") == "abc"
    store.delete_meta("config_hash")
    assert store.get_meta("config_hash") is None


def test_admin_logins_and_sessions(store: Store, clock) -> None:
    store.record_login_attempt(False, source="127.0.0.1", detail="bad password")
    clock.advance(30)
    store.record_login_attempt(False, source="127.0.0.1")
    store.record_login_attempt(True, source="127.0.0.1")
    assert store.failed_logins_since(T0) == 2
    assert store.failed_logins_since(T0 + timedelta(seconds=1)) == 1
    assert store.failed_logins_since(T0, source="other") == 0
    assert [a.ok for a in store.login_attempts()] == [False, False, True]

    store.create_admin_session("tok-123", expires_at=T0 + timedelta(hours=1))
    assert store.admin_session_valid("tok-123")
    assert not store.admin_session_valid("tok-124") and not store.admin_session_valid("")
    assert not store.admin_session_valid("tok-123", now=T0 + timedelta(hours=2))
    stored = store._conn.execute("SELECT token_sha256 FROM admin_sessions").fetchone()[0]
    assert "tok-123" not in stored
    assert store.revoke_admin_session("tok-123")
    assert not store.admin_session_valid("tok-123")
