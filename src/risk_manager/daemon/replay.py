"""`risk-manager replay JOURNAL`: re-run recorded events through a fresh engine with the current
config and print what would have fired (time, rule, action, reason). Nothing is sent anywhere.

JOURNAL is a JSON Lines file (`Store.export_journal`) or the daemon's SQLite store itself. Time is
the recorded receive time of each event; the 1 s tick runs in between (time-based rules: R08
grace, R09 session end, lock expiry, the daily reset).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

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


def _events(journal: Path) -> Iterator[Event]:
    if journal.suffix in (".db", ".sqlite", ".sqlite3"):
        from risk_manager.store import Store

        store = Store(journal)
        try:
            yield from store.iter_events()
        finally:
            store.close()
        return
    from risk_manager.store import read_journal_file

    def bad_line(error: Exception) -> None:
        print(f"skipped: {error}", file=sys.stderr)

    yield from read_journal_file(journal, on_bad_line=bad_line)


def replay(journal: Path, config_dir: Path | None, out: TextIO = sys.stdout) -> Counter[str]:
    """Run the replay; returns how often each rule fired."""
    from risk_manager.config.loader import load_config_dir
    from risk_manager.engine.catalog import ContractCatalog
    from risk_manager.engine.engine import RiskEngine

    config = load_config_dir(config_dir)
    overrides = {e.id: e.overrides for e in config.accounts.accounts if e.id is not None and e.overrides}
    catalog = ContractCatalog.bundled()
    state_db = config.state_dir / "risk_manager.db"
    if state_db.exists():  # contracts the daemon cached (tick sizes of the real gateway)
        from risk_manager.store import Store

        store = Store(state_db)
        try:
            for contract in store.cached_contracts():
                catalog.add(contract)
        finally:
            store.close()
    engine = RiskEngine(config.risk, catalog, account_overrides=overrides)
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

    for event in _events(journal):
        now = event.received_at
        if now is None:
            continue
        count += 1
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
    out.write(f"replayed {count} events; {summary}\n")
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
