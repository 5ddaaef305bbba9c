"""Hot reload (tighten now, loosen at the reset, invalid rejected) and admin lock/unlock."""

from __future__ import annotations

import aiohttp
import pytest

from e2e.helpers import BUY, MNQ, account_locks, get_status, wait_for, write_rules

pytestmark = pytest.mark.e2e


async def test_reload_tightens_now_loosens_later_rejects_invalid(start_rig):
    rig = await start_rig({"max_contracts": {"limit": 5}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 2)
    assert await t.positions(rig.account)

    write_rules(rig.config_dir, {"max_contracts": {"limit": 1}})  # tighter: applies at once
    await wait_for(lambda: t.flat(rig.account), what="tightened limit enforced on the open position")

    write_rules(rig.config_dir, {"max_contracts": {"limit": 9}})  # looser: waits for the reset

    async def pending():
        return (await get_status(rig.daemon.status_url))["pending_changes"]

    changes = await wait_for(pending, what="looser change pending")
    assert changes[0]["rule"] == "max_contracts" and changes[0]["to"] == 9
    assert rig.daemon.engine.config.rules.max_contracts.limit == 1

    (rig.config_dir / "risk_config.yaml").write_text("rules:\n  max_contracts: {limit: -3}\n")

    async def rejected():
        return rig.daemon.counters["reload_errors"] >= 1

    await wait_for(rejected, what="invalid file rejected")
    assert rig.daemon.engine.config.rules.max_contracts.limit == 1  # last good config stays


async def test_admin_lock_and_unlock_with_reason(start_rig):
    from risk_manager import admin_auth

    rig = await start_rig({})
    admin_auth.set_password(rig.config_dir, "s3cret-pass-123")
    url = rig.daemon.status_url
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/admin/login", json={"password": "s3cret-pass-123"}) as r:
            assert r.status == 200, await r.text()
            token = (await r.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(url + "/admin/lock", headers=auth, json={
                "account_id": rig.account, "until": None, "until_reset": True, "reason": "done for the day"}) as r:
            assert r.status == 200, await r.text()
        await rig.trader.price(MNQ, 20000.0)
        await rig.trader.place(rig.account, MNQ, BUY, 1)
        await wait_for(lambda: rig.trader.flat(rig.account), what="manual lock enforced")
        async with http.post(url + "/admin/unlock", headers=auth, json={
                "account_id": rig.account, "reason": "partner agreed", "rule": None}) as r:
            assert r.status == 200, await r.text()
    assert account_locks(await get_status(url), rig.account) == []
