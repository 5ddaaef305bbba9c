"""`risk-manager lock`: the trader locks their own account ("done for the day", docs/rules.md).

No admin password: a lock only tightens protection. Until the next daily reset by default, or
`--until` a time. Only an admin (password + reason) can unlock it early.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from risk_manager.ui.admin_support import (
    config_dir_or_default, daemon_status, daemon_url, fail, resolve_account, until_option,
)
from risk_manager.ui.daemon_client import DaemonClient, DaemonError, DaemonUnreachable
from risk_manager.ui.format import local_time, zone

DEFAULT_REASON = "Done for the day (self-lock by the trader)"


def lock(
    account: Annotated[str | None, typer.Argument(
        help="Account name or id (may be left out when the daemon guards one account).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="HH:MM (trading timezone), an ISO time, or 90m / 2h. Default: the next reset.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Shown on the dashboard, audited.")] = DEFAULT_REASON,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config directory (reads daemon.status_api).")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Status API of the daemon.")] = None,
) -> None:
    """Done for the day: lock your own account now (positions closed, orders cancelled) until the
    reset or --until. No password; only an admin can unlock it early."""
    client = DaemonClient(daemon_url(url, config_dir_or_default(config)))
    doc = daemon_status(client)
    acct = _pick_account(doc, account)
    tz = zone(doc.get("timezone"))
    until_at = until_option(until, tz)
    label = f"{acct.get('name') or acct['id']} ({acct['id']})"
    end = f"until {local_time(until_at, tz, '%a %H:%M %Z')}" if until_at else "until the next reset"
    if not yes and not typer.confirm(
            f"Lock {label} {end}? Open positions are closed and orders cancelled; "
            "only an admin can unlock it early.", default=False):
        fail("not locked")
    try:
        result = client.self_lock(acct["id"], until_at.isoformat() if until_at else None, reason)
    except (DaemonError, DaemonUnreachable) as exc:
        fail(f"lock refused: {exc}")
    typer.echo(_locked_line(label, result, tz, reason))


def _pick_account(doc: dict[str, Any], ref: str | None) -> dict[str, Any]:
    if ref is not None:
        return resolve_account(doc, ref)
    accounts = [a for a in doc.get("accounts") or [] if isinstance(a, dict)]
    if len(accounts) == 1:
        return accounts[0]
    known = ", ".join(f"{a.get('name')} ({a.get('id')})" for a in accounts) or "none"
    fail(f"name the account to lock: the daemon guards {known}")


def _locked_line(label: str, result: Any, tz: Any, reason: str) -> str:
    result = result if isinstance(result, dict) else {}
    when = local_time(result.get("until"), tz, "%a %H:%M %Z") if result.get("until") else "an admin unlocks it"
    if result.get("changed") is False:
        return f"{label} is already locked until {when} (that lock lasts at least as long; nothing changed)."
    return f"Locked {label} until {when}: {reason}"


__all__ = ["lock"]
