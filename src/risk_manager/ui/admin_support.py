"""Helpers of the admin CLI: locating config and daemon, the admin password, times, rule summaries."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel

from risk_manager.ui.daemon_client import DEFAULT_URL, DaemonClient, DaemonError, DaemonUnreachable

PASSWORD_ENV = "RISK_MANAGER_ADMIN_PASSWORD"
#: Fields that are shown in their own columns, not among a rule's key settings.
STATE_FIELDS = {"enabled", "mode", "action_mode"}


def fail(message: str) -> NoReturn:
    """Refuse the command: `error: …` on stderr, exit code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def config_dir_or_default(config: Path | None) -> Path:
    from risk_manager.config.loader import default_config_dir

    return Path(config) if config is not None else default_config_dir()


def daemon_url(url: str | None, config_dir: Path) -> str:
    """--url, else the daemon running on `config_dir` (its runtime file), else `daemon.status_api`
    from accounts.yaml (if readable), else the default."""
    if url:
        return url
    tree = _accounts_tree(config_dir)
    running = running_daemon_url(config_dir, tree)
    if running:
        return running
    address = (tree.get("daemon") or {}).get("status_api") if isinstance(tree.get("daemon"), dict) else None
    if isinstance(address, str) and ":" in address:
        return f"http://{address}"
    return DEFAULT_URL


def find_daemon_url(url: str | None, config: Path | None) -> str:
    """For `status` and `dashboard`: --url, else --config DIR (as `daemon_url`), else the daemon
    whose runtime file is in the default config dir or, with one login per instance, in exactly
    one of its subdirectories (several running: name one with --config)."""
    if url or config is not None:
        return daemon_url(url, config_dir_or_default(config))
    base = config_dir_or_default(None)
    if running_daemon_url(base, _accounts_tree(base)):
        return daemon_url(None, base)
    found = {}
    if base.is_dir():
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            running = running_daemon_url(sub, _accounts_tree(sub))
            if running:
                found[sub] = running
    if len(found) == 1:
        return next(iter(found.values()))
    if len(found) > 1:
        listed = ", ".join(f"--config {d} ({u})" for d, u in found.items())
        fail(f"{len(found)} daemons run on this machine; pick one: {listed}")
    return daemon_url(None, base)


def _accounts_tree(config_dir: Path) -> dict[str, Any]:
    from risk_manager.config.loader import ACCOUNTS_FILE, read_yaml_tree

    tree, problems = read_yaml_tree(config_dir / ACCOUNTS_FILE)
    return tree if not problems and isinstance(tree, dict) else {}


def running_daemon_url(config_dir: Path, tree: dict[str, Any]) -> str | None:
    """The status URL in the runtime file (`<state_dir>/daemon.json`) the daemon writes once its
    API listens, if the process it names is alive (a crash leaves a stale file behind)."""
    import json

    raw = tree.get("daemon")
    daemon: dict[str, Any] = raw if isinstance(raw, dict) else {}
    state = Path(str(daemon.get("state_dir") or "state")).expanduser()
    path = (state if state.is_absolute() else config_dir / state) / "daemon.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("status_url"), str):
        return None
    return doc["status_url"] if _alive(doc.get("pid")) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it there; the file is removed on a clean stop
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by the service user
    return True


def admin_password(prompt: str = "Admin password") -> str:
    """From $RISK_MANAGER_ADMIN_PASSWORD (scripts) or a hidden prompt."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    return typer.prompt(prompt, hide_input=True)


def daemon_login(client: DaemonClient) -> str:
    """Log in to the daemon with the admin password; a clear failure otherwise."""
    try:
        client.status()  # fail fast (and before prompting) when nothing is listening
    except DaemonUnreachable as exc:
        fail(str(exc))
    except DaemonError:
        pass
    password = admin_password()
    try:
        return client.login(password)
    except DaemonUnreachable as exc:
        fail(str(exc))
    except DaemonError as exc:
        if exc.status == 401:
            fail("wrong admin password (the attempt was recorded in the audit log)")
        if exc.status == 429:
            fail(f"{exc} (repeated wrong passwords are rate-limited)")
        fail(f"login refused by the daemon: {exc}")


def daemon_status(client: DaemonClient) -> dict[str, Any]:
    """The daemon's /status document; a clear failure when it cannot be read."""
    try:
        return client.status()
    except (DaemonUnreachable, DaemonError) as exc:
        fail(str(exc))


def admin_command(client: DaemonClient, command: str, body: dict[str, Any]) -> Any:
    """Log in, run one admin command, log out; a refusal fails the CLI command."""
    token = daemon_login(client)
    try:
        return client.admin(token, command, body)
    except (DaemonError, DaemonUnreachable) as exc:
        fail(f"{command} refused: {exc}")
    finally:
        client.logout(token)


def daemon_status_or_none(client: DaemonClient) -> dict[str, Any] | None:
    try:
        return client.status()
    except (DaemonUnreachable, DaemonError):
        return None


def resolve_account(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    """The /status account whose id or name is `ref` (case-insensitive name)."""
    accounts = [a for a in doc.get("accounts") or [] if isinstance(a, dict)]
    for acct in accounts:
        if str(acct.get("id")) == ref.strip() or str(acct.get("name") or "").lower() == ref.strip().lower():
            return acct
    known = ", ".join(f"{a.get('name')} ({a.get('id')})" for a in accounts) or "none"
    fail(f"unknown account {ref!r}: the daemon guards {known}")


_RELATIVE = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$", re.IGNORECASE)


def parse_until(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """`16:00` (today, trading timezone), `2026-11-21T16:00` (naive = trading timezone, or with an
    offset), or a duration from now: `30m`, `2h`, `1h30m`. Must lie in the future."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if text and relative and any(relative.groups()):
        hours, minutes = (int(g) if g else 0 for g in relative.groups())
        until = now + timedelta(hours=hours, minutes=minutes)
    elif re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", text):
        hour, minute = (int(p) for p in text.split(":"))
        until = now.astimezone(tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
        if until <= now:
            raise ValueError(f"{text} has already passed today ({tz.key}); give a date, e.g. "
                             f"{(now + timedelta(days=1)).astimezone(tz):%Y-%m-%d}T{text}")
    else:
        try:
            until = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"cannot read --until {text!r}: use HH:MM, YYYY-MM-DDTHH:MM[+offset] or a duration like 90m"
            ) from None
        if until.tzinfo is None:
            until = until.replace(tzinfo=tz)
    if until <= now:
        raise ValueError(f"--until {text!r} is in the past")
    return until


def until_option(text: str | None, tz: ZoneInfo) -> datetime | None:
    """The --until option read with `parse_until` from now; None when not given, a clear failure
    when it cannot be read."""
    if not text:
        return None
    try:
        return parse_until(text, datetime.now(UTC), tz)
    except ValueError as exc:
        fail(str(exc))


def key_settings(block: BaseModel) -> str:
    """The settings of a rule block other than enabled/mode, compact: `limit=5 close_all=true`."""
    parts = []
    # R05 uses `mode` for its trigger (a real setting) and `action_mode` for enforce/alert.
    hidden = STATE_FIELDS - ({"mode"} if "action_mode" in type(block).model_fields else set())
    for name, value in block.model_dump(mode="json").items():
        if name in hidden:
            continue
        parts.append(f"{name}={_compact(value)}")
    return " ".join(parts)


def _compact(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rule_mode(block: BaseModel) -> str:
    return str(getattr(block, "action_mode", None) or getattr(block, "mode", "enforce"))


# --- rules by id or name -------------------------------------------------------------------
_RULE_ID = re.compile(r"^[Rr]0*(\d{1,3})$")


def rule_key(ref: str) -> str:
    """The config key of a rule given by id (`R01`, `r1`) or by name (`max_contracts`).

    Text that is neither passes through unchanged, so the config edit names it and suggests one."""
    from risk_manager.config.models import RULE_IDS

    text = ref.strip()
    match = _RULE_ID.match(text)
    if match:
        wanted = f"R{int(match.group(1)):02d}"
        for name, rid in RULE_IDS.items():
            if rid == wanted:
                return name
        fail(f"unknown rule {text!r}: the rules are {', '.join(RULE_IDS.values())}")
    return text


def rule_id(ref: str) -> str:
    """The lock/rule id (`R03`) of a rule given by id or name; other lock kinds (`ADMIN`) upper-cased."""
    from risk_manager.config.models import RULE_IDS

    text = ref.strip()
    if text in RULE_IDS:
        return RULE_IDS[text]
    match = _RULE_ID.match(text)
    return f"R{int(match.group(1)):02d}" if match else text.upper()


# --- the admin password for loosening edits ------------------------------------------------
def require_local_password(config_dir: Path, what: str) -> None:
    """A loosening edit applied at the reset still needs the admin password (checked against the
    hash file in the config directory, so it works while the daemon is down)."""
    from risk_manager import admin_auth

    if not admin_auth.has_password(config_dir):
        fail(f"{what} loosens protection and needs the admin password, but none is set: "
             "run `risk-manager admin set-password` first")
    try:
        ok = admin_auth.verify_password(config_dir, admin_password(f"Admin password ({what})"))
    except admin_auth.PasswordFileError as exc:
        fail(str(exc))
    if not ok:
        fail(f"wrong admin password; {what} was not changed")
