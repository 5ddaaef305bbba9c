"""Account groups (docs/rules.md): shared daily loss and max contracts across three accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.engine_helpers import ES, MNQ, T0, Flatten, ct, engine, locks_set, of, pos, quote, trade
from risk_manager.config.firm_models import AccountGroup
from risk_manager.config.models import AccountsConfig
from risk_manager.engine.actions import Alert
from risk_manager.engine.groups import Group

A, B, C = 201, 202, 203


def grouped(**cfg):
    eng = engine({})
    spec = AccountGroup(name="copy", accounts=[A, B, C], **cfg)
    eng.set_groups([Group("copy", (A, B, C), spec)])
    return eng


def test_group_loss_breach_locks_and_flattens_all_three():
    eng = grouped(daily_loss_limit=300)
    for i, acct in enumerate((A, B)):
        assert eng.handle(trade(10 + i, ES, -110.0, ts=T0, acct=acct), T0) == []  # −220: no single account near
    eng.handle(pos(ES, 1, 6000.0, acct=C), T0)
    # C's open loss takes the group to −$320 (−2 points × $50 = −$100 open, −$220 realized).
    acts = eng.handle(quote(ES, last=5998.0), T0 + timedelta(seconds=1))
    locks = locks_set(acts)
    assert sorted(l.account_id for l in locks) == [A, B, C]
    assert {l.rule for l in locks} == {"group:copy"} and locks[0].until == ct(2026, 8, 19, 17)
    assert sorted(f.account_id for f in of(acts, Flatten)) == [A, B, C]
    assert eng.handle(quote(ES, last=5997.0), T0 + timedelta(seconds=2)) == []  # once
    assert all(eng.locks.is_locked(a) for a in (A, B, C))


def test_group_max_contracts_flattens_the_holders_without_a_lock():
    eng = grouped(max_contracts=4, micro_weight=0.1)
    eng.handle(pos(ES, 2, 6000.0, acct=A), T0)
    eng.handle(pos(ES, 1, 6000.0, acct=B), T0)
    assert eng.handle(pos(MNQ, 10, 20_000.0, acct=C), T0) == []  # 2 + 1 + 10 × 0.1 = 4: at the limit
    acts = eng.handle(pos(MNQ, 11, 20_000.0, acct=C), T0)  # 4.1 > 4
    assert sorted(f.account_id for f in of(acts, Flatten)) == [A, B, C]
    assert "Group copy max contracts: 4.1 > 4" in acts[0].reason and locks_set(acts) == []


def test_alert_mode_only_notifies():
    eng = grouped(daily_loss_limit=100, mode="alert")
    acts = eng.handle(trade(1, ES, -150.0, ts=T0, acct=A), T0)
    assert [type(a) for a in acts] == [Alert] and "[alert only] Group copy daily loss" in acts[0].reason


def test_group_config_is_validated_against_the_accounts():
    gw = {"username": "u"}
    AccountsConfig.model_validate({"gateway": gw, "accounts": [{"name": "PA-1"}, {"id": 7}],
                                   "groups": [{"name": "g", "accounts": ["pa-1", 7], "max_contracts": 3}]})
    with pytest.raises(ValueError, match="'PA-9' is not one of the accounts"):
        AccountsConfig.model_validate({"gateway": gw, "accounts": [{"name": "PA-1"}, {"id": 7}],
                                       "groups": [{"name": "g", "accounts": ["PA-9", 7], "max_contracts": 3}]})
    with pytest.raises(ValueError, match="needs daily_loss_limit and/or max_contracts"):
        AccountGroup(name="g", accounts=[1, 2])


def test_group_reduce_only_from_its_share_then_the_lock():
    from risk_manager.engine.actions import CancelOrder, LockKind

    from engine.engine_helpers import order

    eng = grouped(daily_loss_limit=300, reduce_only_at=0.5)
    eng.handle(order(31, ES, otype=1, side=0, size=1, limit=5900.0, acct=B), T0)  # B's entry order
    acts = eng.handle(trade(1, ES, -160.0, ts=T0, acct=A), T0)  # −160 ≤ −150: reduce-only, all three
    locks = locks_set(acts)
    assert sorted(l.account_id for l in locks) == [A, B, C]
    assert {(l.rule, l.kind) for l in locks} == {("group:copy:reduce_only", LockKind.REDUCE_ONLY)}
    assert [a.order_id for a in of(acts, CancelOrder)] == [31]
    assert not any(eng.locks.is_locked(a) for a in (A, B, C))
    acts = eng.handle(trade(2, ES, -140.0, ts=T0, acct=C), T0 + timedelta(seconds=1))  # −300: the lock
    assert sorted(l.account_id for l in locks_set(acts) if l.rule == "group:copy") == [A, B, C]
