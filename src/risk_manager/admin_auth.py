"""The admin password: scrypt hash in `admin_password.hash` (docs/operations.md), mode 0600.

Hash string format (one line, parameters travel with the hash so they can be raised later):
``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

PASSWORD_FILE = "admin_password.hash"
SCHEME = "scrypt"
# 2**14 x 8 x 1 = 16 MiB of memory per check: slow enough to make guessing expensive,
# fast enough (~50 ms) for an interactive login.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
KEY_LEN = 32
SALT_LEN = 16
MIN_PASSWORD_LEN = 8


class PasswordFileError(Exception):
    """The hash file is missing or not in the expected format."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_LEN, maxmem=256 * 1024 * 1024
    )


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A fresh hash string with a random salt."""
    salt = secrets.token_bytes(SALT_LEN)
    key = _scrypt(password, salt, n, r, p)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_hash(stored: str, password: str) -> bool:
    """Constant-time check of `password` against a hash string. Malformed hash -> PasswordFileError."""
    parts = stored.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise PasswordFileError("admin password hash is not in the 'scrypt$n$r$p$salt$key' format")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError as exc:
        raise PasswordFileError(f"admin password hash is corrupt: {exc}") from None
    if n < 2 or n & (n - 1) or not (1 <= r <= 64) or not (1 <= p <= 16) or not expected:
        raise PasswordFileError("admin password hash has invalid scrypt parameters")
    actual = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * 1024 * 1024
    )
    return hmac.compare_digest(actual, expected)


def password_path(config_dir: Path | str) -> Path:
    return Path(config_dir) / PASSWORD_FILE


def has_password(config_dir: Path | str) -> bool:
    return password_path(config_dir).is_file()


def write_hash_file(path: Path, hashed: str) -> None:
    """Atomically replace `path` with `hashed`; the file is 0600 from the moment it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".admin_password.", dir=path.parent)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(hashed + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LEN:
        raise ValueError(f"the admin password must be at least {MIN_PASSWORD_LEN} characters long")


def set_password(config_dir: Path | str, password: str) -> Path:
    """Hash `password` and write it to `<config_dir>/admin_password.hash` (0600, atomic)."""
    check_strength(password)
    path = password_path(config_dir)
    write_hash_file(path, hash_password(password))
    return path


def verify_file(path: Path | str, password: str) -> bool:
    path = Path(path)
    try:
        stored = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise PasswordFileError(
            f"no admin password is set ({path} missing): run `risk-manager admin set-password`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordFileError(f"cannot read {path}: {exc}") from None
    return verify_hash(stored, password)


def verify_password(config_dir: Path | str, password: str) -> bool:
    """True if `password` matches the stored hash. No password set -> PasswordFileError."""
    return verify_file(password_path(config_dir), password)
