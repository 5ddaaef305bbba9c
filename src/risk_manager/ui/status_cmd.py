"""`risk-manager status [--json]`: one-shot health and lock summary from the daemon's /status."""

from __future__ import annotations

import json
import sys
from typing import Any

from risk_manager.ui.daemon_client import DaemonClient, DaemonError, DaemonUnreachable
from risk_manager.ui.format import duration, local_time, lock_end_text, money, pending_text, zone

LAST_EVENTS = 5


def run_status(url: str, as_json: bool) -> int:
    """Print the summary; 0 when the daemon answers, 1 when it is not running or fails."""
    client = DaemonClient(url)
    try:
        doc = client.status()
    except (DaemonUnreachable, DaemonError) as exc:
        if as_json:
            print(json.dumps({"running": False, "url": client.url, "error": str(exc)}))
        print(f"risk-manager status: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        print(render_status(doc, client.url))
    return 0


def render_status(doc: dict[str, Any], url: str) -> str:
    tz = zone(doc.get("timezone"))
    daemon = doc.get("daemon") or {}
    lines = [
        f"Daemon: {daemon.get('state', 'running')} ({'ready' if doc.get('ready') else 'NOT READY'})"
        f" at {url}" + (f", pid {daemon['pid']}" if daemon.get("pid") else "")
        + (f", since {local_time(daemon.get('started_at'), tz)}" if daemon.get("started_at") else "")
    ]
    conn = doc.get("connections") or {}
    if conn:
        age = conn.get("last_event_age_s")
        lines.append(
            f"Connections: REST {conn.get('rest', '?')}, user hub {conn.get('user_hub', '?')}, "
            f"market hub {conn.get('market_hub', '?')}"
            + (f", last event {age:.1f} s ago" if isinstance(age, (int, float)) else "")
        )
    store = doc.get("store") or {}
    if store.get("state") == "failing":
        lines.append(f"STORE FAILING since {local_time(store.get('failing_since'), tz)}: "
                     f"{store.get('last_error')}; {len(store.get('undurable_locks') or [])} lock "
                     "change(s) not saved (enforced from memory, retried)")
    day = doc.get("trading_day") or {}
    if day:
        lines.append(
            f"Trading day: {local_time(day.get('start'), tz)} → {local_time(day.get('end'), tz)}"
            f" (reset in {duration(day.get('reset_in_s'))})"
        )
    accounts = [a for a in doc.get("accounts") or [] if isinstance(a, dict)]
    lines.append(f"Accounts monitored: {len(accounts)}")
    for acct in accounts:
        head = (f"  {acct.get('name') or '?'} ({acct.get('id')}): balance {money(acct.get('balance'), signed=False)},"
                f" P&L today {money(acct.get('total_pnl', acct.get('realized_pnl')))}")
        if acct.get("can_trade") is False:
            head += ", broker says canTrade=false"
        locks = [lk for lk in acct.get("locks") or [] if isinstance(lk, dict)]
        longest = acct.get("longest_lock")
        if isinstance(longest, dict):  # what the account waits for: the lock that ends last
            head += f", LOCKED {lock_end_text(longest, tz)} ({longest.get('rule', '?')})"
        else:
            head += ", LOCKED" if locks else ", trading allowed"
        lines.append(head)
        for lock in locks:
            what = lock.get("rule", "?") + (f" [{lock['symbol']}]" if lock.get("symbol") else "")
            lines.append(f"    lock {what} ({lock.get('kind', '?')}) {lock_end_text(lock, tz)}: "
                         f"{lock.get('reason', '')}")
    for change in doc.get("pending_changes") or []:
        if isinstance(change, dict):
            lines.append("Pending (looser, at reset): " + pending_text(change, tz, with_rule=True))
    events = [e for e in doc.get("enforcement") or [] if isinstance(e, dict)][-LAST_EVENTS:]
    lines.append("Last enforcement events:" if events else "Last enforcement events: none today")
    for ev in events:
        latency = ev.get("latency_ms")
        lines.append(
            f"  {local_time(ev.get('ts'), tz, '%H:%M:%S')} account {ev.get('account_id')} {ev.get('rule')}"
            f" {ev.get('action')} → {ev.get('outcome')}"
            + (f" in {latency:.1f} ms" if isinstance(latency, (int, float)) else "")
            + (f": {ev['reason']}" if ev.get("reason") else "")
        )
    return "\n".join(lines)
