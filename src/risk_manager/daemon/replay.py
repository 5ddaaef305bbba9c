"""`risk-manager replay JOURNAL`: re-run recorded events through a fresh engine with the current
config and print what would have fired (time, rule, action, reason). Nothing is sent anywhere.

JOURNAL is a JSON Lines file (`Store.export_journal`), the daemon's event journal
(`state/risk_manager-journal.db`, also one moved aside as `.corrupt-*`) or its main database
(`state/risk_manager.db`: the journal beside it is read). SQLite files are opened read-only and
nothing is written into the state dir (store.readonly), so replaying while the daemon runs, or
before it starts, never changes what it finds. Time is the recorded receive time of each event;
the 1 s tick runs in between (time-based rules: R08 grace, R09 session end, lock expiry, the daily
reset). Account groups come from accounts.yaml (members by id or by the name given there), and the
firm guards (R14–R16) start from the balance history the main database holds for the days before
the first replayed one.
"""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from risk_manager.engine.actions import (
    Action,
    Alert,
    CancelOrder,
    ClearLock,
    ClosePosition,
    Flatten,
    ModifyStop,
    PartialClose,
    PlaceStop,
    SetLock,
)
from risk_manager.events import Event
from risk_manager.store.records import StoreError

if TYPE_CHECKING:
    from risk_manager.config.loader import LoadedConfig
    from risk_manager.engine.catalog import ContractCatalog
    from risk_manager.engine.groups import Group

T = TypeVar("T")

#: Between two events at most this many 1 s ticks are run; longer gaps are ticked coarser.
MAX_TICKS_PER_GAP = 600


def describe(action: Action) -> str:
    if isinstance(action, SetLock):
        lock = action.lock
        until = lock.until.isoformat() if lock.until else lock.ends.value
        return f"lock {lock.kind.value} until {until}"
    if isinstance(action, ClearLock):
        return "unlock"
    if isinstance(action, Flatten):
        return "flatten" + (f" {action.contract_id}" if action.contract_id else "")
    if isinstance(action, ClosePosition):
        return f"close {action.contract_id}"
    if isinstance(action, PartialClose):
        return f"partial close {action.size} {action.contract_id}"
    if isinstance(action, CancelOrder):
        return f"cancel order {action.order_id}"
    if isinstance(action, PlaceStop):
        return f"place stop {action.size} @ {action.stop_price} {action.contract_id}"
    if isinstance(action, ModifyStop):
        return f"move stop {action.order_id} to {action.stop_price}"
    if isinstance(action, Alert):
        would = ", ".join(describe(a) for a in action.would_have)
        return f"alert ({action.severity})" + (f": would {would}" if would else "")
    return type(action).__name__


def _events(journal: Path, out: TextIO) -> Iterator[Event]:
    """The recorded events of `journal`; says on `out` what is read before the first one."""
    from risk_manager.store.readonly import (
        inspect_store_file,
        is_sqlite_file,
        journal_span,
        read_journal_events,
    )

    if not is_sqlite_file(journal):
        from risk_manager.store import read_journal_file

        def bad_line(error: Exception) -> None:
            print(f"skipped: {error}", file=sys.stderr)

        out.write(f"reading {journal}: JSON Lines journal\n")
        return read_journal_file(journal, on_bad_line=bad_line)
    info = inspect_store_file(journal)
    out.write(f"reading {info.describe()}\n")
    if info.kind == "main":
        if not info.journal_path.exists():
            raise StoreError(f"{journal} is a main database; its event journal {info.journal_path} "
                             "does not exist")
        info = inspect_store_file(info.journal_path)
        if info.kind != "journal":
            raise StoreError(f"{info.path}: not an event journal")
        out.write(f"reading {info.describe()}\n")
    count, first, last = journal_span(info.path)
    out.write(f"events: {count} recorded" + (f", {first} to {last}" if count else "") + "\n")
    return read_journal_events(info.path)


def _groups(config: LoadedConfig, out: TextIO) -> list[Group]:
    """accounts.yaml `groups`, members resolved by the ids and names accounts.yaml gives (a name
    only the gateway knows cannot be resolved offline: said, and that member left out)."""
    from risk_manager.engine.groups import resolve_groups

    ids: dict[str, int] = {}
    for entry in config.accounts.accounts:
        if entry.id is not None:
            ids[str(entry.id)] = entry.id
            if entry.name:
                ids[entry.name.casefold()] = entry.id
    groups, problems = resolve_groups(list(config.accounts.groups), ids)
    for problem in problems:
        out.write(f"{problem}\n")
    return groups


def _first_found(journal: Path, state_db: Path, what: str, read: Callable[[Path], list[T]],
                 out: TextIO) -> tuple[Path, list[T]] | None:
    """What `read` finds in the main database given, else in the config's (read-only); a file
    that cannot be read is said and skipped."""
    from risk_manager.store.readonly import is_sqlite_file

    for source in dict.fromkeys([journal, state_db]):
        if not is_sqlite_file(source):
            continue
        try:
            rows = read(source)
        except (StoreError, sqlite3.Error) as exc:
            out.write(f"{what}: cannot read {source} ({exc}); skipped\n")
            continue
        if rows:
            return source, rows
    return None


def _balance_history(journal: Path, state_db: Path, out: TextIO) -> list[tuple[int, Any, str, float]]:
    """R14–R16's balance history of the days the daemon recorded."""
    from risk_manager.store.readonly import read_balance_history

    found = _first_found(journal, state_db, "balance history", read_balance_history, out)
    if found is None:
        return []
    source, rows = found
    out.write(f"balance history: {len(rows)} facts in {source} (read-only)\n")
    return rows


def _catalog(journal: Path, state_db: Path, out: TextIO) -> ContractCatalog:
    """Tick sizes: the simulator's list, overridden by the contracts the daemon cached from the
    gateway."""
    from risk_manager.engine.catalog import ContractCatalog
    from risk_manager.store.readonly import read_cached_contracts

    catalog = ContractCatalog.bundled()
    found = _first_found(journal, state_db, "contracts", read_cached_contracts, out)
    if found is None:
        out.write(f"contracts: the simulator's list ({len(catalog)}); no cached contracts found\n")
        return catalog
    source, contracts = found
    for contract in contracts:
        catalog.add(contract)
    out.write(f"contracts: {len(contracts)} cached in {source} (read-only)\n")
    return catalog


def replay(journal: Path, config_dir: Path | None, out: TextIO = sys.stdout) -> Counter[str]:
    """Run the replay; returns how often each rule fired."""
    from risk_manager.config.loader import load_config_dir
    from risk_manager.engine.engine import RiskEngine

    config = load_config_dir(config_dir)
    overrides = {e.id: e.overrides for e in config.accounts.accounts if e.id is not None and e.overrides}
    events = _events(journal, out)
    catalog = _catalog(journal, config.state_dir / "risk_manager.db", out)
    engine = RiskEngine(config.risk, catalog, account_overrides=overrides)
    engine.set_groups(_groups(config, out))
    history = _balance_history(journal, config.state_dir / "risk_manager.db", out)
    fired: Counter[str] = Counter()
    last: datetime | None = None
    count = 0

    def emit(actions: list[Action], now: datetime) -> None:
        for action in actions:
            fired[action.rule] += 1
            account = getattr(action, "account_id", "")
            out.write(f"{now.isoformat()}  {action.rule:<9} acct {account}  {describe(action):<40} "
                      f"{getattr(action, 'reason', '')}\n")
            engine.enforcement_done(action)  # nothing is in flight in a replay
            account = getattr(action, "account_id", None)
            if account is not None:
                emit(engine.follow_ups(account, now), now)

    for event in events:
        now = event.received_at
        if now is None:
            continue
        count += 1
        if last is None and history:  # the days before the replayed one, as the daemon had them
            first_day = engine.timeline.day_of(now)
            engine.restore_balance_history(r for r in history if r[1] < first_day)
        if last is not None and now > last:
            gap = (now - last).total_seconds()
            step = max(1.0, gap / MAX_TICKS_PER_GAP)
            t = last + timedelta(seconds=step)
            while t < now:
                emit(engine.tick(t), t)
                t += timedelta(seconds=step)
        emit(engine.handle(event, now), now)
        last = now if last is None or now > last else last
    summary = ", ".join(f"{rule}: {n}" for rule, n in sorted(fired.items())) or "nothing fired"
    out.write(f"replayed {count} events from {journal}; {summary}\n")
    return fired


def run_replay(journal: Path, config_dir: Path | None = None) -> int:
    from risk_manager.config.loader import ConfigError

    journal = Path(journal)
    if not journal.exists():
        print(f"risk-manager replay: {journal}: no such file", file=sys.stderr)
        return 2
    try:
        replay(journal, config_dir)
    except ConfigError as exc:
        print(f"risk-manager replay: {exc.render()}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bad journal line names file and line (JournalFileError)
        print(f"risk-manager replay: {exc}", file=sys.stderr)
        return 1
    return 0
