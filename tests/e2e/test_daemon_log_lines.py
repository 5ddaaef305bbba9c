"""The daemon log has one line per lock, enforcement and unlock, with rule, account, symbol,
action, outcome and timings — in the JSON file and on the console (journalctl, event log)."""

from __future__ import annotations

import json
import logging

import pytest

from e2e.helpers import BUY, LIMIT, MNQ, daemon_logging_undone, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def restore_logging():
    with daemon_logging_undone():
        yield


def _file_events(rig) -> list[str]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    path = rig.daemon.config.log_dir / "daemon.log"
    return [json.loads(line)["event"] for line in path.read_text().splitlines()]


def _one(lines: list[str], prefix: str, *fragments: str) -> str:
    hits = [line for line in lines if line.startswith(prefix) and all(f in line for f in fragments)]
    assert len(hits) == 1, (prefix, fragments, lines)
    return hits[0]


async def test_lock_enforcement_and_unlock_each_log_one_line(rig, restore_logging, capsys):
    rig.configure({"daily_realized_loss": {"loss_limit": 50, "include_unrealized": True}})
    await rig.start_daemon(configure_logging=True, console_log=True)
    t, account = rig.trader, rig.account
    await t.price(MNQ, 20000.0)
    await t.place(account, MNQ, BUY, 1)
    await t.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)  # a working order to cancel
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 19970.0)  # open P&L -$60 > the $50 limit: R03 flattens and locks

    async def flattened():
        return any(e.startswith("enforcement:") and "action=flatten" in e for e in _file_events(rig))

    await wait_for(flattened, what="flatten logged")
    await rig.daemon.admin_unlock(account, "talked it through", "admin@test", "R03")

    async def unlocked():
        return any(e.startswith("lock cleared:") for e in _file_events(rig))

    await wait_for(unlocked, what="R03 lock cleared")
    events = _file_events(rig)
    # The loss is realized by now, so R03 locks (and logs) again right after the unlock: judge
    # the lines up to the unlock.
    events = events[: next(i for i, e in enumerate(events) if e.startswith("lock cleared:")) + 1]
    who = f"account={account} rule=R03"
    lock = _one(events, "lock set:", who)
    assert "symbol=- kind=lockout ends=reset" in lock and "decide_ms=" in lock and "reason=" in lock
    flatten = _one(events, "enforcement:", who, "action=flatten")
    assert "symbol=all" in flatten and "outcome=ok" in flatten
    for timing in ("decide_ms=", "call_ms=", "total_ms="):
        assert timing in flatten
    assert "total_ms=-" not in flatten  # a confirmed flatten has its event -> confirmed time
    unlock = _one(events, "lock cleared:", who)
    assert "by=admin@test" in unlock and "talked it through" in unlock
    # The same lines on the console (what journalctl and the Windows event log keep).
    console = capsys.readouterr().err
    for line in (lock, flatten, unlock):
        assert line in console


async def test_a_position_close_names_its_contract(rig, restore_logging, capsys):
    rig.configure({"daily_unrealized_loss": {"loss_limit": 20}})
    await rig.start_daemon(configure_logging=True, console_log=True)
    t, account = rig.trader, rig.account
    await t.price(MNQ, 20000.0)
    await t.place(account, MNQ, BUY, 1)
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 19985.0)  # -$30 on this position > $20: R04 flattens that contract (no lock)

    async def closed():
        return [e for e in _file_events(rig) if e.startswith("enforcement:")]

    (line,) = await wait_for(closed, what="close logged")
    assert f"account={account} rule=R04 symbol={MNQ} action=flatten outcome=ok" in line
    assert "call_ms=" in line and "total_ms=" in line
    assert not [e for e in _file_events(rig) if e.startswith("lock set:")]
    assert line in capsys.readouterr().err
