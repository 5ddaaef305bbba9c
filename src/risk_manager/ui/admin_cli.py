"""`risk-manager admin …`: everything the admin does (docs/operations.md, docs/rules.md). Scriptable; exit 0 = done.

Config edits go through `config.edit` (validated first, comments kept, atomic write with `.bak`);
commands that act on the running daemon (lock, unlock, `--now`) log in to its status API with the
admin password (hidden prompt, or $RISK_MANAGER_ADMIN_PASSWORD for scripts). Any refusal prints
`error: …` on stderr, exits 1 and leaves the config files untouched.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import risk_manager.cli_help  # noqa: F401  (flags show as flags in --help)
from risk_manager import admin_auth
from risk_manager.ui.admin_support import (
    admin_command,
    config_dir_or_default,
    daemon_login,
    daemon_status,
    daemon_status_or_none,
    daemon_url,
    fail,
    key_settings,
    require_local_password,
    rule_id,
    rule_key,
    until_option,
    resolve_account,
    rule_mode,
)
from risk_manager.ui.daemon_client import DaemonClient, DaemonError, DaemonUnreachable
from risk_manager.ui.format import lock_end_text, money, number, pending_text, zone

app = typer.Typer(help="Admin commands (rules, accounts, lock/unlock).", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
rules_app = typer.Typer(help="Show and change the risk rules (risk_config.yaml).", no_args_is_help=True)
accounts_app = typer.Typer(help="The accounts to guard (accounts.yaml).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(accounts_app, name="accounts")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Config directory (default: the system one).")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="Daemon status API (default: from accounts.yaml).")]
NowOpt = Annotated[bool, typer.Option("--now", help="Apply a loosening change now (needs the admin password).")]


def _console() -> Console:
    return Console(width=160, soft_wrap=False, highlight=False)


def _add_row(table: Table, *cells: str) -> None:
    # Plain Text: values like `[mon, tue]` must not be read as Rich markup.
    table.add_row(*(Text(str(c)) for c in cells))


# --- password ------------------------------------------------------------------------------
@app.command("set-password")
def set_password(config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Create the admin password (first run) or change it (asks for the old one)."""
    config_dir = config_dir_or_default(config)
    if not config_dir.is_dir():
        fail(f"config directory {config_dir} not found (pass --config DIR)")
    if admin_auth.has_password(config_dir):
        old = typer.prompt("Current admin password", hide_input=True)
        try:
            ok = admin_auth.verify_password(config_dir, old)
        except admin_auth.PasswordFileError as exc:
            fail(str(exc))
        if not ok:
            fail("wrong admin password; the password was not changed")
    new = typer.prompt("New admin password", hide_input=True, confirmation_prompt="Repeat the new password")
    try:
        path = admin_auth.set_password(config_dir, new)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"Admin password saved ({path}, readable by its owner only).")


# --- rules ---------------------------------------------------------------------------------
def _load_risk(config_dir: Path):
    from risk_manager.config.loader import RISK_FILE, ConfigError, read_yaml_tree, validate_risk_tree

    tree, problems = read_yaml_tree(config_dir / RISK_FILE)
    risk = None
    if not problems:
        risk, problems = validate_risk_tree(tree, RISK_FILE)
    if problems or risk is None:
        fail(str(ConfigError(problems, summary=f"{config_dir / RISK_FILE} is invalid; fix it first")))
    return risk


@rules_app.command("show")
def rules_show(config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Every rule: enabled, mode, settings, current value (daemon running) and pending changes."""
    from risk_manager.config.models import RULE_IDS, RULE_MODELS

    config_dir = config_dir_or_default(config)
    risk = _load_risk(config_dir)
    doc = daemon_status_or_none(DaemonClient(daemon_url(url, config_dir)))
    tz = zone((doc or {}).get("timezone") or risk.trading_day.timezone)
    current: dict[str, list[str]] = {}
    for acct in (doc or {}).get("accounts") or []:
        for rule in acct.get("rules") or [] if isinstance(acct, dict) else []:
            if not isinstance(rule, dict):
                continue
            pct = rule.get("used_pct")
            text = f"{number(rule.get('value'))}" + (f" ({pct:.0f} %)" if isinstance(pct, (int, float)) else "")
            label = acct.get("name") or acct.get("id")
            for key in (rule.get("name"), rule.get("rule")):
                if key:
                    current.setdefault(str(key), []).append(f"{label}: {text}")
    pending: dict[str, list[str]] = {}
    for change in (doc or {}).get("pending_changes") or []:
        if isinstance(change, dict):
            pending.setdefault(str(change.get("rule")), []).append(pending_text(change, tz))
    table = Table(title=f"Rules in {config_dir / 'risk_config.yaml'}", show_lines=False)
    for column in ("Rule", "Name", "Enabled", "Mode", "Settings", "Current value", "Pending (looser, at reset)"):
        table.add_column(column, overflow="fold")
    for name in RULE_MODELS:
        block = risk.rules.by_name(name)
        rid = RULE_IDS[name]
        values = current.get(name) or current.get(rid)
        _add_row(
            table, rid, name, "yes" if block.enabled else "no", rule_mode(block), key_settings(block),
            "\n".join(values) if values else ("—" if doc else "daemon not running"),
            "\n".join(pending.get(name, []) + pending.get(rid, [])) or "—",
        )
    _console().print(table)
    if doc is None:
        typer.echo("Note: the daemon is not running, so current values and pending changes are unknown.")


def _preview(config_dir: Path, edit: Any) -> Any:
    """Run `edit(dir)` on a copy of the config files: (its result, the rules after it), nothing
    written. None when it changes nothing or would be refused (the real run then reports it)."""
    import shutil
    import tempfile

    from risk_manager.config.edit import EditError
    from risk_manager.config.loader import ACCOUNTS_FILE, RISK_FILE

    with tempfile.TemporaryDirectory(prefix="rm-preview-") as tmp:
        for name in (RISK_FILE, ACCOUNTS_FILE):
            if (config_dir / name).is_file():
                shutil.copy2(config_dir / name, Path(tmp) / name)
        try:
            result = edit(Path(tmp))
        except EditError:
            return None
        return (result, _load_risk(Path(tmp))) if result.changed else None


def _apply_rule_edit(config_dir: Path, url: str | None, now: bool, edit: Any) -> None:
    """Run `edit(config_dir)` (a config.edit call) and say when it takes effect; `now` applies it
    at once. Loosening needs the admin password, also when it waits for the reset."""
    from risk_manager.config.edit import EditError
    from risk_manager.engine.policy import looser_changes

    old = _load_risk(config_dir)
    preview = _preview(config_dir, edit)
    looser_preview = looser_changes(old, preview[1]) if preview else []
    client = DaemonClient(daemon_url(url, config_dir))
    # Before writing: a bad password changes nothing.
    token = daemon_login(client) if now else None
    if token is None and looser_preview:
        require_local_password(config_dir, "this loosening change")
    try:
        result = edit(config_dir)
    except EditError as exc:
        if token:
            client.logout(token)
        fail(exc.render())
    typer.echo(result.message)
    if not result.changed:
        if token:
            client.logout(token)
        return
    new = _load_risk(config_dir)
    looser = looser_changes(old, new)
    reset = f"{new.trading_day.reset_time} {new.trading_day.timezone}"
    if token:
        _apply_now(client, token, f"the next reset ({reset})")
        typer.echo("Applied now (admin password given with --now).")
    elif looser:
        what = ", ".join(f"{c.rule}.{c.key}: {number(c.old)} → {number(c.new)}" if c.key
                         else f"{c.rule}: {number(c.old)} → {number(c.new)}" for c in looser)
        typer.echo(f"This loosens the rules ({what}): it takes effect at the next daily reset ({reset}). "
                   "Use --now with the admin password to apply it immediately.")
    else:
        typer.echo("This tightens (or keeps) the rules: it takes effect now (the daemon reloads the file live).")


# ignore_unknown_options: a negative VALUE (`-100`) is a value, not an unknown option.
@rules_app.command("set", context_settings={"ignore_unknown_options": True})
def rules_set(
    rule: Annotated[str, typer.Argument(help="Rule id or name, e.g. R01 or max_contracts.")],
    key: Annotated[str, typer.Argument(help="Setting, e.g. limit or cooldown_seconds.per_minute.")],
    value: Annotated[str, typer.Argument(help="New value (YAML: 5, true, \"17:00\", [ES, NQ]).")],
    now: NowOpt = False, config: ConfigOpt = None, url: UrlOpt = None,
) -> None:
    """Change one setting of a rule (validated before writing; comments are kept)."""
    from risk_manager.config.edit import set_rule_value

    config_dir = config_dir_or_default(config)
    _apply_rule_edit(config_dir, url, now, lambda d: set_rule_value(d, rule_key(rule), key, value))


@rules_app.command("enable")
def rules_enable(rule: Annotated[str, typer.Argument(help="Rule id or name (R01 or max_contracts).")],
                 config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Turn a rule on (tightening: applies now)."""
    from risk_manager.config.edit import set_rule_enabled

    config_dir = config_dir_or_default(config)
    _apply_rule_edit(config_dir, url, False, lambda d: set_rule_enabled(d, rule_key(rule), True))


@rules_app.command("disable")
def rules_disable(rule: Annotated[str, typer.Argument(help="Rule id or name (R01 or max_contracts).")], now: NowOpt = False,
                  config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Turn a rule off (loosening: applies at the next reset unless --now)."""
    from risk_manager.config.edit import set_rule_enabled

    config_dir = config_dir_or_default(config)
    _apply_rule_edit(config_dir, url, now, lambda d: set_rule_enabled(d, rule_key(rule), False))


# --- accounts ------------------------------------------------------------------------------
def _load_accounts(config_dir: Path):
    from risk_manager.config.loader import ConfigError, load_config_dir

    try:
        return load_config_dir(config_dir)
    except ConfigError as exc:
        fail(exc.render())


@accounts_app.command("list")
def accounts_list(config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """The accounts in accounts.yaml, with live state when the daemon runs."""
    config_dir = config_dir_or_default(config)
    loaded = _load_accounts(config_dir)
    doc = daemon_status_or_none(DaemonClient(daemon_url(url, config_dir)))
    live = {str(a.get("id")): a for a in (doc or {}).get("accounts") or [] if isinstance(a, dict)}
    live.update({str(a.get("name")): a for a in (doc or {}).get("accounts") or [] if isinstance(a, dict)})
    tz = zone((doc or {}).get("timezone") or loaded.risk.trading_day.timezone)
    table = Table(title=f"Accounts in {loaded.accounts_path}")
    for column in ("Account", "Id", "Enabled", "Overrides", "Balance", "P&L today", "Locked"):
        table.add_column(column, overflow="fold")
    for entry in loaded.accounts.accounts:
        acct = live.get(str(entry.id)) or live.get(str(entry.name)) or {}
        locks = [lk for lk in acct.get("locks") or [] if isinstance(lk, dict)]
        _add_row(
            table, entry.name or "—", str(entry.id or acct.get("id") or "—"), "yes" if entry.enabled else "no",
            ", ".join(entry.overrides) or "—",
            money(acct.get("balance"), signed=False) if acct else "—",
            money(acct.get("total_pnl")) if acct else "—",
            "\n".join(f"{lk.get('rule')} {lock_end_text(lk, tz)}" for lk in locks) or ("no" if acct else "—"),
        )
    _console().print(table)
    if doc is None:
        typer.echo("Note: the daemon is not running (live columns empty).")


@accounts_app.command("add")
def accounts_add(
    account: Annotated[str, typer.Argument(help="Account name as the platform shows it, or its numeric id.")],
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it without guarding it yet.")] = False,
    config: ConfigOpt = None, url: UrlOpt = None,
) -> None:
    """Guard another account (by name or id)."""
    from risk_manager.config.edit import EditError, add_account

    config_dir = config_dir_or_default(config)
    ref = account.strip()
    try:
        result = add_account(config_dir, name=None if ref.isdigit() else ref,
                             id=int(ref) if ref.isdigit() else None, enabled=not disabled)
    except EditError as exc:
        fail(exc.render())
    typer.echo(result.message)
    if result.changed and not disabled:
        _report_pickup(DaemonClient(daemon_url(url, config_dir)), ref)


#: `accounts add` waits this long for the running daemon to reload accounts.yaml and say whether
#: the gateway knows the account.
PICKUP_WAIT_S = 8.0


def _pickup(doc: dict[str, Any], ref: str) -> str | None:
    wanted = ref.casefold()
    for acct in doc.get("accounts") or []:
        if isinstance(acct, dict) and wanted in (str(acct.get("id")), str(acct.get("name") or "").casefold()):
            return "guarded"
    unresolved = ((doc.get("config") or {}).get("unresolved_accounts")) or []
    return "unresolved" if wanted in (str(u).casefold() for u in unresolved) else None


def _report_pickup(client: DaemonClient, ref: str, wait_s: float = PICKUP_WAIT_S) -> None:
    """What the running daemon made of an added account: guarded, or unknown to the gateway."""
    doc = daemon_status_or_none(client)
    if doc is None:
        typer.echo("The daemon is not running: it guards the account from its next start "
                   "(and says so if the gateway does not know it).")
        return
    deadline = time.monotonic() + wait_s
    while (verdict := _pickup(doc, ref)) is None and time.monotonic() < deadline:
        time.sleep(0.25)
        doc = daemon_status_or_none(client) or doc
    if verdict == "guarded":
        typer.echo("The running daemon guards it now.")
    elif verdict == "unresolved":
        fail(f"the running daemon could not find {ref} via the gateway (Account/search): it is NOT "
             "guarded. Use the name exactly as the platform shows it, or the numeric id "
             "(`risk-manager admin accounts test` lists what the API key sees).")
    else:
        typer.echo("The running daemon has not picked it up yet; `risk-manager status` shows it "
                   "once it has (or lists it as not found).")


@accounts_app.command("remove")
def accounts_remove(account: Annotated[str, typer.Argument(help="Account name or id.")],
                    now: NowOpt = False, config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Stop guarding an account (a loosening: needs the admin password; at the next daily reset
    unless --now)."""
    from risk_manager.config.edit import EditError, remove_account

    config_dir = config_dir_or_default(config)
    ref = account.strip()
    client = DaemonClient(daemon_url(url, config_dir))
    token = None
    if now:
        token = daemon_login(client)  # before writing: a bad password changes nothing
    else:
        preview = _preview(config_dir, lambda d: remove_account(d, ref))
        if preview is not None and (preview[0].old or {}).get("enabled", True):
            require_local_password(config_dir, f"removing account {ref}")
    try:
        result = remove_account(config_dir, ref)
    except EditError as exc:
        if token:
            client.logout(token)
        fail(exc.render())
    typer.echo(result.message)
    if token:
        _apply_now(client, token, "the next reset")
        typer.echo("Applied now (admin password given with --now): the daemon no longer guards it.")
    elif result.changed:
        typer.echo("Removing an account loosens the protection: the running daemon keeps guarding it "
                   "until the next daily reset. Use --now with the admin password to stop at once.")


@accounts_app.command("test")
def accounts_test(
    prompt_key: Annotated[bool, typer.Option("--prompt-key", help="Type the API key (hidden) instead of the configured one.")] = False,
    store_key: Annotated[bool, typer.Option("--store-key", help="After a good login, keep the typed key in the secret store.")] = False,
    config: ConfigOpt = None, url: UrlOpt = None,
) -> None:
    """Log in to the gateway and list the accounts the API key sees (canTrade, balance)."""
    from risk_manager.config.loader import ConfigError, load_config_dir
    from risk_manager.config.secrets import SecretError, store_secret
    from risk_manager.daemon.logs import quiet_logging

    quiet_logging()  # the gateway client's debug lines are for the daemon log, not this table
    config_dir = config_dir_or_default(config)
    try:
        loaded = load_config_dir(config_dir)
    except ConfigError as exc:
        fail(exc.render())
    gateway = loaded.accounts.gateway
    typed = False
    api_key = None
    if not prompt_key:
        try:
            api_key = loaded.api_key()
        except ConfigError:
            typer.echo("No API key configured (environment variable or secret store).")
    if not api_key:
        api_key = typer.prompt("ProjectX API key", hide_input=True).strip()
        typed = True
    if not api_key:
        fail("no API key given")
    accounts = asyncio.run(_gateway_accounts(gateway.api_url, gateway.username, api_key,
                                             gateway.request_timeout_seconds))
    guarded = {str(a.name) for a in loaded.accounts.accounts} | {str(a.id) for a in loaded.accounts.accounts}
    table = Table(title=f"Accounts visible to {gateway.username} at {gateway.api_url}")
    for column in ("Id", "Name", "canTrade", "Balance", "Guarded"):
        table.add_column(column)
    for acct in accounts:
        can = "missing" if acct.can_trade is None else ("yes" if acct.can_trade else "NO")
        _add_row(table, str(acct.id), acct.name or "—", can, money(acct.balance, signed=False),
                      "yes" if {str(acct.id), str(acct.name)} & guarded else "no")
    _console().print(table)
    typer.echo(f"Login OK: {len(accounts)} active account(s).")
    if typed and store_key:
        name = gateway.api_key_secret or "projectx-api-key"
        try:
            where = store_secret(name, api_key, loaded.state_dir)
        except SecretError as exc:
            fail(str(exc))
        typer.echo(f"API key stored in the secret store: {where}.")
        if not gateway.api_key_secret:
            typer.echo(f"Add `api_key_secret: {name}` under `gateway:` in accounts.yaml so the daemon uses it.")


async def _gateway_accounts(api_url: str, username: str, api_key: str, timeout: float) -> list[Any]:
    from risk_manager.gateway.errors import GatewayRestError, LoginFailed
    from risk_manager.gateway.rest import GatewayRest

    try:
        async with GatewayRest(api_url, username, api_key, timeout=timeout, read_retries=1) as rest:
            await rest.login()
            return await rest.search_accounts(only_active=True)
    except LoginFailed as exc:
        fail(f"login to {api_url} as {username!r} failed: {exc.message or exc.error_name or 'rejected'}"
             " (check the user name and API key)")
    except (TimeoutError, GatewayRestError, OSError) as exc:
        fail(f"cannot reach the gateway at {api_url}: {exc}")


def _apply_now(client: DaemonClient, token: str, later: str) -> None:
    """--now: the daemon reloads the saved config and applies it at once (then logs out); a clear
    failure that says when it applies otherwise."""
    try:
        client.admin(token, "reload")
        client.admin(token, "apply-pending")
    except (DaemonError, DaemonUnreachable) as exc:
        fail(f"saved, but the daemon did not apply it now: {exc}. It applies at {later}.")
    finally:
        client.logout(token)


# --- lock / unlock -------------------------------------------------------------------------
@app.command("lock")
def lock(
    account: Annotated[str, typer.Argument(help="Account name or id.")],
    until: Annotated[str | None, typer.Option("--until", help="HH:MM (trading timezone), an ISO time, or 90m / 2h.")] = None,
    until_reset: Annotated[bool, typer.Option("--until-reset", help="Until the next daily reset (the default).")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to the trader, audited).")] = "done for the day (admin lock)",
    config: ConfigOpt = None, url: UrlOpt = None,
) -> None:
    """Lock an account now: positions closed, orders cancelled, trading blocked."""
    if until and until_reset:
        fail("give either --until or --until-reset, not both")
    config_dir = config_dir_or_default(config)
    client = DaemonClient(daemon_url(url, config_dir))
    doc = daemon_status(client)
    acct = resolve_account(doc, account)
    tz = zone(doc.get("timezone"))
    until_at = until_option(until, tz)
    lock_doc = admin_command(client, "lock", {"account_id": acct["id"], "until": until_at.isoformat() if until_at else None,
                                              "until_reset": until_at is None, "reason": reason})
    end = lock_end_text(lock_doc, tz) if isinstance(lock_doc, dict) else ""
    typer.echo(f"Locked {acct.get('name') or acct['id']} ({acct['id']}) {end}".rstrip() + f": {reason}")


@app.command("unlock")
def unlock(
    account: Annotated[str, typer.Argument(help="Account name or id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required; goes to the audit log).")] = "",
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule's lock (R03 or daily_realized_loss); default all.")] = None,
    config: ConfigOpt = None, url: UrlOpt = None,
) -> None:
    """Clear an account's locks (admin password and a written reason required)."""
    if not reason.strip():
        fail("--reason TEXT is required to unlock (it is recorded in the audit log)")
    config_dir = config_dir_or_default(config)
    client = DaemonClient(daemon_url(url, config_dir))
    doc = daemon_status(client)
    acct = resolve_account(doc, account)
    wanted = rule_id(rule) if rule else None
    locks = [lk for lk in acct.get("locks") or [] if isinstance(lk, dict)]
    matching = [lk for lk in locks if wanted is None or str(lk.get("rule")).upper() == wanted]
    if not matching:
        _nothing_to_unlock(doc, acct, wanted)
    # The lock's own spelling (`manual`, `R03`): the daemon matches it exactly.
    rule_arg = str(matching[0].get("rule")) if wanted else None
    result = admin_command(client, "unlock", {"account_id": acct["id"], "reason": reason.strip(), "rule": rule_arg})
    cleared = result.get("cleared") if isinstance(result, dict) else None
    typer.echo(f"Unlocked {acct.get('name') or acct['id']} ({acct['id']})"
               + (f": cleared {', '.join(map(str, cleared))}" if cleared else "") + f". Reason: {reason.strip()}")



def _nothing_to_unlock(doc: dict[str, Any], acct: dict[str, Any], wanted: str | None) -> None:
    """Refuse before asking for the password, and show what IS locked (this account, then all)."""
    tz = zone(doc.get("timezone"))
    label = f"{acct.get('name') or acct['id']} ({acct['id']})"
    lines = []
    for other in (a for a in doc.get("accounts") or [] if isinstance(a, dict)):
        for lk in (lk for lk in other.get("locks") or [] if isinstance(lk, dict)):
            what = str(lk.get("rule", "?")) + (f" [{lk['symbol']}]" if lk.get("symbol") else "")
            lines.append(f"  {other.get('name') or other.get('id')} ({other.get('id')}): {what} "
                         f"{lock_end_text(lk, tz)}: {lk.get('reason', '')}".rstrip())
    typer.echo(f"Nothing to unlock on {label}" + (f" for {wanted}" if wanted else "") + ".", err=True)
    typer.echo("Active locks:\n" + "\n".join(lines) if lines else "No account is locked.", err=True)
    raise typer.Exit(1)


__all__ = ["app"]
