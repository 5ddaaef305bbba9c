"""Round-trip edits of the config files for the admin CLI (docs/rules.md: tighten now, loosen at the reset).

Every edit loads the file with ruamel.yaml's round-trip loader (comments, key order and quoting
survive), changes one value, validates the WHOLE resulting text with the models exactly as the
loader would read it, and only then writes it atomically (temp file in the same directory, fsync,
os.replace, the previous version kept as `<name>.bak`). A rejected edit leaves the file untouched.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from risk_manager.config.loader import (
    ACCOUNTS_FILE,
    RISK_FILE,
    ConfigError,
    ConfigProblem,
    annotation_at,
    parse_yaml_text,
    read_yaml_tree,
    to_plain,
    validate_accounts_tree,
    validate_risk_tree,
)
from risk_manager.config.models import RULE_MODELS

_ABSENT = object()
#: (mapping, sequence, offset) indentation styles tried to reproduce the file byte for byte.
_INDENT_STYLES = ((2, 4, 2), (2, 2, 0), (4, 6, 2), (4, 4, 0), (4, 4, 2), (3, 5, 2))


class EditError(ConfigError):
    """The edit was rejected; the file is unchanged."""


@dataclass(frozen=True)
class EditResult:
    path: Path
    field: str  # e.g. "rules.max_contracts.limit" or "accounts[2]"
    old: Any  # previous value (plain Python), None if absent
    new: Any
    changed: bool
    backup: Path | None  # the `.bak` written, None when nothing changed
    message: str


# --- YAML text <-> tree ----------------------------------------------------------------------
def _yaml(style: tuple[int, int, int] = _INDENT_STYLES[0]) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long flow lines the admin wrote
    mapping, sequence, offset = style
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def dump_yaml(tree: Any, style: tuple[int, int, int] = _INDENT_STYLES[0]) -> str:
    buffer = io.StringIO()
    _yaml(style).dump(tree, buffer)
    return buffer.getvalue()


def _guess_style(text: str) -> tuple[int, int, int]:
    """The indentation style under which the file dumps back to itself (else the default)."""
    for style in _INDENT_STYLES:
        try:
            if dump_yaml(_yaml(style).load(text), style) == text:
                return style
        except YAMLError:
            break
    return _INDENT_STYLES[0]


def _load_for_edit(path: Path) -> tuple[Any, str, tuple[int, int, int]]:
    """(tree, original text, style); the tree is an empty mapping for an empty file."""
    tree, problems = read_yaml_tree(path)
    if problems:
        raise EditError(problems, summary=f"cannot edit {path}: fix it first (file unchanged)")
    text = path.read_text(encoding="utf-8")
    style = _guess_style(text)
    tree = _yaml(style).load(text) if tree is not None else CommentedMap()
    return tree, text, style


# --- atomic write --------------------------------------------------------------------------
def atomic_write(path: Path, text: str, backup: bool = True) -> Path | None:
    """Replace `path` with `text` atomically; keep the old file as `<name>.bak` when `backup`."""
    path = Path(path)
    backup_path = None
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    if backup and path.exists():
        backup_path = path.with_name(path.name + ".bak")
        _write_replace(backup_path, path.read_bytes(), mode)
    _write_replace(path, text.encode("utf-8"), mode)
    return backup_path


def _write_replace(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- validation of a proposed text ---------------------------------------------------------
def _check_risk_text(config_dir: Path, text: str, path: Path) -> None:
    tree, problems = parse_yaml_text(text, path.name)
    risk = None
    if not problems:
        risk, problems = validate_risk_tree(tree, path.name)
    if not problems and risk is not None:
        # Account overrides are merged into the rules: they must still validate.
        accounts_tree, read_problems = read_yaml_tree(config_dir / ACCOUNTS_FILE)
        if not read_problems and accounts_tree is not None:
            _, override_problems = validate_accounts_tree(accounts_tree, risk)
            problems = [p for p in override_problems if ".overrides" in p.field]
    if problems:
        raise EditError(problems, summary=f"edit rejected; {path} unchanged")


def _check_accounts_text(config_dir: Path, text: str, path: Path) -> None:
    tree, problems = parse_yaml_text(text, path.name)
    if not problems:
        risk = None
        risk_tree, risk_problems = read_yaml_tree(config_dir / RISK_FILE)
        if not risk_problems:
            risk, _ = validate_risk_tree(risk_tree)
        _, problems = validate_accounts_tree(tree, risk, path.name)
    if problems:
        raise EditError(problems, summary=f"edit rejected; {path} unchanged")


def _commit(path: Path, old_text: str, new_text: str, field: str, old: Any, new: Any, what: str) -> EditResult:
    if new_text == old_text:
        return EditResult(path, field, old, new, False, None, f"{field} already {what}; nothing to do")
    backup = atomic_write(path, new_text, backup=True)
    return EditResult(path, field, old, new, True, backup, f"{field}: {what}")


def _error(file: str, field: str, message: str, hint: str | None = None) -> EditError:
    return EditError([ConfigProblem(file, None, None, field, message, hint)], summary="edit rejected; file unchanged")


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(options)}"


# --- rules ---------------------------------------------------------------------------------
def parse_value_text(value_text: str, file: str = RISK_FILE, field: str = "") -> Any:
    """A value typed by the admin, read as YAML: `5`, `true`, `-100`, `"17:00"`, `[ES, NQ]`."""
    try:
        return _yaml().load(value_text) if value_text.strip() else None
    except YAMLError as exc:
        detail = " ".join(str(getattr(exc, "problem", "") or exc).split())
        raise _error(file, field, f"cannot read value {value_text!r} as YAML: {detail}",
                     'quote text values, e.g. "allow_with_limit:2"') from None


def _rule_path(rule: str, key: str) -> tuple[type[BaseModel], list[str]]:
    if rule not in RULE_MODELS:
        raise _error(RISK_FILE, f"rules.{rule}", f"unknown rule {rule!r}", _did_you_mean(rule, list(RULE_MODELS)))
    model = RULE_MODELS[rule]
    parts = [p for p in key.split(".")]
    if not key or any(not p for p in parts):
        raise _error(RISK_FILE, f"rules.{rule}", f"bad key {key!r}", "use a setting name, e.g. limit or cooldown_seconds.per_minute")
    for depth in range(len(parts)):
        parent = annotation_at(model, tuple(parts[:depth]))
        if isinstance(parent, type) and issubclass(parent, BaseModel) and parts[depth] not in parent.model_fields:
            where = ".".join([rule, *parts[: depth + 1]])
            raise _error(
                RISK_FILE, f"rules.{where}", f"unknown setting {parts[depth]!r}",
                _did_you_mean(parts[depth], list(parent.model_fields)),
            )
    return model, parts


def _set_in_rule(config_dir: Path, rule: str, parts: list[str], value: Any, what: str) -> EditResult:
    path = Path(config_dir) / RISK_FILE
    tree, old_text, style = _load_for_edit(path)
    rules = tree.get("rules")
    if rules is None:
        rules = tree["rules"] = CommentedMap()
    if not isinstance(rules, dict):
        raise _error(path.name, "rules", "`rules` is not a mapping; fix the file first")
    created = False
    block = rules.get(rule)
    if block is None:
        # A block that is present is enabled unless it says otherwise: never enable by accident.
        block = rules[rule] = CommentedMap()
        if parts != ["enabled"]:
            block["enabled"] = False
        created = True
    if not isinstance(block, dict):
        raise _error(path.name, f"rules.{rule}", "the rule block is not a mapping; fix the file first")
    node = block
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = CommentedMap()
        node = child
    previous = node.get(parts[-1])
    old = to_plain(previous)
    node[parts[-1]] = _styled_like(previous, value)
    new_text = dump_yaml(tree, style)
    _check_risk_text(Path(config_dir), new_text, path)
    field = ".".join(["rules", rule, *parts])
    note = " (new rule block, disabled: enable it with `admin rules enable`)" if created and parts != ["enabled"] else ""
    return _commit(path, old_text, new_text, field, old, to_plain(value), what + note)


def _styled_like(previous: Any, value: Any) -> Any:
    """Keep the quoting the admin used; always quote clock times (YAML 1.1 reads 09:00 as a number)."""
    if not isinstance(value, str) or isinstance(value, ScalarString):
        return value
    if isinstance(previous, (DoubleQuotedScalarString, SingleQuotedScalarString)):
        return type(previous)(value)
    if re.fullmatch(r"\d{1,2}:\d{2}", value):
        return DoubleQuotedScalarString(value)
    return value


def set_rule_value(config_dir: Path, rule: str, key: str, value_text: str) -> EditResult:
    """Set `rules.<rule>.<key>` (dotted for nested, e.g. `cooldown_seconds.per_minute`)."""
    model, parts = _rule_path(rule, key)
    value = parse_value_text(value_text, RISK_FILE, ".".join(["rules", rule, *parts]))
    if annotation_at(model, tuple(parts)) is str and isinstance(value, (int, float, bool)):
        value = value_text.strip()  # a text setting typed without quotes, e.g. a symbol name
    if isinstance(value, (CommentedMap, CommentedSeq)):
        value.fa.set_flow_style()
    return _set_in_rule(Path(config_dir), rule, parts, value, f"set to {value_text.strip()}")


def set_rule_enabled(config_dir: Path, rule: str, enabled: bool) -> EditResult:
    _rule_path(rule, "enabled")
    return _set_in_rule(Path(config_dir), rule, ["enabled"], bool(enabled), "enabled" if enabled else "disabled")


# --- accounts ------------------------------------------------------------------------------
def _accounts_list(tree: Any, path: Path) -> Any:
    accounts = tree.get("accounts")
    if accounts is None:
        accounts = tree["accounts"] = CommentedSeq()
    if not isinstance(accounts, list):
        raise _error(path.name, "accounts", "`accounts` is not a list; fix the file first")
    return accounts


def _matches(entry: Any, ref: str | int) -> bool:
    if not isinstance(entry, dict):
        return False
    if ((isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()))
            and entry.get("id") is not None and str(entry.get("id")) == str(ref)):
        return True
    return entry.get("name") is not None and str(entry.get("name")) == str(ref)


def add_account(
    config_dir: Path, *, name: str | None = None, id: int | None = None, enabled: bool = True
) -> EditResult:
    """Append an account (by platform name and/or numeric id) to accounts.yaml."""
    path = Path(config_dir) / ACCOUNTS_FILE
    if name is None and id is None:
        raise _error(path.name, "accounts", "an account needs a name or an id")
    tree, old_text, style = _load_for_edit(path)
    accounts = _accounts_list(tree, path)
    for ref in (name, id):
        if ref is not None and any(_matches(e, ref) for e in accounts):
            raise _error(path.name, "accounts", f"account {ref!r} is already listed")
    entry = CommentedMap()
    if name is not None:
        entry["name"] = name
    if id is not None:
        entry["id"] = int(id)
    entry["enabled"] = enabled
    _detach_trailing_comments(accounts)
    accounts.append(entry)
    new_text = dump_yaml(tree, style)
    _check_accounts_text(Path(config_dir), new_text, path)
    label = name if name is not None else str(id)
    return _commit(path, old_text, new_text, f"accounts[{len(accounts) - 1}]", None, to_plain(entry), f"added {label}")


def remove_account(config_dir: Path, ref: str | int) -> EditResult:
    """Remove the account whose name or id is `ref`."""
    path = Path(config_dir) / ACCOUNTS_FILE
    tree, old_text, style = _load_for_edit(path)
    accounts = _accounts_list(tree, path)
    for index, entry in enumerate(accounts):
        if _matches(entry, ref):
            old = to_plain(entry)
            _detach_trailing_comments(accounts)
            del accounts[index]
            new_text = dump_yaml(tree, style)
            _check_accounts_text(Path(config_dir), new_text, path)
            return _commit(path, old_text, new_text, f"accounts[{index}]", old, None, f"removed {ref}")
    known = [str(e.get("name") or e.get("id")) for e in accounts if isinstance(e, dict)]
    raise _error(path.name, "accounts", f"no account {ref!r}", f"listed: {', '.join(known) or 'none'}")


def _detach_trailing_comments(items: Any) -> None:
    """Comment lines after the last list item belong to the list, not to that item.

    After a dump and re-parse ruamel attaches them to the last item's last key, so deleting that
    item (or appending after it) would drop or misplace them; move them to the list's end.
    """
    if not isinstance(items, CommentedSeq) or not items:
        return
    last = items[-1]
    if not isinstance(last, CommentedMap) or not last:
        return
    slots = last.ca.items.get(list(last.keys())[-1])
    token = slots[2] if slots and len(slots) > 2 else None
    if token is None or "\n" not in token.value:
        return
    own, following = token.value.split("\n", 1)
    first = following.lstrip(" ")
    if not first.startswith("#"):
        return
    if own.strip():
        token.value = own + "\n"
    else:
        slots[2] = None
    column = len(following) - len(first)
    if items.ca.comment is None:
        items.ca.comment = [None, None]  # ruamel only emits `end` comments next to this slot
    end = items.ca.end or []
    items.ca.end = [CommentToken(first, CommentMark(column), None), *end]


def set_account_enabled(config_dir: Path, ref: str | int, enabled: bool) -> EditResult:
    path = Path(config_dir) / ACCOUNTS_FILE
    tree, old_text, style = _load_for_edit(path)
    accounts = _accounts_list(tree, path)
    for index, entry in enumerate(accounts):
        if _matches(entry, ref):
            old = to_plain(entry.get("enabled", True))
            entry["enabled"] = bool(enabled)
            new_text = dump_yaml(tree, style)
            _check_accounts_text(Path(config_dir), new_text, path)
            return _commit(
                path, old_text, new_text, f"accounts[{index}].enabled", old, bool(enabled),
                "enabled" if enabled else "disabled",
            )
    raise _error(path.name, "accounts", f"no account {ref!r}")


__all__ = [
    "EditError",
    "EditResult",
    "add_account",
    "atomic_write",
    "dump_yaml",
    "parse_value_text",
    "remove_account",
    "set_account_enabled",
    "set_rule_enabled",
    "set_rule_value",
]
