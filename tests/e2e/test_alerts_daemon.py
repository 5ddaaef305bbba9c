"""Alerts wired into the daemon: real simulator, real daemon, a loopback Discord stand-in.

Also the P&L stream (`pnl` on /events, `pnl_history` in /status) and `pending_changes.applies_at`,
which ride on the same sampling loop / status document.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ruamel.yaml import YAML

from alerts.receivers import HttpReceiver
from e2e.helpers import BUY, MNQ, SELL, Trader, get_status, wait_for, write_config, write_rules
from risk_manager.daemon.app import Daemon
from risk_manager.sim import Simulator

pytestmark = pytest.mark.e2e

ENV = {"PROJECTX_API_KEY": "sim-key"}
R03 = {"daily_realized_loss": {"loss_limit": 50, "include_unrealized": True}}
WEBHOOK_TOKEN = "hook-secret-token"


class Bench:
    """One simulator with two accounts; daemons started on demand, each with its own config dir."""

    def __init__(self, sim: Simulator, trader: Trader, root: Path) -> None:
        self.sim = sim
        self.trader = trader
        self.root = root
        self.accounts: list[int] = sim.info()["accounts"]
        self.api: str = sim.info()["api"]
        self.daemons: list[Daemon] = []

    def config(self, name: str, accounts: list[int], rules: dict[str, Any],
               alerts: dict[str, Any] | None = None, daemon: dict[str, Any] | None = None) -> Path:
        root = write_config(self.root / name, self.api, accounts, rules, daemon=daemon)
        if alerts is not None:
            yaml = YAML()
            path = root / "accounts.yaml"
            doc = yaml.load(path.read_text())
            doc["alerts"] = alerts
            with path.open("w") as fh:
                yaml.dump(doc, fh)
        return root

    async def start(self, config_dir: Path, **kw: Any) -> Daemon:
        daemon = Daemon(config_dir, environ=ENV, configure_logging=False, **kw)
        await daemon.start()
        self.daemons.append(daemon)
        return daemon

    async def stop(self, daemon: Daemon) -> None:
        self.daemons.remove(daemon)
        await daemon.shutdown()

    async def subscribed(self) -> set[str]:
        return self.sim.hubs.market_subscriptions()


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    sim = Simulator(accounts=2, speed=0.0)
    await sim.start()
    trader = Trader(sim.info()["api"])
    await trader.login()
    b = Bench(sim, trader, tmp_path)
    try:
        yield b
    finally:
        for daemon in list(b.daemons):
            await daemon.shutdown()
        await trader.close()
        await sim.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    r = await HttpReceiver().start()
    try:
        yield r
    finally:
        if r.gate is not None:
            r.gate.set()  # let hanging handlers finish so the server can close
        await r.close()


def discord(receiver: HttpReceiver, **extra: Any) -> dict[str, Any]:
    return {"discord": {"webhook_url": f"{receiver.base}/api/webhooks/1/{WEBHOOK_TOKEN}"},
            "dedupe_seconds": 0, **extra}


def texts(receiver: HttpReceiver) -> list[str]:
    return [r["json"]["content"] for r in receiver.requests if r["kind"] == "discord"]


async def wait_text(receiver: HttpReceiver, *needles: str, timeout: float = 5.0) -> str:
    async def found() -> str | None:
        return next((t for t in texts(receiver) if all(n in t for n in needles)), None)

    return await wait_for(found, timeout=timeout, what=f"alert containing {needles}")


async def wait_subscribed(bench: Bench, cid: str, present: bool = True, timeout: float = 5.0) -> None:
    async def check() -> bool:
        return (cid in await bench.subscribed()) == present

    await wait_for(check, timeout=timeout, what=f"{cid} {'subscribed' if present else 'unsubscribed'}")


async def test_r03_breach_warns_at_80_pct_then_alerts_the_lock_and_unlock(bench, receiver):
    acct = bench.accounts[0]
    cfg = bench.config("a", [acct], R03, alerts=discord(receiver))
    daemon = await bench.start(cfg, pnl_interval_s=0.1)
    t = bench.trader
    await t.price(MNQ, 20000.0)
    await t.place(acct, MNQ, BUY, 1)
    await wait_subscribed(bench, MNQ)
    await t.price(MNQ, 19980.0)  # open P&L -$40 (+ fees) of a $50 limit: above 80 %, below 100 %
    warning = await wait_text(receiver, "of its limit", "Rule: R03")
    assert "Daily realized loss" in warning
    await t.price(MNQ, 19970.0)  # -$60: breach
    lock = await wait_text(receiver, "Trading locked", "Rule: R03")
    assert f"Account: {daemon.accounts[acct]}" in lock
    await wait_for(lambda: t.flat(acct), what="account flattened")
    await wait_text(receiver, "Flattened the account")
    # The warning went once this trading day although the loss stayed above 80 %.
    await asyncio.sleep(0.3)
    assert sum("of its limit" in x for x in texts(receiver)) == 1

    await daemon.admin_unlock(acct, "reviewed with the trader", "admin@test", None)
    await wait_text(receiver, "Lock cleared (by admin@test)", "reviewed with the trader")
    # The webhook token never shows in what the daemon reports.
    assert WEBHOOK_TOKEN not in str(daemon.status()) and WEBHOOK_TOKEN not in daemon.metrics_text()
    assert 'risk_manager_alerts_sent_total{channel="discord"}' in daemon.metrics_text()


async def _breach_latency_ms(bench: Bench, acct: int, cfg: Path) -> float:
    """From the breaching price move to the daemon's closeContract reaching the simulator."""
    await bench.start(cfg)
    t = bench.trader
    await t.price(MNQ, 20000.0)
    await t.place(acct, MNQ, BUY, 1)
    await wait_subscribed(bench, MNQ)
    seq = await t.last_seq()
    t0 = time.monotonic_ns()  # the simulator logs requests with time.monotonic_ns, same process
    await t.price(MNQ, 19970.0)

    async def closed() -> dict[str, Any] | None:
        return next((r for r in await t.log(seq) if r["path"].lower().endswith("/position/closecontract")
                     and r["body"].get("accountId") == acct), None)

    row = await wait_for(closed, timeout=5.0, what="closeContract after the R03 breach")
    await wait_for(lambda: t.flat(acct), what="account flat")
    return (row["t_ns"] - t0) / 1e6


async def test_a_hanging_webhook_never_delays_the_lock(bench, receiver):
    baseline = await _breach_latency_ms(bench, bench.accounts[0], bench.config("plain", [bench.accounts[0]], R03))
    await bench.stop(bench.daemons[0])
    await bench.trader.price(MNQ, 20000.0)

    receiver.gate = asyncio.Event()  # the webhook accepts the request and never answers
    acct = bench.accounts[1]
    cfg = bench.config("hang", [acct], R03, alerts=discord(receiver, timeout_seconds=30))
    with_alerts = await _breach_latency_ms(bench, acct, cfg)
    await wait_text(receiver, "Trading locked")
    assert receiver.answered == 0  # every alert is still hanging, the close went through anyway
    # Loose: a blocked alert path would add the webhook's 30 s timeout, not a few ms.
    print(f"breach→closeContract: {baseline:.1f} ms without alerts, {with_alerts:.1f} ms with a hanging webhook")
    assert with_alerts < baseline + 3000, (baseline, with_alerts)


async def test_feed_blind_with_positions_open_is_alerted(bench, receiver):
    acct = bench.accounts[0]
    cfg = bench.config("blind", [acct], {}, alerts=discord(receiver),
                       daemon={"blind_timeout_seconds": 1, "poll_interval_seconds": 0.3})
    daemon = await bench.start(cfg)
    t = bench.trader
    await t.price(MNQ, 20000.0)
    await t.place(acct, MNQ, BUY, 1)
    await wait_for(lambda: _holds(daemon, acct), what="daemon saw the position")
    await t.fault("drop_user_hub", down_ms=2500)
    text = await wait_text(receiver, "Live feed lost with positions open", timeout=6.0)
    assert "1 open position(s)" in text
    # The daemon's own blind Alert action is not sent a second time as "Rule triggered".
    assert not any("Rule triggered" in x and "Rule: blind" in x for x in texts(receiver))


async def _holds(daemon: Daemon, acct: int) -> bool:
    return bool(daemon.engine.state(acct).positions)


async def test_quote_subscription_follows_positions_and_orders_on_every_account(bench):
    a, b = bench.accounts
    daemon = await bench.start(bench.config("quotes", [a, b], {}))
    t = bench.trader
    await t.price(MNQ, 20000.0)
    await t.place(a, MNQ, BUY, 1)
    await t.place(b, MNQ, BUY, 1)
    await wait_subscribed(bench, MNQ)
    await wait_for(lambda: _holds(daemon, b), what="daemon saw account b's position")
    await t.place(a, MNQ, SELL, 1)  # a is flat, b still holds: keep the quotes
    await wait_for(lambda: t.flat(a), what="account a flat")
    await asyncio.sleep(0.3)
    assert MNQ in await bench.subscribed()
    await t.place(b, MNQ, SELL, 1)
    await wait_subscribed(bench, MNQ, present=False)
    assert MNQ not in daemon.market_hub.contract_ids

    # A working order alone needs quotes too; cancelling it ends the subscription.
    placed = await t.place(a, MNQ, BUY, 1, type=1, limitPrice=19000.0)
    await wait_subscribed(bench, MNQ)
    await t._post("/api/Order/cancel", {"accountId": a, "orderId": placed["orderId"]})
    await wait_subscribed(bench, MNQ, present=False)


async def test_pnl_stream_history_and_pending_applies_at(bench):
    acct = bench.accounts[0]
    cfg = bench.config("pnl", [acct], {"max_contracts": {"limit": 2}})
    daemon = await bench.start(cfg)  # default 1 s sampling
    t = bench.trader
    await t.price(MNQ, 20000.0)
    async with aiohttp.ClientSession() as http, http.ws_connect(daemon.status_url + "/events") as ws:
        await t.place(acct, MNQ, BUY, 1)
        await wait_subscribed(bench, MNQ)
        await t.price(MNQ, 20010.0)  # +$20 open
        pnl: list[tuple[float, dict[str, Any]]] = []
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            try:
                msg = await ws.receive_json(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                break
            if msg["type"] == "pnl" and msg["account_id"] == acct:
                pnl.append((datetime.fromisoformat(msg["ts"]).timestamp(), msg["data"]))
                if msg["data"]["unrealized_pnl"] == 20.0:
                    break
    assert pnl and set(pnl[-1][1]) == {"realized_pnl", "unrealized_pnl", "total_pnl"}
    assert pnl[-1][1]["unrealized_pnl"] == 20.0
    gaps = [b[0] - a[0] for a, b in zip(pnl, pnl[1:])]
    assert all(g >= 0.95 for g in gaps), gaps  # published at most once a second per account

    row = next(r for r in (await get_status(daemon.status_url))["accounts"] if r["id"] == acct)
    history = row["pnl_history"]
    assert history and history[-1][1] == row["total_pnl"] and isinstance(history[-1][0], str)

    write_rules(cfg, {"max_contracts": {"limit": 4}})  # looser: waits for the reset
    await daemon.reload_config(by="test")
    status = await get_status(daemon.status_url)
    [change] = status["pending_changes"]
    assert change["rule"] == "max_contracts" and change["to"] == 4
    assert change["applies_at"] == status["trading_day"]["end"]


APPRISE_TOPIC = "ntfyTOPICsecret42"
APPRISE_PASSWORD = "apprise-pw-9"


async def test_apprise_url_gets_the_lock_alert_beside_discord_and_stays_secret(bench, receiver, caplog):
    """`alerts.urls` (apprise json://) next to the existing Discord channel, through the daemon."""
    acct = bench.accounts[0]
    host_port = receiver.base.removeprefix("http://")
    url = f"json://rm:{APPRISE_PASSWORD}@{host_port}/apprise/{APPRISE_TOPIC}"
    cfg = bench.config("a", [acct], R03, alerts=discord(receiver, urls=[url]))
    caplog.set_level("DEBUG", logger="apprise")
    daemon = await bench.start(cfg)
    t = bench.trader
    await t.price(MNQ, 20000.0)
    await t.place(acct, MNQ, BUY, 1)
    await wait_subscribed(bench, MNQ)
    await t.price(MNQ, 19970.0)  # -$60 of a $50 limit: lock
    await wait_text(receiver, "Trading locked", "Rule: R03")  # Discord

    async def apprise_lock() -> dict[str, Any] | None:
        return next((r["json"] for r in receiver.requests
                     if r["kind"] == "apprise" and "Trading locked" in r["json"]["title"]), None)

    note = await wait_for(apprise_lock, what="the lock alert at the apprise URL")
    assert "Rule: R03" in note["message"]
    status = daemon.status()
    assert status["alerts"]["apprise-1:json"]["sent"] >= 1 and "discord" in status["alerts"]
    metrics = daemon.metrics_text()
    assert 'risk_manager_alerts_sent_total{channel="apprise-1:json"}' in metrics
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (APPRISE_TOPIC, APPRISE_PASSWORD):
        assert secret not in str(status) and secret not in metrics and secret not in logged
