"""`/metrics` series of the firm-account guards (docs/rules.md), read at scrape time.

Per guarded account: R14's floor, high and distance to the trigger, R15's today and allowed
figures, R16's contract allowance, whether the account is reduce-only; per account group its
P&L. The figures come from the same code as /status (engine/snapshot.py firm_view), so the two
never disagree; a rule that is off (or a figure not known yet) has no sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

PREFIX = "risk_manager_"

#: (family suffix, help, firm_view block, key)
ACCOUNT_GAUGES = (
    ("max_loss_floor_dollars", "R14: the firm's trailing floor.", "max_loss_floor", "floor"),
    ("max_loss_floor_high_dollars", "R14: the high the floor trails.", "max_loss_floor", "high"),
    ("max_loss_floor_distance_dollars", "R14: equity minus the trigger (floor + buffer).",
     "max_loss_floor", "distance"),
    ("consistency_today_dollars", "R15: today's net profit (as R15 counts it).", "consistency_guard", "today"),
    ("consistency_allowed_dollars", "R15: the most today may make.", "consistency_guard", "allowed_today"),
    ("scaling_max_contracts", "R16: contracts allowed by the day's starting balance.", "scaling_plan", "allowed"),
)


def firm_families(d: Any) -> Iterator[Metric]:
    from risk_manager.engine.groups import group_pnl
    from risk_manager.engine.snapshot import firm_view

    engine = getattr(d, "engine", None)
    if engine is None:
        return
    fams = {key: GaugeMetricFamily(f"{PREFIX}{key}", doc, labels=["account"])
            for key, doc, _, _ in ACCOUNT_GAUGES}
    reduce_only = GaugeMetricFamily(f"{PREFIX}reduce_only", "1 while the account is reduce-only.",
                                    labels=["account"])
    for aid in sorted(d.accounts):
        view = firm_view(engine, aid)
        for key, _, block, field in ACCOUNT_GAUGES:
            value = (view.get(block) or {}).get(field)
            if value is not None:
                fams[key].add_metric([str(aid)], float(value))
        reduce_only.add_metric([str(aid)], 0.0 if engine.locks.reduce_only(aid) is None else 1.0)
    yield from fams.values()
    yield reduce_only
    groups = GaugeMetricFamily(f"{PREFIX}group_pnl_dollars",
                               "An account group's P&L today (realized, + open unrealized if included).",
                               labels=["group"])
    for group in engine.groups:
        groups.add_metric([group.name], round(group_pnl(group, engine.accounts), 2))
    yield groups
