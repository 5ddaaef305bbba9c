"""`GET /metrics` of the real daemon, parsed with prometheus_client's own parser.

A lock and a kill-switch cancel happen against the simulator first, so the labelled counters and
the histograms have samples; the test then checks every family's name, type and labels.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.helpers import BUY, LIMIT, MNQ, R03_REALIZED, account_locks, get_status, lose_60, wait_for
from risk_manager.daemon.metrics import CONTENT_TYPE

pytestmark = pytest.mark.e2e

#: family name (as the parser names it: counters without `_total`) → type
EXPECTED_TYPES = {
    "risk_manager_reaction_seconds": "histogram",
    "risk_manager_decision_seconds": "histogram",
    "risk_manager_enforcement_call_seconds": "histogram",
    "risk_manager_enforcements": "counter",
    "risk_manager_locks_set": "counter",
    "risk_manager_lock_active": "gauge",
    "risk_manager_locked_accounts": "gauge",
    "risk_manager_hub_state": "gauge",
    "risk_manager_blind_seconds": "gauge",
    "risk_manager_rest_budget_remaining": "gauge",
    "risk_manager_rest_budget_limit": "gauge",
    "risk_manager_store_ok": "gauge",
    "risk_manager_store_undurable_locks": "gauge",
    "risk_manager_store_write_errors": "counter",
    "risk_manager_events": "counter",
    "risk_manager_journal_errors": "counter",
    "risk_manager_enforcement_calls": "counter",
    "risk_manager_rest": "counter",
    "risk_manager_hub_malformed": "counter",
    "risk_manager_status_api_event_clients": "gauge",
    "risk_manager_status_api_failed_logins": "counter",
}


async def _scrape(url: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        assert r.status == 200
        return r.headers["Content-Type"], await r.text()


def _samples(families: dict[str, Any], family: str, sample: str) -> list[Any]:
    return [s for s in families[family].samples if s.name == sample]


async def test_metrics_of_the_real_daemon_parse_with_names_types_and_labels(start_rig):
    rig = await start_rig(R03_REALIZED)
    trader, account = rig.trader, rig.account
    await lose_60(trader, account)

    async def locked():
        return account_locks(await get_status(rig.daemon.status_url), account)

    await wait_for(locked, what="R03 lock")
    placed = await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    assert placed["success"], placed

    async def cancelled():
        return not await trader.working_orders(account)

    await wait_for(cancelled, what="the kill switch's cancel")

    async def cancel_recorded():
        return any(r["action"] == "cancel_order" for r in rig.daemon.enforcement_log)

    await wait_for(cancel_recorded, what="the cancel's outcome")

    content_type, text = await _scrape(rig.daemon.status_url)
    assert content_type == CONTENT_TYPE
    families = {f.name: f for f in text_string_to_metric_families(text)}

    assert all(name.startswith("risk_manager_") for name in families), sorted(families)
    wrong = {n: (families[n].type if n in families else None) for n, t in EXPECTED_TYPES.items()
             if n not in families or families[n].type != t}
    assert not wrong, wrong

    acct = str(account)
    # Histograms: the cancel's reaction (event received → request sent), its call, the decision.
    reaction = _samples(families, "risk_manager_reaction_seconds", "risk_manager_reaction_seconds_count")
    assert any(s.labels["action"] == "CancelOrder" and s.value >= 1 for s in reaction), reaction
    calls = _samples(families, "risk_manager_enforcement_call_seconds",
                     "risk_manager_enforcement_call_seconds_count")
    assert any(s.labels == {"call": "cancel", "result": "ok"} and s.value >= 1 for s in calls), calls
    decision = _samples(families, "risk_manager_decision_seconds", "risk_manager_decision_seconds_count")
    assert decision and decision[0].value >= 1

    # Labelled by account and rule.
    enforcements = _samples(families, "risk_manager_enforcements", "risk_manager_enforcements_total")
    assert any(s.labels == {"account": acct, "rule": "R03", "action": "flatten", "outcome": "ok"}
               for s in enforcements), enforcements
    # the order placed while locked is cancelled by the lock gate
    assert any(s.labels == {"account": acct, "rule": "lock_gate", "action": "cancel_order", "outcome": "ok"}
               for s in enforcements), enforcements
    locks_set = _samples(families, "risk_manager_locks_set", "risk_manager_locks_set_total")
    assert any(s.labels == {"account": acct, "rule": "R03"} and s.value == 1 for s in locks_set), locks_set
    active = _samples(families, "risk_manager_lock_active", "risk_manager_lock_active")
    assert [(s.labels, s.value) for s in active] == [({"account": acct, "rule": "R03"}, 1.0)]

    # Gauges of the connections, the REST budget and the store.
    hub = {(s.labels["hub"], s.labels["state"]): s.value
           for s in _samples(families, "risk_manager_hub_state", "risk_manager_hub_state")}
    assert hub[("user", "connected")] == 1.0 and hub[("market", "connected")] == 1.0
    assert sum(v for (h, _), v in hub.items() if h == "user") == 1.0
    assert families["risk_manager_blind_seconds"].samples[0].value == 0.0
    remaining = families["risk_manager_rest_budget_remaining"].samples[0].value
    assert 0 < remaining < families["risk_manager_rest_budget_limit"].samples[0].value
    assert families["risk_manager_store_ok"].samples[0].value == 1.0

    # Nothing in the library's process-wide registry: the daemon keeps its own.
    assert not [m for m in prometheus_client.REGISTRY.collect() if m.name.startswith("risk_manager_")]


async def test_firm_guard_series_per_account_and_group(tmp_path):
    """R14/R15/R16 figures, reduce-only and the group's P&L on /metrics of the real daemon, for
    two simulator accounts (50,000 each) in one group; the numbers match /status."""
    from ruamel.yaml import YAML

    from e2e.helpers import SELL, Trader, write_config
    from risk_manager.daemon.app import Daemon
    from risk_manager.sim import Simulator

    rules = {"max_loss_floor": {"starting_balance": 50_000, "max_drawdown": 2_000, "buffer": 100},
             "consistency_guard": {"max_day_share": 0.5, "profit_target": 3_000},
             "scaling_plan": {"tiers": [{"balance_at_least": 0, "max_contracts": 2},
                                        {"balance_at_least": 50_000, "max_contracts": 5}]}}
    async with Simulator(accounts=2, speed=0.0) as sim:
        ids = sim.info()["accounts"]
        root = write_config(tmp_path / "cfg", sim.info()["api"], ids, rules)
        yaml = YAML()
        doc = yaml.load((root / "accounts.yaml").read_text())
        doc["groups"] = [{"name": "copy", "accounts": ids, "daily_loss_limit": 100, "reduce_only_at": 0.5}]
        with (root / "accounts.yaml").open("w") as fh:
            yaml.dump(doc, fh)
        t = Trader(sim.info()["api"])
        await t.login()
        daemon = Daemon(root, environ={"PROJECTX_API_KEY": "sim-key"}, configure_logging=False)
        await daemon.start()
        try:
            families = {f.name: f for f in text_string_to_metric_families((await _scrape(daemon.status_url))[1])}

            def value(family, **labels):
                [s] = [s for s in families[family].samples if s.labels == labels]
                return s.value

            for a in map(str, ids):
                assert value("risk_manager_max_loss_floor_dollars", account=a) == 48_000.0
                assert value("risk_manager_max_loss_floor_high_dollars", account=a) == 50_000.0
                assert value("risk_manager_max_loss_floor_distance_dollars", account=a) == 1_900.0
                assert value("risk_manager_consistency_today_dollars", account=a) == 0.0
                assert value("risk_manager_consistency_allowed_dollars", account=a) == 1_500.0
                assert value("risk_manager_scaling_max_contracts", account=a) == 5.0
                assert value("risk_manager_reduce_only", account=a) == 0.0
            assert value("risk_manager_group_pnl_dollars", group="copy") == 0.0
            for name in ("max_loss_floor_dollars", "reduce_only", "group_pnl_dollars"):
                assert families[f"risk_manager_{name}"].type == "gauge"

            # −$60 open on the first account, −$50 is the group's reduce-only point.
            await t.price(MNQ, 20_000.0)
            await t.place(ids[0], MNQ, BUY, 1)

            async def subscribed():
                return MNQ in sim.hubs.market_subscriptions()

            await wait_for(subscribed, what="market subscription of MNQ")
            await t.price(MNQ, 19_970.0)

            async def reduced():
                text = (await _scrape(daemon.status_url))[1]
                fams = {f.name: f for f in text_string_to_metric_families(text)}
                flags = [s.value for s in fams["risk_manager_reduce_only"].samples]
                return fams if flags == [1.0, 1.0] else None

            families = await wait_for(reduced, what="reduce-only on both accounts in /metrics")
            status = await get_status(daemon.status_url)
            row = next(r for r in status["accounts"] if r["id"] == ids[0])
            floor = row["firm"]["max_loss_floor"]
            assert value("risk_manager_max_loss_floor_distance_dollars", account=str(ids[0])) == floor["distance"]
            assert floor["distance"] < 1_900.0
            pnl = value("risk_manager_group_pnl_dollars", group="copy")
            assert -100.0 < pnl <= -50.0
            await t.place(ids[0], MNQ, SELL, 1)  # the close passes
            await wait_for(lambda: t.flat(ids[0]), what="the close under reduce-only")
        finally:
            await daemon.shutdown()
            await t.close()
