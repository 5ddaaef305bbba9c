"""A tiny OS secret store for the API key (`api_key_secret` in accounts.yaml).

Windows: the Credential Manager through pywin32's `win32cred` (generic credential
`risk-manager:<name>`). Elsewhere, or when pywin32 is missing: the file `<state_dir>/secrets/<name>`,
mode 0600 in a 0700 directory; a file others can read is refused rather than used.
Secret values are never logged or put in exception messages.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TARGET_PREFIX = "risk-manager:"


class SecretError(Exception):
    """A secret could not be stored or read (the message never contains the value)."""


def _check_name(name: str) -> None:
    # The name is not echoed: a mistyped config may hold the key itself where the name belongs.
    if not _NAME.fullmatch(name):
        raise SecretError(
            "bad secret name: use letters, digits, '_', '-', '.' (max 128, not starting with '.')"
        )


# --- references to the key in accounts.yaml ----------------------------------------------------
#: An environment variable name as shells and service managers accept it.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def looks_like_a_key(value: str) -> bool:
    """Long and mixing lower case, upper case and digits: a key pasted where its name belongs
    (names are words: PROJECTX_API_KEY, projectx-key)."""
    return (len(value) >= 24 and any(c.islower() for c in value) and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value))


def check_env_reference(value: str) -> str:
    """`gateway.api_key_env`: the name of an environment variable. The message never repeats the
    value, which may be the key itself."""
    if not _ENV_NAME.fullmatch(value) or looks_like_a_key(value):
        raise ValueError(
            "this must be the NAME of an environment variable (letters, digits and '_', e.g. "
            "PROJECTX_API_KEY), not the API key itself; the value is not shown here"
        )
    return value


def check_secret_reference(value: str) -> str:
    """`gateway.api_key_secret`: the name of a stored secret (never echoed, as above)."""
    if not _NAME.fullmatch(value) or looks_like_a_key(value):
        raise ValueError(
            "this must be the NAME of a secret in the OS secret store (letters, digits, '_', '-', '.', "
            "e.g. projectx), not the API key itself; the value is not shown here"
        )
    return value


def _win32cred():
    if sys.platform != "win32":
        return None
    try:
        import win32cred
    except ImportError:
        return None
    return win32cred


def secret_file(state_dir: Path, name: str) -> Path:
    _check_name(name)
    return Path(state_dir) / "secrets" / name


def store_secret(name: str, value: str, state_dir: Path) -> str:
    """Store `value` under `name`; returns where it went (for the admin's confirmation message)."""
    _check_name(name)
    if not value:
        raise SecretError("refusing to store an empty secret")
    cred = _win32cred()
    if cred is not None:
        cred.CredWrite(
            {
                "Type": cred.CRED_TYPE_GENERIC,
                "TargetName": _TARGET_PREFIX + name,
                "UserName": name,
                "CredentialBlob": value,
                "Persist": cred.CRED_PERSIST_LOCAL_MACHINE,
            },
            0,
        )
        return f"Windows Credential Manager ({_TARGET_PREFIX}{name})"
    path = secret_file(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(path)


def read_secret(name: str, state_dir: Path) -> str | None:
    """The secret stored under `name`, or None when there is none."""
    _check_name(name)
    cred = _win32cred()
    if cred is not None:
        try:
            found = cred.CredRead(_TARGET_PREFIX + name, cred.CRED_TYPE_GENERIC, 0)
        except Exception:  # pywintypes.error: not found (or access denied)
            found = None
        if found is not None:
            blob = found["CredentialBlob"]
            return blob.decode("utf-16-le") if isinstance(blob, bytes) else str(blob)
    path = secret_file(state_dir, name)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if os.name == "posix" and mode & 0o077:
        raise SecretError(f"{path} is readable by other users; run: chmod 600 {path}")
    value = path.read_text(encoding="utf-8").strip()
    return value or None


def delete_secret(name: str, state_dir: Path) -> bool:
    _check_name(name)
    cred = _win32cred()
    if cred is not None:
        try:
            cred.CredDelete(_TARGET_PREFIX + name, cred.CRED_TYPE_GENERIC, 0)
            return True
        except Exception:
            pass
    path = secret_file(state_dir, name)
    if path.exists():
        path.unlink()
        return True
    return False
