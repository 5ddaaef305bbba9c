"""Tighten now, loosen at the reset: split a reloaded config into what applies now and what waits."""

from __future__ import annotations

from typing import Any

from risk_manager.config.models import RiskConfig
from risk_manager.engine.policy import looser_changes


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
