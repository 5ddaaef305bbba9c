"""An empty or truncated risk_config.yaml is refused on hot reload and at start-up (issue 12 item 4).

Before: an emptied file was accepted as "every rule disabled at the next reset", and after the file
was restored R06 had fallen back to its defaults."""

from __future__ import annotations

import pytest

from e2e.helpers import wait_for, write_rules
from risk_manager.daemon.app import EXIT_CONFIG, StartupError

pytestmark = pytest.mark.e2e

RULES = {"trade_frequency_limit": {"enabled": True, "per_minute": 7, "per_hour": 40, "per_session": 90},
         "max_contracts": {"enabled": True, "limit": 3}}
TRUNCATED = ["", 'trading_day: {reset_time: "17:00", timezone: America/Chicago}\npnl_basis: net\n',
             'trading_day: {reset_time: "17:00", timezone: America/Chicago}\nrules:\n']


async def test_truncated_file_is_a_rejected_reload_and_restoring_it_changes_nothing(start_rig):
    rig = await start_rig(RULES)
    daemon = rig.daemon
    before = daemon.engine.config
    for n, text in enumerate(TRUNCATED, start=1):
        (rig.config_dir / "risk_config.yaml").write_text(text)

        async def rejected(n=n):
            return daemon.counters["reload_errors"] >= n

        await wait_for(rejected, what=f"truncated file {n} rejected")
        assert daemon.engine.config == before and daemon.pending_changes(daemon.clock.now()) == []
    write_rules(rig.config_dir, RULES)  # the file restored

    async def reloaded():
        return daemon.counters["reloads"] >= 1

    await wait_for(reloaded, what="restored file reloaded")
    assert daemon.engine.config == before
    r06 = daemon.engine.config.rules.trade_frequency_limit
    assert (r06.enabled, r06.per_minute, r06.per_hour, r06.per_session) == (True, 7, 40, 90)


@pytest.mark.parametrize("text", TRUNCATED, ids=["empty", "no_rules", "rules_cut_off"])
async def test_truncated_file_refuses_start_up(rig, text):
    rig.configure(RULES)
    (rig.config_dir / "risk_config.yaml").write_text(text)
    with pytest.raises(StartupError) as info:
        await rig.start_daemon()
    assert info.value.code == EXIT_CONFIG and "risk_config.yaml" in str(info.value)
