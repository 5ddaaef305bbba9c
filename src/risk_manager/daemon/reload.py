"""Tighten now, loosen at the reset: split a reloaded config into what applies now and what waits.

Rules (risk_config.yaml) and accounts (accounts.yaml) follow the same policy (docs/rules.md, lock
semantics): a stricter limit, a rule switched on, an account added apply at once; a looser limit, a
rule switched off, a per-account override that loosens, an account removed (or disabled) wait
for the next daily reset, unless the admin applies them now with the password.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from risk_manager.config.models import AccountEntry, RiskConfig
from risk_manager.engine.policy import looser_changes, looser_group_changes

#: A resolved account: id → (name as the gateway shows it, its accounts.yaml entry).
Resolved = dict[int, tuple[str | None, AccountEntry]]


def split_changes(
    old: RiskConfig, new: RiskConfig, apply_now: bool
) -> tuple[RiskConfig, list[dict[str, Any]], bool]:
    """(config to apply now, pending changes for the status API, whether anything waits).

    The config applied now is `new` with every loosening field held at its old value, so a file
    that tightens one limit and loosens another tightens at once and loosens at the next reset.
    """
    changes = looser_changes(old, new)
    if apply_now or not changes:
        return new, [], False
    doc = new.model_dump(mode="json")
    old_doc = old.model_dump(mode="json")
    for change in changes:
        if change.key:
            doc["rules"][change.rule][change.key] = old_doc["rules"][change.rule][change.key]
        else:
            doc[change.rule] = old_doc[change.rule]
    pending = [{"rule": c.rule, "key": c.key, "from": c.old, "to": c.new} for c in changes]
    return RiskConfig.model_validate(doc), pending, True


def entry_label(entry: AccountEntry) -> str:
    return entry.name or str(entry.id)


def resolve_entries(entries: Iterable[AccountEntry], remote: Iterable[Any]) -> tuple[Resolved, list[str]]:
    """Match accounts.yaml entries (by id, or by name, case-insensitive) to the gateway's accounts
    (`Account/search` rows: `.id`, `.name`). Returns (resolved, labels of the entries not found)."""
    rows = list(remote)
    by_id = {a.id: a for a in rows}
    by_name = {(a.name or "").casefold(): a for a in rows if a.name}
    resolved: Resolved = {}
    missing: list[str] = []
    for entry in entries:
        found = by_id.get(entry.id) if entry.id is not None else by_name.get((entry.name or "").casefold())
        if found is None:
            missing.append(entry_label(entry))
        else:
            resolved[found.id] = (found.name, entry)
    return resolved, missing


@dataclass
class ReloadPlan:
    base: RiskConfig  # the rules applied now
    overrides: dict[int, dict[str, Any]]  # per account guarded after the plan, applied now
    add: Resolved  # start guarding now
    remove: list[int]  # stop guarding now (only when applied now)
    pending: list[dict[str, Any]] = field(default_factory=list)  # what waits for the reset
    groups: list[Any] = field(default_factory=list)  # accounts.yaml `groups` in force now

    @property
    def waits(self) -> bool:
        return bool(self.pending)


def plan_reload(
    *,
    current_base: RiskConfig,
    current_overrides: Mapping[int, dict[str, Any]],
    current_config: Callable[[int], RiskConfig],
    guarded: Mapping[int, str | None],
    target_base: RiskConfig,
    target: Resolved,
    apply_now: bool,
    current_groups: Iterable[Any] = (),
    target_groups: Iterable[Any] = (),
) -> ReloadPlan:
    """What to apply now for a reloaded config (`target_base`, the accounts it resolves to, the
    account groups of accounts.yaml).

    `current_config(aid)` is the config in force for a guarded account (base + override)."""
    base, pending, _ = split_changes(current_base, target_base, apply_now)
    groups, held = split_groups(list(current_groups), list(target_groups), apply_now)
    pending += held
    add = {aid: row for aid, row in target.items() if aid not in guarded}
    dropped = [aid for aid in guarded if aid not in target]
    remove = dropped if apply_now else []
    for aid in [] if apply_now else dropped:
        label = guarded[aid] or str(aid)
        pending.append({"rule": "accounts", "key": label, "from": "guarded", "to": "not guarded",
                        "account": label})
    overrides: dict[int, dict[str, Any]] = {}
    for aid in [a for a in guarded if a not in remove] + list(add):
        if aid in add:
            overrides[aid] = add[aid][1].overrides  # a new account: guarding it at all tightens
        elif aid not in target:
            overrides[aid] = current_overrides.get(aid, {})  # removal pending: as it was
        elif apply_now:
            overrides[aid] = target[aid][1].overrides
        else:
            override, held = _split_override(base, current_config(aid), current_overrides.get(aid, {}),
                                             target[aid][1].overrides)
            overrides[aid] = override
            label = guarded[aid] or str(aid)
            pending += [{**change, "account": label} for change in held]
    return ReloadPlan(base, overrides, add, remove, pending, groups)


def split_groups(old: list[Any], new: list[Any], apply_now: bool) -> tuple[list[Any], list[dict[str, Any]]]:
    """(account groups in force now, their changes held for the reset): a group added or
    tightened applies now; one removed stays as it was, a looser field is held at its old value
    (engine/policy.py GROUP_DIRECTIONS) until the reset."""
    changes = looser_group_changes(old, new)
    if apply_now or not changes:
        return list(new), []
    from risk_manager.config.firm_models import AccountGroup

    old_by = {g.name: g for g in old}
    held: dict[str, list[Any]] = {}
    for c in changes:
        held.setdefault(c.rule.removeprefix("group:"), []).append(c)
    out: list[Any] = []
    for group in new:
        keys = [c.key for c in held.get(group.name, ())]
        if not keys:
            out.append(group)
            continue
        doc = group.model_dump(mode="json")
        was = old_by[group.name].model_dump(mode="json")
        for key in keys:
            doc[key] = was[key]
        try:
            out.append(AccountGroup.model_validate(doc))
        except ValueError:  # a mix the model refuses: the whole group waits as it was
            out.append(old_by[group.name])
    out += [old_by[name] for name in held if name in old_by and all(g.name != name for g in new)]
    pending = [{"rule": c.rule, "key": c.key, "from": c.old if c.key else "in force",
                "to": c.new if c.key else "removed"} for c in changes]
    return out, pending


def _split_override(
    base: RiskConfig, in_force: RiskConfig, old_override: dict[str, Any], new_override: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(override to apply now, its changes held for the reset): the new override with every field
    that would loosen the account's rules held at the value in force."""
    try:
        looser = [c for c in looser_changes(in_force, base.with_overrides(new_override)) if c.key]
        if not looser:
            return new_override, []
        now_doc = in_force.model_dump(mode="json")["rules"]
        override = copy.deepcopy(new_override)
        for change in looser:
            override.setdefault(change.rule, {})[change.key] = now_doc[change.rule][change.key]
        if [c for c in looser_changes(in_force, base.with_overrides(override)) if c.key]:
            override = old_override  # a merge it cannot express exactly: the whole edit waits
    except Exception:  # the new override does not merge: keep the old one until the reset
        return old_override, [{"rule": "overrides", "key": "", "from": "in force", "to": "edited"}]
    return override, [{"rule": c.rule, "key": c.key, "from": c.old, "to": c.new} for c in looser]
