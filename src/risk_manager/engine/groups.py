"""Account groups (docs/rules.md): accounts sharing a daily loss limit and a max-contracts limit.

Judged after every event of a member (and every mark of a member's position): the group's
today P&L (realized + open unrealized) at or below −daily_loss_limit → every member is locked
until the reset and flattened; contracts held by the group above max_contracts → every member is
flattened (no lock). Pure: the members' states in, actions out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from risk_manager.engine.actions import Action, Alert, Flatten, Lock, LockEnd, LockKind, SetLock
from risk_manager.engine import reduce_only
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.locks import LockManager
from risk_manager.engine.rules._common import cents, cents_at_or_below, money
from risk_manager.engine.state import AccountState

if TYPE_CHECKING:
    from risk_manager.config.firm_models import AccountGroup


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    account_ids: tuple[int, ...]
    config: AccountGroup

    @property
    def rule(self) -> str:
        return f"group:{self.name}"


def resolve_groups(specs: Sequence[AccountGroup], ids: dict[str, int]) -> tuple[list[Group], list[str]]:
    """accounts.yaml `groups` with members resolved through `ids` (account id as text, or a
    casefolded name, -> account id). Returns the groups that have members and one message per
    group some of whose accounts are not known (the group covers the known ones only)."""
    groups, problems = [], []
    for spec in specs:
        members = tuple(dict.fromkeys(ids[k] for k in (str(m).casefold() for m in spec.accounts) if k in ids))
        if len(members) < len(spec.accounts):
            problems.append(f"group {spec.name}: some accounts are not guarded; the group covers {members} only")
        if members:
            groups.append(Group(spec.name, members, spec))
    return groups, problems


def group_pnl(group: Group, states: dict[int, AccountState]) -> float:
    cfg = group.config
    return sum(s.realized_net + (s.unrealized_total if cfg.include_unrealized else 0.0)
               for s in (states.get(a) for a in group.account_ids) if s is not None)


def group_contracts(group: Group, states: dict[int, AccountState], catalog: ContractCatalog) -> float:
    w = group.config.micro_weight
    return round(sum(p.size * (w if catalog.is_micro(c) else 1.0)
                     for s in (states.get(a) for a in group.account_ids) if s is not None
                     for c, p in s.positions.items()), 6)


def judge(group: Group, states: dict[int, AccountState], catalog: ContractCatalog, locks: LockManager,
          next_reset: datetime, now: datetime) -> list[Action]:
    cfg = group.config
    out: list[Action] = []
    if cfg.daily_loss_limit is not None:
        pnl = group_pnl(group, states)
        if cents_at_or_below(pnl, -cfg.daily_loss_limit):
            reason = (f"Group {group.name} daily loss: {money(cents(pnl))} <= {money(-cfg.daily_loss_limit)}"
                      "; every account of the group locked until the daily reset")
            for acct in group.account_ids:
                lock = Lock(acct, group.rule, LockKind.LOCKOUT, reason, LockEnd.RESET, next_reset, now)
                if locks.would_set(lock):
                    out += [SetLock(lock), Flatten(acct, group.rule, reason)]
        elif cfg.reduce_only_at is not None and cents_at_or_below(pnl, cents(-cfg.reduce_only_at * cfg.daily_loss_limit)):
            reason = (f"Group {group.name} daily loss at {cfg.reduce_only_at:.0%} of the limit: "
                      f"{money(cents(pnl))}")
            for acct in group.account_ids:
                state = states.get(acct)
                if state is not None:
                    out += reduce_only.start_for(locks, group.rule, state, reason, next_reset, now)
    if not out and cfg.max_contracts is not None:
        held = group_contracts(group, states, catalog)
        if held > cfg.max_contracts:
            reason = f"Group {group.name} max contracts: {held:g} > {cfg.max_contracts:g}; every account flattened"
            out = [Flatten(a, group.rule, reason) for a in group.account_ids
                   if (s := states.get(a)) is not None and (s.positions or s.orders)]
    if out and cfg.mode == "alert":
        return [Alert(group.account_ids[0], group.rule, f"[alert only] {out[0].reason}", "warning", tuple(out))]
    return out
