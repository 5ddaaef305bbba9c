"""Gateway faults while enforcing: hub drop, 5xx/429 during a flatten, expired tokens, duplicates."""

from __future__ import annotations

import pytest

from e2e.helpers import BUY, LIMIT, MNQ, R03_REALIZED, account_locks, get_status, lose_60, wait_for

pytestmark = pytest.mark.e2e


async def _wait_locked(rig) -> None:
    async def locked():
        return account_locks(await get_status(rig.daemon.status_url), rig.account)

    await wait_for(locked, what="R03 lock")


async def test_user_hub_down_while_locked_rest_poll_closes_new_position(start_rig):
    rig = await start_rig(R03_REALIZED)
    t = rig.trader
    await lose_60(rig.trader, rig.account)
    await _wait_locked(rig)
    await t.fault("drop_user_hub", down_ms=2500)
    await wait_for(lambda: _hub_down(rig), what="daemon sees the user hub down")
    await t.place(rig.account, MNQ, BUY, 2)
    await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    await wait_for(lambda: t.flat(rig.account), timeout=4.0, what="closed by the REST poll while blind")
    assert rig.daemon.counters["polls"] >= 1
    # After reconnection the daemon's view matches the simulator's.
    await wait_for(lambda: _hub_up(rig), timeout=10.0, what="user hub back")
    status = await get_status(rig.daemon.status_url)
    row = status["accounts"][0]
    assert row["positions"] == [] and row["orders"] == []


async def _hub_down(rig) -> bool:
    return not rig.daemon.user_hub.connected


async def _hub_up(rig) -> bool:
    return rig.daemon.user_hub.connected


@pytest.mark.parametrize("kind", ["http_500", "http_429"])
async def test_flatten_completes_through_server_errors(start_rig, kind):
    rig = await start_rig({"daily_realized_loss": {"loss_limit": 50, "include_unrealized": True}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 2)
    await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    await rig.wait_quotes(MNQ)
    extra = {"retry_after": 1} if kind == "http_429" else {}
    await t.fault(kind, count=2, paths=["/api/Order/cancel", "/api/Position/closeContract"], **extra)
    await t.price(MNQ, 19980.0)
    await wait_for(lambda: t.flat(rig.account), timeout=10.0, what=f"flat despite {kind}")


async def test_expired_tokens_enforcement_continues(start_rig):
    rig = await start_rig(R03_REALIZED)
    t = rig.trader
    await lose_60(rig.trader, rig.account)
    await _wait_locked(rig)
    await t.fault("expire_tokens")
    await t.login()  # the trader's token expired too
    seq = await t.last_seq()
    await t.place(rig.account, MNQ, BUY, 1)
    await wait_for(lambda: t.flat(rig.account), timeout=8.0, what="closed after the token expired")
    paths = [r["path"].lower() for r in await t.log(seq)]
    assert any(p.endswith("/auth/loginkey") or p.endswith("/auth/validate") for p in paths)


async def test_duplicate_events_count_pnl_once(start_rig):
    rig = await start_rig({"daily_realized_loss": {"loss_limit": 10_000, "include_unrealized": False}})
    t = rig.trader
    await t.fault("duplicate_events", count=50)
    await lose_60(rig.trader, rig.account)
    trades = [tr for tr in (await t.state())["trades"] if tr["accountId"] == rig.account]
    # Net: every fill's fees, the opening fill's too (the balance change).
    expected = sum((tr["profitAndLoss"] or 0.0) - tr["fees"] - tr.get("commissions", 0.0) for tr in trades)

    async def settled():
        row = (await get_status(rig.daemon.status_url))["accounts"][0]
        return row if abs(row["realized_pnl"] - round(expected, 2)) < 0.01 else None

    row = await wait_for(settled, what=f"realized P&L == {expected:.2f}")
    assert row["trades_today"] == 2


async def test_blind_timeout_alerts_and_flattens_when_configured(start_rig):
    rig = await start_rig({}, daemon={"blind_timeout_seconds": 1, "flatten_when_blind": True})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await wait_for(lambda: _engine_holds(rig), what="daemon saw the position")
    await t.fault("drop_user_hub", down_ms=3000)
    await wait_for(lambda: t.flat(rig.account), timeout=6.0, what="flattened after blind_timeout")

    async def audited() -> set:
        # The executor writes "confirmed" after its verifying read, which can land just after the
        # simulator already shows the account flat.
        phases = {(r.rule, r.phase) for r in rig.daemon.store.audit_rows(rig.account)}
        return phases if {("blind", "alert"), ("blind", "confirmed")} <= phases else set()

    await wait_for(audited, timeout=5.0, what="blind alert and confirmed flatten in the audit log")


async def _engine_holds(rig) -> bool:
    return bool(rig.daemon.engine.state(rig.account).positions)


async def test_sd_notify_ready(rig, tmp_path):
    import socket

    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    try:
        rig.configure({})
        from risk_manager.daemon.app import Daemon

        rig.daemon = Daemon(rig.config_dir, environ={"PROJECTX_API_KEY": "sim-key", "NOTIFY_SOCKET": path},
                            configure_logging=False)
        await rig.daemon.start()
        assert sock.recv(4096).startswith(b"READY=1")
    finally:
        sock.close()
