"""R11 end to end: `blocked_symbols` written as the ProjectX root, a contract id or a contract name
cancels the trader's ES order at the simulator, and leaves MES alone."""

from __future__ import annotations

import asyncio

import pytest

from e2e.helpers import BUY, LIMIT, MES, wait_for

pytestmark = pytest.mark.e2e

ES = "CON.F.US.EP.U26"


@pytest.mark.parametrize("spelling", ["EP", "CON.F.US.EP.U26", "ESU6", "esz6"])
async def test_blocked_symbol_in_any_spelling_cancels_an_es_order(start_rig, spelling):
    rig = await start_rig({"symbol_blocks": {"blocked_symbols": [spelling], "close_existing": True}})
    t = rig.trader
    await t.price(ES, 6000.0)
    await t.price(MES, 6000.0)
    await t.place(rig.account, MES, BUY, 1, type=LIMIT, limitPrice=5900.0)
    await t.place(rig.account, ES, BUY, 1, type=LIMIT, limitPrice=5900.0)

    async def es_cancelled():
        return [o["contractId"] for o in await t.working_orders(rig.account)] == [MES]

    await wait_for(es_cancelled, what=f"ES order cancelled with blocked_symbols: [{spelling}]")
    await asyncio.sleep(0.3)  # and the MES order is not cancelled a moment later either
    assert [o["contractId"] for o in await t.working_orders(rig.account)] == [MES]
