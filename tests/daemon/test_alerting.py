"""DaemonAlerts / LimitWatch: which snapshot rows and actions become notifications."""

from __future__ import annotations

from datetime import UTC, date, datetime

from risk_manager.alerts.config import parse_alerts_config
from risk_manager.alerts.dispatcher import AlertDispatcher
from risk_manager.clock import ManualClock
from risk_manager.daemon.alerting import DaemonAlerts, LimitWatch, warning_figures
from risk_manager.engine.actions import Alert, ClearLock, Lock, LockEnd, LockKind, PlaceStop, SetLock

DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 23)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def row(rule: str, used: float | None, **kw):
    return {"rule": rule, "name": kw.pop("name", "daily_realized_loss"), "enabled": True,
            "used_pct": used, "value": kw.pop("value", -40.0), "limit": kw.pop("limit", -50.0), **kw}


def test_limit_watch_warns_once_per_rule_per_day_and_rearms_at_reset():
    watch = LimitWatch()
    assert watch.check(1, [row("R03", 79.9)], DAY1) == []
    assert [r["rule"] for r in watch.check(1, [row("R03", 80.0)], DAY1)] == ["R03"]
    assert watch.check(1, [row("R03", 95.0)], DAY1) == []  # once per day
    assert [r["rule"] for r in watch.check(2, [row("R03", 85.0)], DAY1)] == ["R03"]  # per account
    assert [r["rule"] for r in watch.check(1, [row("R03", 81.0)], DAY2)] == ["R03"]  # re-armed


def test_limit_watch_skips_breaches_disabled_and_unmeasured_rules():
    watch = LimitWatch()
    assert watch.check(1, [row("R03", 120.0)], DAY1) == []  # fired instead: the lock alert says it
    assert watch.check(1, [row("R03", 90.0)], DAY1) == []  # …and no late warning on the way back
    assert watch.check(1, [row("R01", None), row("R04", 90.0, enabled=False)], DAY1) == []


def test_warning_figures_for_scalar_per_symbol_and_frequency_rows():
    assert warning_figures(row("R03", 80.0)) == ("Daily realized loss", -40.0, -50.0)
    assert warning_figures(row("R02", 80.0, name="max_contracts_per_instrument",
                               value={"symbol": "MNQ", "size": 4}, limit=5)) == \
        ("Max contracts per instrument (MNQ)", 4.0, 5.0)
    freq = row("R06", 90.0, name="trade_frequency_limit", value={"minute": 1, "hour": 9, "session": 9},
               limit={"minute": 3, "hour": 10, "session": 50})
    assert warning_figures(freq) == ("Trade frequency limit (per hour)", 9.0, 10.0)
    assert warning_figures(row("R09", 90.0, value="open", limit=None)) is None


class Recorder:
    """A channel that records what it is given (no network)."""

    name = "recorder"
    secrets: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.notes = []

    async def send(self, note) -> None:
        self.notes.append(note)


async def _alerts(**cfg) -> tuple[DaemonAlerts, Recorder]:
    channel = Recorder()
    clock = ManualClock(NOW)
    config = parse_alerts_config({"dedupe_seconds": 0, **cfg})
    alerts = DaemonAlerts(config, clock, names={7: "PRAC-7"},
                          dispatcher=AlertDispatcher(config, clock, channels=[channel]))
    await alerts.start()
    return alerts, channel


async def test_actions_become_notifications_except_stops_and_the_blind_alert():
    alerts, channel = await _alerts()
    lock = Lock(7, "R03", LockKind.LOCKOUT, "Daily loss", LockEnd.RESET, NOW, NOW)
    alerts.on_actions([SetLock(lock), PlaceStop(7, "CON.F.US.MNQ.U26", 1, 1, 19990.0, "R08", "stop"),
                       Alert(7, "blind", "User hub down", "critical"),
                       ClearLock(7, "R03", "admin", cleared_by="admin@x")])
    alerts.feed_blind(7, 61.0, 2, flattening=False)
    alerts.on_snapshot(7, [row("R03", 82.0)], DAY1, NOW)
    await alerts.stop()
    events = [(n.event, n.account_name, n.rule) for n in channel.notes]
    assert events == [("lock_set", "PRAC-7", "R03"), ("lock_cleared", "PRAC-7", "R03"),
                      ("feed_blind", "PRAC-7", None), ("limit_warning", "PRAC-7", "R03")]


async def test_without_channels_nothing_is_computed_or_sent():
    clock = ManualClock(NOW)
    alerts = DaemonAlerts(parse_alerts_config(None), clock)
    await alerts.start()
    assert not alerts.active
    alerts.on_snapshot(7, [row("R03", 82.0)], DAY1, NOW)
    assert alerts.limits._day is None  # not even the watch ran
    await alerts.stop()
