"""R15's days before today rebuilt from Trade/search (daemon/history.py): the real REST client
against the real simulator (loopback, port 0), the real engine and store.

A $3,000 target and a 50 % share; the simulator holds fills on past days (seeded through its
control API), one of them beyond the 30-day window and one voided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from engine.engine_helpers import catalog
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.history import CHUNK_DAYS, rebuild_day_history
from risk_manager.engine.engine import RiskEngine
from risk_manager.gateway.rest import GatewayRest
from risk_manager.sim import Simulator
from risk_manager.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

MNQ = "CON.F.US.MNQ.U26"


def r15_engine(now: datetime, **cfg) -> RiskEngine:
    rule = {"max_day_share": 0.5, "profit_target": 3_000, **cfg}
    eng = RiskEngine(RiskConfig.model_validate({"rules": {"consistency_guard": rule}}), catalog())
    eng.apply_reset(now)
    return eng


async def control(api: str, path: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as http, http.post(f"{api}/sim/{path}", json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def trade_searches(api: str) -> list[dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{api}/sim/log") as r:
        rows = (await r.json())["requests"]
    return [row["body"] for row in rows if row["path"].lower() == "/api/trade/search"]


def past(acct: int, days_ago: float, pnl: float | None, now: datetime, **kw) -> dict:
    return {"accountId": acct, "contractId": MNQ, "profitAndLoss": pnl,
            "at": (now - timedelta(days=days_ago)).isoformat(), **kw}


@pytest.fixture
async def sim():
    async with Simulator(accounts=1, speed=0.0) as s:
        yield s


async def test_history_read_in_chunks_grouped_by_day_and_persisted(sim, tmp_path):
    info = sim.info()
    api, acct = info["api"], info["accounts"][0]
    now = datetime.now(UTC)
    eng = r15_engine(now)
    today_start = eng.day_start
    # Noon-ish of earlier trading days, well clear of the 17:00 Chicago reset.
    base = today_start - timedelta(hours=4)
    seeded = [past(acct, 0, 1_000.0, base, fees=1.5), past(acct, 0, None, base, fees=1.5, size=2),
              past(acct, 2, -200.0, base, commissions=0.5),
              past(acct, 20, 700.0, base), past(acct, 20, 5_000.0, base, voided=True),
              past(acct, 45, 9_999.0, base)]  # beyond history_days (30): not read
    added = (await control(api, "trades", {"trades": seeded}))["trades"]
    # The close's opening half-turn once more under its id (pnl null), as the gateway repeats it.
    await control(api, "trades", {"trades": [past(acct, 0, None, base, fees=1.5, id=added[1]["id"])]})
    await control(api, "trades", {"trades": [{**past(acct, 0, 50.0, now), "at": now.isoformat()}]})  # today
    rest = GatewayRest(api, info["user"], info["api_key"], timeout=5.0, backoff_base=0.02)
    warnings: list[str] = []
    try:
        with Store(tmp_path / "rm.db") as store:
            done = await rebuild_day_history(
                rest, eng, lambda: now, [acct], warn=lambda t, b: warnings.append(t),
                save=lambda: store.save_engine_records(eng.take_records()))
            stored = {(day, v) for _, day, f, v in store.balance_history(acct) if f == "net_pnl"}
    finally:
        await rest.close()
    day_of = eng.timeline.day_of
    expected = {day_of(base): 1_000.0 - 1.5 - 1.5, day_of(base - timedelta(days=2)): -200.5,
                day_of(base - timedelta(days=20)): 700.0}
    assert warnings == [] and done == {acct: 3}
    assert eng.state(acct).firm.day_pnl == expected and stored == set(expected.items())
    view = eng.snapshot(acct, now)["firm"]["consistency_guard"]
    assert view["profit_before_today"] == round(sum(expected.values()), 2)
    # 30 days (from a trading-day start) in weekly calls, none reaching into today.
    calls = await trade_searches(api)
    assert CHUNK_DAYS == 7 and len(calls) == 5
    assert all(datetime.fromisoformat(c["endTimestamp"].replace("Z", "+00:00")) <= today_start for c in calls)
    # Recorded now: a second start does not read again.
    assert not eng.needs_day_history(acct)


async def test_a_failed_read_warns_and_r15_keeps_the_recorded_days_plus_profit_before(sim):
    info = sim.info()
    api, acct = info["api"], info["accounts"][0]
    now = datetime.now(UTC)
    eng = r15_engine(now, profit_before=400.0)
    await control(api, "trades", {"trades": [past(acct, 3, 900.0, eng.day_start)]})
    await control(api, "fault", {"kind": "http_500", "count": 50, "paths": ["/api/Trade/search"]})
    rest = GatewayRest(api, info["user"], info["api_key"], timeout=2.0, backoff_base=0.01, backoff_max=0.05)
    warnings: list[tuple[str, str]] = []
    saved: list[int] = []
    try:
        done = await rebuild_day_history(rest, eng, lambda: now, [acct], timeout_s=5.0,
                                         warn=lambda t, b: warnings.append((t, b)),
                                         save=lambda: saved.append(1))
    finally:
        await rest.close()
    assert done == {} and saved == []
    [(title, body)] = warnings
    assert f"account {acct}" in title and "profit_before" in body
    assert eng.state(acct).firm.day_pnl == {} and eng.needs_day_history(acct)
    view = eng.snapshot(acct, now)["firm"]["consistency_guard"]
    assert view["profit_before_today"] == 400.0 and view["allowed_today"] == 1_500.0
