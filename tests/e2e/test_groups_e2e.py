"""Account groups end to end (docs/rules.md): three simulator accounts share a daily loss limit; the
group's breach flattens and locks all three over the wire, and a restart keeps the locks."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.helpers import BUY, MNQ, account_locks, get_status, group_of_accounts, wait_for
from risk_manager.daemon.app import Daemon

pytestmark = pytest.mark.e2e
ENV = {"PROJECTX_API_KEY": "sim-key"}


async def test_group_loss_flattens_and_locks_every_account(tmp_path: Path):
    daemon = None
    async with group_of_accounts(tmp_path, 3, {"daily_loss_limit": 150}) as (sim, t, ids, root):
        try:
            daemon = Daemon(root, environ=ENV, configure_logging=False)
            await daemon.start()
            await t.price(MNQ, 20_000.0)
            for acct in ids:
                await t.place(acct, MNQ, BUY, 1)
            async def subscribed():
                return MNQ in sim.hubs.market_subscriptions()

            await wait_for(subscribed, what="market subscription of MNQ")
            await t.price(MNQ, 19_990.0)  # about −$20 open each (fees, spread): far from −$150 together
            status = await get_status(daemon.status_url)
            assert not any(account_locks(status, a) for a in ids)
            await t.price(MNQ, 19_960.0)  # −$80 each: −$240 together ≤ −$150, none alone near it

            async def all_locked():
                status = await get_status(daemon.status_url)
                got = [[lk for lk in account_locks(status, a) if lk["rule"] == "group:copy"] for a in ids]
                return got if all(got) else None

            await wait_for(all_locked, what="the group lock on all three accounts")

            async def all_flat():
                flags = [await t.flat(a) for a in ids]
                return all(flags)

            await wait_for(all_flat, what="every account of the group flattened")
            await daemon.shutdown()
            daemon = Daemon(root, environ=ENV, configure_logging=False)
            await daemon.start()
            assert await all_locked()
        finally:
            if daemon is not None:
                await daemon.shutdown()
