"""Load and validate the config directory (docs/rules.md, docs/operations.md): accounts.yaml + risk_config.yaml.

YAML is read with ruamel.yaml's round-trip loader so every value keeps its line and column; each
pydantic error `loc` is walked down that tree to point at the offending key. All problems of both
files are collected and raised together as one ConfigError, each naming file, line, column, field
path and message, with a hint where a typical mistake has a typical fix.

The files are read under limits (size, nesting depth, nodes after alias expansion), so a hostile or
broken file is a ConfigError in bounded time and memory, never a hang or a crash of the caller
(the daemon re-reads them while it guards). Any exception while loading is a ConfigError.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.scalarbool import ScalarBoolean

from risk_manager.config.models import (
    RULE_MODELS,
    AccountEntry,
    AccountsConfig,
    RiskConfig,
    Rules,
)

ACCOUNTS_FILE = "accounts.yaml"
RISK_FILE = "risk_config.yaml"
CONFIG_ENV = "RISK_MANAGER_CONFIG"
EXAMPLES_PACKAGE = "risk_manager.config"
EXAMPLES_DIR = "examples"

Loc = tuple[Any, ...]

#: A config file is a few KB; beyond this it is refused unread (a 60 MB file took 24 s to parse,
#: and the pure-Python parser needs about a second per 50 KB on a busy machine).
MAX_FILE_BYTES = 64 * 1024
#: Nesting deeper than this is refused before the (recursive) composer can overflow the stack.
MAX_DEPTH = 50
#: Nodes of the document once every alias is expanded: bounds an alias bomb ("billion laughs").
MAX_NODES = 50_000
#: The parsing thread lets the daemon's event loop run this often (nodes composed).
_YIELD_EVERY = 256


# --- problems ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigProblem:
    file: str  # file name as shown to the admin (e.g. "risk_config.yaml")
    line: int | None  # 1-based
    column: int | None  # 1-based
    field: str  # dotted path, e.g. "rules.max_contracts.limit"; "" for the whole file
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(Exception):
    """The config is unusable; `problems` lists every reason."""

    def __init__(self, problems: Iterable[ConfigProblem], summary: str | None = None) -> None:
        self.problems = list(problems)
        self.summary = summary
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.summary] if self.summary else []
        return "\n".join(lines + [str(p) for p in self.problems])


@dataclass(frozen=True)
class LoadedConfig:
    accounts: AccountsConfig
    risk: RiskConfig
    dir: Path
    state_dir: Path
    log_dir: Path
    accounts_path: Path
    risk_path: Path
    warnings: tuple[str, ...] = field(default=())

    def risk_for(self, account: AccountEntry) -> RiskConfig:
        """The rules in force for one account (its overrides merged in; validated at load)."""
        return self.risk.with_overrides(account.overrides)

    @property
    def enabled_accounts(self) -> list[AccountEntry]:
        return [a for a in self.accounts.accounts if a.enabled]

    def api_key(self, environ: Mapping[str, str] | None = None) -> str:
        return resolve_api_key(self.accounts, self.state_dir, environ)


# --- locations -----------------------------------------------------------------------------
def windows_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`%ProgramData%\\risk-manager`: the Windows service's config dir (one value for the loader,
    the service installer and the docs)."""
    env = os.environ if environ is None else environ
    return Path(env.get("PROGRAMDATA") or r"C:\ProgramData") / "risk-manager"


def default_config_dir() -> Path:
    """`$RISK_MANAGER_CONFIG`, else the system config dir of the service."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        return windows_config_dir()
    return Path("/etc/risk-manager")


def _resolve_under(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


# --- YAML ----------------------------------------------------------------------------------
class _BoundedComposer(Composer):
    """Counts the nodes the document has once aliases are expanded (the round-trip tree shares an
    aliased node, but every consumer of the tree walks it once per reference)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._expanded = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._grow(1, None)
        if self._expanded % _YIELD_EVERY == 0:
            time.sleep(0)  # release the GIL: a reload parses in a thread beside the event loop
        return super().compose_node(parent, index)

    def return_alias(self, a: Any) -> Any:
        if isinstance(a, (MappingNode, SequenceNode)) and a.end_mark is None:
            # The anchor is an ancestor still being composed: a recursive structure.
            raise ComposerError(None, None, "an alias refers to a collection that contains it",
                                a.start_mark)
        self._grow(self._size(a) - 1, a)  # the alias itself was counted as one node
        return a

    def _size(self, node: Node) -> int:
        known = self._sizes.get(id(node))
        if known is None:
            children: Iterable[Any] = ()
            if isinstance(node, SequenceNode):
                children = node.value
            elif isinstance(node, MappingNode):
                children = (child for pair in node.value for child in pair)
            known = 1 + sum(self._size(child) for child in children)  # depth <= MAX_DEPTH
            self._sizes[id(node)] = known
        return known

    def _grow(self, count: int, node: Node | None) -> None:
        self._expanded += count
        if self._expanded > MAX_NODES:
            mark = node.start_mark if node is not None else None
            raise ComposerError(None, None, f"more than {MAX_NODES} values once aliases are expanded "
                                "(an alias bomb?)", mark)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Composer = _BoundedComposer
    yaml.max_depth = MAX_DEPTH
    return yaml


_NOT_BRACKETS = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|(?:^|(?<=\s))#[^\n]*""", re.M)
_BRACKET = re.compile(r"[\[\]{}]")


def flow_depth(text: str) -> int:
    """Deepest nesting of flow brackets outside quotes and comments (an estimate, checked before
    parsing: the parser's look-ahead makes `[[[[...` cost seconds before its own depth check)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_NOT_BRACKETS.sub("", text)):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


def _too_big(name: str, size: int) -> ConfigProblem:
    return ConfigProblem(name, None, None, "", f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
                         "a config file is a few KB: is this the right file?")


def read_yaml_tree(path: Path) -> tuple[Any, list[ConfigProblem]]:
    """The round-trip tree of `path` (None for an empty file) or the problems reading it."""
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [_too_big(name, size)]
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # it may have grown since the stat
        if len(data) > MAX_FILE_BYTES:
            return None, [_too_big(name, len(data))]
        text = data.decode("utf-8")
    except FileNotFoundError:
        return None, [_missing_file_problem(path)]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigProblem(name, None, None, "", f"cannot read {path}: {exc}")]
    return parse_yaml_text(text, name)


def parse_yaml_text(text: str, name: str) -> tuple[Any, list[ConfigProblem]]:
    if len(text) > MAX_FILE_BYTES:
        return None, [_too_big(name, len(text.encode("utf-8", "replace")))]
    if flow_depth(text) > MAX_DEPTH:
        return None, [ConfigProblem(name, None, None, "", f"brackets nested more than {MAX_DEPTH} deep",
                                    "a config needs a few levels; is this the right file?")]
    try:
        tree = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = "YAML syntax error: " + " ".join(
            part for part in (exc.context, exc.problem) if part
        )
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        hint = "check indentation and quoting; values with ': ' or '#' need quotes"
        if "duplicate key" in (exc.problem or ""):
            hint = "each key may appear once per block; merge the two entries"
        return None, [ConfigProblem(name, line, column, "", message, hint)]
    except YAMLError as exc:
        return None, [ConfigProblem(name, None, None, "", f"YAML error: {exc}")]
    except Exception as exc:  # RecursionError, a 5,000-digit number, ...: unreadable, not fatal
        return None, [ConfigProblem(name, None, None, "", f"cannot parse the file: {_describe(exc)}")]
    if tree is not None and not isinstance(tree, dict):
        return None, [
            ConfigProblem(name, 1, 1, "", f"expected a mapping of settings at the top, got {type(tree).__name__}")
        ]
    return tree, []


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def to_plain(node: Any) -> Any:
    """ruamel's commented containers and scalar subclasses -> plain dict/list/str/int/float/bool."""
    if isinstance(node, dict):
        return {to_plain(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, (bool, ScalarBoolean)) or node is None:
        return None if node is None else bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def locate(tree: Any, loc: Loc) -> tuple[int | None, int | None]:
    """1-based (line, column) of the deepest key/item of `loc` present in the tree."""
    line = column = None
    node = tree
    for part in loc:
        lc = getattr(node, "lc", None)
        if isinstance(node, dict) and part in node and lc is not None:
            row, col = lc.key(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node) and lc is not None:
            row, col = lc.item(part)
            node = node[part]
        else:
            break
        line, column = row + 1, col + 1
    return line, column


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# --- hints ---------------------------------------------------------------------------------
def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def annotation_at(root: Any, path: Loc) -> Any:
    """The type expected at `path` below `root` (a model class), or None if unknown."""
    current = _unwrap(root)
    for part in path:
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = _unwrap(info.annotation)
        elif origin is dict:
            current = _unwrap(typing.get_args(current)[1])
        elif origin is list:
            current = _unwrap(typing.get_args(current)[0])
        else:
            return None
    return current


def allowed_keys(root: Any, path: Loc) -> list[str]:
    target = annotation_at(root, path)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


_SECRET_KEYS = {"api_key", "apikey", "key", "password", "token", "secret"}


def hint_for(error: Mapping[str, Any], root: Any, loc: Loc) -> str | None:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    last = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        if str(last).lower() in _SECRET_KEYS:
            return (
                "never write the API key into a config file: set gateway.api_key_env (an environment "
                "variable) or gateway.api_key_secret (OS secret store)"
            )
        allowed = allowed_keys(root, loc[:-1])
        close = difflib.get_close_matches(str(last), allowed, n=1, cutoff=0.6)
        if close:
            return f"did you mean '{close[0]}'?"
        return f"allowed here: {', '.join(allowed)}" if allowed else None
    if kind == "missing":
        parent = format_loc(loc[:-1])
        return f"add `{last}: ...`" + (f" under `{parent}`" if parent else " at the top of the file")
    if kind in ("greater_than_equal", "greater_than") and ctx.get("ge", ctx.get("gt")) == 0:
        return "this cannot be negative; to switch a rule off use `enabled: false`"
    if kind == "less_than" and ctx.get("lt") == 0:
        return "loss amounts are negative numbers, e.g. -100"
    if kind in ("int_parsing", "float_parsing", "int_from_float", "int_type", "float_type"):
        return "write a plain number without quotes or units, e.g. 5"
    if kind in ("bool_parsing", "bool_type"):
        return "use true or false"
    if kind == "string_type":
        return 'put the value in quotes, e.g. "17:00"'
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping: `key: value` lines indented below, or {key: value}"
    if kind == "list_type":
        return "expected a list, e.g. [mon, tue] or one `- item` per line"
    if kind == "value_error" and "HH:MM" in str(error.get("msg", "")):
        return 'write times as "HH:MM" in quotes, 24-hour clock, e.g. "08:30"'
    return None


def problems_from_validation(
    exc: ValidationError, name: str, tree: Any, root: Any, tree_prefix: Loc = (), field_prefix: Loc = ()
) -> list[ConfigProblem]:
    """One ConfigProblem per pydantic error, located in `tree` at tree_prefix + loc."""
    out = []
    for error in exc.errors(include_url=False):
        # A bad dict key (an unknown instrument in R02's `limits`) ends in "[key]": the key is the field.
        loc = tuple(part for part in error.get("loc", ()) if part != "[key]")
        line, column = locate(tree, tree_prefix + loc)
        message = str(error.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if error.get("type") == "extra_forbidden" and loc:
            what = "rule" if annotation_at(root, loc[:-1]) is Rules else "setting"
            message = f"unknown {what} {str(loc[-1])!r}"
        out.append(
            ConfigProblem(
                name, line, column, format_loc(field_prefix + loc), message, hint_for(error, root, loc)
            )
        )
    return out


def _missing_file_problem(path: Path) -> ConfigProblem:
    return ConfigProblem(
        path.name,
        None,
        None,
        "",
        f"file not found: {path}",
        "copy it from the examples (risk_manager/config/examples) or run `risk-manager demo` to see one",
    )


# --- validation of documents ---------------------------------------------------------------
_ALL_OFF_HINT = ("every risk config lists its rules under `rules:`; to turn every rule off, list them "
                 "with `enabled: false`")


def _rules_section_problem(tree: Any, name: str) -> ConfigProblem | None:
    """An empty file, or one without rules, is a truncated or wrong file, not "every rule off"
    (accepted, it disabled every rule at the next reset)."""
    if tree is None:
        return ConfigProblem(name, None, None, "", "the file is empty", _ALL_OFF_HINT)
    if "rules" not in tree:
        return ConfigProblem(name, None, None, "rules", "the `rules` section is missing", _ALL_OFF_HINT)
    if not tree["rules"]:
        line, column = locate(tree, ("rules",))
        return ConfigProblem(name, line, column, "rules", "the `rules` section is empty", _ALL_OFF_HINT)
    return None


def validate_risk_tree(tree: Any, name: str = RISK_FILE) -> tuple[RiskConfig | None, list[ConfigProblem]]:
    missing = _rules_section_problem(tree, name)
    if missing is not None:
        return None, [missing]
    try:
        return RiskConfig.model_validate(to_plain(tree)), []
    except ValidationError as exc:
        return None, problems_from_validation(exc, name, tree, RiskConfig)


def validate_accounts_tree(
    tree: Any, risk: RiskConfig | None, name: str = ACCOUNTS_FILE
) -> tuple[AccountsConfig | None, list[ConfigProblem]]:
    if tree is None:
        return None, [ConfigProblem(name, None, None, "", "the file is empty", "it needs at least `gateway: {username: ...}`")]
    try:
        accounts = AccountsConfig.model_validate(to_plain(tree))
    except ValidationError as exc:
        return None, problems_from_validation(exc, name, tree, AccountsConfig)
    problems: list[ConfigProblem] = []
    seen: dict[Any, int] = {}
    for index, entry in enumerate(accounts.accounts):
        for ident in (("name", entry.name), ("id", entry.id)):
            if ident[1] is None:
                continue
            if ident in seen:
                line, column = locate(tree, ("accounts", index))
                problems.append(
                    ConfigProblem(
                        name, line, column, f"accounts[{index}].{ident[0]}",
                        f"account {ident[1]!r} is listed twice (first as accounts[{seen[ident]}])",
                        "remove one of the two entries",
                    )
                )
            seen.setdefault(ident, index)
        if risk is not None and entry.overrides:
            try:
                risk.with_overrides(entry.overrides)
            except ValidationError as exc:
                problems.extend(
                    problems_from_validation(
                        exc, name, tree, Rules,
                        tree_prefix=("accounts", index, "overrides"),
                        field_prefix=("accounts", index, "overrides"),
                    )
                )
    return (accounts if not problems else None), problems


def _warnings(accounts: AccountsConfig, risk: RiskConfig) -> list[str]:
    out = []
    enabled = [name for name in RULE_MODELS if getattr(risk.rules.by_name(name), "enabled", False)]
    if not enabled:
        out.append(f"{RISK_FILE}: no rule is enabled; the daemon will watch but never act")
    if not accounts.accounts:
        out.append(f"{ACCOUNTS_FILE}: no accounts listed; the daemon guards nothing")
    elif not any(a.enabled for a in accounts.accounts):
        out.append(f"{ACCOUNTS_FILE}: every account is disabled; the daemon guards nothing")
    return out


def load_config_dir(path: Path | str | None = None) -> LoadedConfig:
    """Load and validate both files; raises ConfigError listing every problem found (also for
    an unexpected failure while loading: the caller keeps its last good config)."""
    config_dir = Path(path) if path is not None else default_config_dir()
    try:
        return _load_config_dir(config_dir)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError([ConfigProblem(str(config_dir), None, None, "", f"cannot load: {_describe(exc)}")],
                          summary=f"invalid configuration in {config_dir}") from None


def _load_config_dir(config_dir: Path) -> LoadedConfig:
    if not config_dir.is_dir():
        raise ConfigError(
            [
                ConfigProblem(
                    str(config_dir), None, None, "", "config directory not found",
                    f"pass --config DIR or set {CONFIG_ENV}; it must hold {ACCOUNTS_FILE} and {RISK_FILE}",
                )
            ],
            summary=f"invalid configuration in {config_dir}",
        )
    accounts_path, risk_path = config_dir / ACCOUNTS_FILE, config_dir / RISK_FILE
    risk_tree, problems = read_yaml_tree(risk_path)
    risk = None
    if not problems:
        risk, risk_problems = validate_risk_tree(risk_tree, risk_path.name)
        problems += risk_problems
    accounts_tree, accounts_read_problems = read_yaml_tree(accounts_path)
    problems += accounts_read_problems
    accounts = None
    if not accounts_read_problems:
        accounts, account_problems = validate_accounts_tree(accounts_tree, risk, accounts_path.name)
        problems += account_problems
    if problems or accounts is None or risk is None:
        raise ConfigError(problems, summary=f"invalid configuration in {config_dir}")
    return LoadedConfig(
        accounts=accounts,
        risk=risk,
        dir=config_dir,
        state_dir=_resolve_under(config_dir, accounts.daemon.state_dir),
        log_dir=_resolve_under(config_dir, accounts.daemon.log_dir),
        accounts_path=accounts_path,
        risk_path=risk_path,
        warnings=tuple(_warnings(accounts, risk)),
    )


# --- API key -------------------------------------------------------------------------------
class ApiKeyMissing(ConfigError):
    pass


def resolve_api_key(
    accounts: AccountsConfig, state_dir: Path, environ: Mapping[str, str] | None = None
) -> str:
    """The API key from the OS secret store (`api_key_secret`) or the env var (`api_key_env`)."""
    from risk_manager.config.secrets import SecretError, read_secret

    env = os.environ if environ is None else environ
    gateway = accounts.gateway
    tried = []
    if gateway.api_key_secret:
        try:
            value = read_secret(gateway.api_key_secret, state_dir)
        except SecretError as exc:
            raise ApiKeyMissing(
                [ConfigProblem(ACCOUNTS_FILE, None, None, "gateway.api_key_secret", str(exc))]
            ) from None
        if value:
            return value
        tried.append(f"secret {gateway.api_key_secret!r} (not stored)")
    if gateway.api_key_env:
        value = env.get(gateway.api_key_env, "").strip()
        if value:
            return value
        tried.append(f"environment variable {gateway.api_key_env} (not set)")
    raise ApiKeyMissing(
        [
            ConfigProblem(
                ACCOUNTS_FILE, None, None, "gateway",
                "no API key found: tried " + (", ".join(tried) if tried else "nothing (both references are empty)"),
                f"export {gateway.api_key_env or 'PROJECTX_API_KEY'}=... for the service, "
                "or store it in the OS secret store and set api_key_secret",
            )
        ]
    )


# --- `risk-manager config validate` --------------------------------------------------------
def summarize(config: LoadedConfig) -> str:
    rules = config.risk.rules
    enabled = [name for name in RULE_MODELS if getattr(rules.by_name(name), "enabled", False)]
    accounts = [a.name or str(a.id) for a in config.enabled_accounts]
    td = config.risk.trading_day
    return (
        f"OK: {config.dir}: {len(accounts)} account(s) guarded"
        + (f" ({', '.join(accounts)})" if accounts else "")
        + f"; {len(enabled)} of {len(RULE_MODELS)} rules enabled"
        + (f" ({', '.join(enabled)})" if enabled else "")
        + f"; trading day resets {td.reset_time} {td.timezone}; state in {config.state_dir}"
    )


def validate_command(config_dir: Path | None) -> int:
    """Print an OK summary (exit 0) or every problem as file:line:col: field: message (exit 1)."""
    try:
        config = load_config_dir(config_dir)
    except ConfigError as exc:
        for problem in sorted(exc.problems, key=_display_order):
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''}: {exc.summary}", file=sys.stderr)
        return 1
    print(summarize(config))
    for warning in config.warnings:
        print(f"warning: {warning}")
    try:
        config.api_key()
    except ConfigError as exc:
        for problem in exc.problems:
            hint = f" (hint: {problem.hint})" if problem.hint else ""
            print(f"warning: {problem.message}; the daemon cannot start without it{hint}")
    return 0


def _display_order(problem: ConfigProblem) -> tuple[int, int, int]:
    file_rank = 0 if problem.file == RISK_FILE else 1
    return (file_rank, problem.line or 0, problem.column or 0)


# --- examples ------------------------------------------------------------------------------
def example_text(name: str) -> str:
    from importlib import resources

    return resources.files(EXAMPLES_PACKAGE).joinpath(EXAMPLES_DIR, name).read_text(encoding="utf-8")


def write_example_config(
    config_dir: Path | str,
    *,
    overwrite: bool = False,
    gateway: Mapping[str, Any] | None = None,
    accounts: list[Mapping[str, Any]] | None = None,
    daemon: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the commented example files into `config_dir` (created if needed).

    `gateway` / `accounts` / `daemon` replace the example's values (e.g. the simulator's URLs and
    account ids for the demo); comments survive. The result is validated before anything is
    written; existing files are kept unless `overwrite`. Returns the paths written.
    """
    from risk_manager.config.edit import atomic_write, dump_yaml

    target = Path(config_dir)
    target.mkdir(parents=True, exist_ok=True)
    risk_text = example_text(RISK_FILE)
    accounts_tree, problems = parse_yaml_text(example_text(ACCOUNTS_FILE), ACCOUNTS_FILE)
    if problems:
        raise ConfigError(problems, summary="the packaged example accounts.yaml is broken")
    for key, value in (gateway or {}).items():
        accounts_tree["gateway"][key] = value
    for key, value in (daemon or {}).items():
        accounts_tree["daemon"][key] = value
    if accounts is not None:
        accounts_tree["accounts"] = [dict(a) for a in accounts]
    accounts_text = dump_yaml(accounts_tree)
    risk_tree, problems = parse_yaml_text(risk_text, RISK_FILE)
    risk, more = validate_risk_tree(risk_tree)
    problems += more
    accounts_tree2, more = parse_yaml_text(accounts_text, ACCOUNTS_FILE)
    problems += more
    if not problems:
        _, more = validate_accounts_tree(accounts_tree2, risk)
        problems += more
    if problems:
        raise ConfigError(problems, summary="example config with the given values is invalid")
    written = []
    for name, text in ((ACCOUNTS_FILE, accounts_text), (RISK_FILE, risk_text)):
        path = target / name
        if path.exists() and not overwrite:
            continue
        atomic_write(path, text, backup=False)
        written.append(path)
    return written
