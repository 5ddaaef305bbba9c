"""`daemon.reload.plan_reload`: the accounts side of "tighten now, loosen at the reset"."""

from __future__ import annotations

from risk_manager.config.models import AccountEntry, RiskConfig
from risk_manager.daemon.reload import plan_reload, resolve_entries
from risk_manager.events import Account

BASE = RiskConfig.model_validate({"rules": {
    "max_contracts": {"limit": 5}, "daily_realized_loss": {"loss_limit": 500},
    "max_contracts_per_instrument": {"limits": {"MNQ": 2, "ES": 1}}}})


def plan(guarded, overrides, target, apply_now=False, base=BASE):
    return plan_reload(current_base=BASE, current_overrides=overrides,
                       current_config=lambda aid: BASE.with_overrides(overrides.get(aid)),
                       guarded=guarded, target_base=base, target=target, apply_now=apply_now)


def test_an_override_that_tightens_one_limit_and_loosens_another_splits():
    old = {"max_contracts": {"limit": 3}, "daily_realized_loss": {"loss_limit": 300}}
    new = {"max_contracts": {"limit": 1}, "daily_realized_loss": {"loss_limit": 450}}
    p = plan({7: "A"}, {7: old}, {7: ("A", AccountEntry(id=7, overrides=new))})
    applied = BASE.with_overrides(p.overrides[7]).rules
    assert (applied.max_contracts.limit, applied.daily_realized_loss.loss_limit) == (1, 300)
    assert p.pending == [{"rule": "daily_realized_loss", "key": "loss_limit", "from": 300, "to": 450,
                          "account": "A"}]
    now = plan({7: "A"}, {7: old}, {7: ("A", AccountEntry(id=7, overrides=new))}, apply_now=True)
    assert now.overrides[7] == new and now.pending == []


def test_dropping_an_override_loosens_and_waits():
    old = {"max_contracts_per_instrument": {"limits": {"MNQ": 1}}}
    p = plan({7: "A"}, {7: old}, {7: ("A", AccountEntry(id=7))})
    assert BASE.with_overrides(p.overrides[7]).rules.max_contracts_per_instrument.limit_for("MNQ") == 1
    assert [c["rule"] for c in p.pending] == ["max_contracts_per_instrument"]


def test_added_account_now_removed_account_at_the_reset():
    target = {8: ("B", AccountEntry(id=8, overrides={"max_contracts": {"limit": 9}}))}
    p = plan({7: "A"}, {}, target)
    assert list(p.add) == [8] and p.remove == [] and set(p.overrides) == {7, 8}
    assert p.overrides[8] == {"max_contracts": {"limit": 9}}  # a new account: as configured
    assert p.pending == [{"rule": "accounts", "key": "A", "from": "guarded", "to": "not guarded",
                          "account": "A"}]
    now = plan({7: "A"}, {}, target, apply_now=True)
    assert now.remove == [7] and set(now.overrides) == {8} and now.pending == []


def test_base_tightening_reaches_an_account_whose_override_waits():
    tighter = BASE.model_copy(update={"rules": BASE.rules.model_copy(
        update={"daily_realized_loss": BASE.rules.daily_realized_loss.model_copy(update={"loss_limit": 200})})})
    old = {"max_contracts": {"limit": 2}}
    p = plan({7: "A"}, {7: old}, {7: ("A", AccountEntry(id=7, overrides={"max_contracts": {"limit": 4}}))},
             base=tighter)
    applied = p.base.with_overrides(p.overrides[7]).rules
    assert (applied.daily_realized_loss.loss_limit, applied.max_contracts.limit) == (200, 2)


def test_resolve_by_id_or_name_case_insensitive():
    remote = [Account(1, "PRAC-V2-1"), Account(2, "PRAC-V2-2")]
    entries = [AccountEntry(name="prac-v2-1"), AccountEntry(id=2), AccountEntry(name="NOPE")]
    resolved, missing = resolve_entries(entries, remote)
    assert sorted(resolved) == [1, 2] and resolved[1][0] == "PRAC-V2-1" and missing == ["NOPE"]


# -- account groups: tighten now, loosen at the reset ------------------------------------------
def _group(name="copy", **kw):
    from risk_manager.config.firm_models import AccountGroup

    return AccountGroup.model_validate({"name": name, "accounts": ["A", "B"], **kw})


def test_a_group_limit_that_tightens_applies_now_one_that_loosens_waits():
    old = [_group(daily_loss_limit=500, max_contracts=4)]
    new = [_group(daily_loss_limit=300, max_contracts=6, reduce_only_at=0.8)]
    from risk_manager.daemon.reload import split_groups

    [now], pending = split_groups(old, new, apply_now=False)
    assert (now.daily_loss_limit, now.max_contracts, now.reduce_only_at) == (300, 4, 0.8)
    assert pending == [{"rule": "group:copy", "key": "max_contracts", "from": 4, "to": 6}]
    [now], pending = split_groups(old, new, apply_now=True)
    assert now.max_contracts == 6 and pending == []


def test_a_group_removed_or_its_members_changed_waits_an_added_group_applies_now():
    from risk_manager.daemon.reload import split_groups

    old = [_group(daily_loss_limit=500), _group("pair", max_contracts=2)]
    new = [_group(daily_loss_limit=500, accounts=["A", "C"]), _group("new", max_contracts=1)]
    groups, pending = split_groups(old, new, apply_now=False)
    by_name = {g.name: g for g in groups}
    assert by_name["copy"].accounts == ["A", "B"] and by_name["new"].max_contracts == 1
    assert by_name["pair"].max_contracts == 2  # removal waits
    assert {(c["rule"], c["key"]) for c in pending} == {("group:copy", "accounts"), ("group:pair", "")}
    # A limit dropped is looser (held); the group stays valid.
    [g], pending = split_groups([_group(daily_loss_limit=500, max_contracts=3)],
                                [_group(max_contracts=3)], apply_now=False)
    assert g.daily_loss_limit == 500 and pending[0]["key"] == "daily_loss_limit"


def test_plan_reload_carries_the_groups_and_their_pending_changes():
    p = plan_reload(current_base=BASE, current_overrides={}, current_config=lambda aid: BASE,
                    guarded={7: "A"}, target_base=BASE, target={7: ("A", AccountEntry(id=7))},
                    apply_now=False, current_groups=[_group(daily_loss_limit=200)],
                    target_groups=[_group(daily_loss_limit=900)])
    assert p.groups[0].daily_loss_limit == 200 and p.waits
    assert p.pending == [{"rule": "group:copy", "key": "daily_loss_limit", "from": 200, "to": 900}]
