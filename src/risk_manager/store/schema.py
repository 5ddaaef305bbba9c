"""Numbered schema migrations, tracked in ``PRAGMA user_version`` of each file.

The store is two SQLite files: the core file (locks, audit, intents, trading-day state, admin;
small, fully integrity-checked at every open, backed up nightly) and the journal file (the
large, append-only event journal). ``MIGRATIONS[i]`` / ``JOURNAL_MIGRATIONS[i]`` bring a file
from version ``i`` to ``i + 1``. Append new scripts at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

JOURNAL_MIGRATIONS: tuple[str, ...] = (
    # 1: the append-only event journal (AUTOINCREMENT: a seq is never reused after a prune).
    """
    CREATE TABLE journal (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at TEXT NOT NULL,
        kind        TEXT NOT NULL,
        account_id  INTEGER,
        contract_id TEXT,
        payload     TEXT NOT NULL
    );
    CREATE INDEX journal_by_account ON journal (account_id, seq) WHERE account_id IS NOT NULL;
    """,
)

MIGRATIONS: tuple[str, ...] = (
    # 1: key/value meta.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: locks (one row per account and rule) and their history.
    """
    CREATE TABLE locks (
        account_id INTEGER NOT NULL,
        rule       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        reason     TEXT NOT NULL,
        ends       TEXT NOT NULL,
        until      TEXT,
        created_at TEXT NOT NULL,
        symbol     TEXT,
        set_by     TEXT NOT NULL,
        PRIMARY KEY (account_id, rule)
    );
    CREATE TABLE lock_history (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        rule       TEXT NOT NULL,
        change     TEXT NOT NULL CHECK (change IN ('set', 'cleared')),
        kind       TEXT NOT NULL,
        until      TEXT,
        by         TEXT NOT NULL,
        why        TEXT NOT NULL,
        at         TEXT NOT NULL
    );
    CREATE INDEX lock_history_by_account ON lock_history (account_id, id);
    """,
    # 3: enforcement audit log and the crash-safety intents it refers to.
    """
    CREATE TABLE intents (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id   INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        rule         TEXT NOT NULL,
        reason       TEXT NOT NULL,
        detail       TEXT NOT NULL DEFAULT '{}',
        created_at   TEXT NOT NULL,
        completed_at TEXT,
        outcome      TEXT
    );
    CREATE INDEX intents_open ON intents (id) WHERE completed_at IS NULL;
    CREATE TABLE audit (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        ts                TEXT NOT NULL,
        account_id        INTEGER,
        rule              TEXT NOT NULL,
        action            TEXT NOT NULL,
        reason            TEXT NOT NULL,
        phase             TEXT NOT NULL,
        detail            TEXT NOT NULL DEFAULT '{}',
        event_received_ns INTEGER,
        decided_ns        INTEGER,
        sent_ns           INTEGER,
        response_ns       INTEGER,
        confirmed_ns      INTEGER,
        intent_id         INTEGER REFERENCES intents (id) ON DELETE SET NULL
    );
    CREATE INDEX audit_by_account ON audit (account_id, id);
    CREATE INDEX audit_by_intent ON audit (intent_id) WHERE intent_id IS NOT NULL;
    """,
    # 4: trading-day state: daily P&L, trades seen, resets, contract cache.
    """
    CREATE TABLE daily_pnl (
        account_id  INTEGER NOT NULL,
        trading_day TEXT NOT NULL,
        realized    REAL NOT NULL DEFAULT 0,
        trade_count INTEGER NOT NULL DEFAULT 0,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (account_id, trading_day)
    );
    CREATE TABLE trades_seen (
        trade_id    INTEGER PRIMARY KEY,
        account_id  INTEGER NOT NULL,
        trading_day TEXT NOT NULL,
        pnl         REAL,
        voided      INTEGER NOT NULL DEFAULT 0,
        seen_at     TEXT NOT NULL
    );
    CREATE INDEX trades_seen_by_day ON trades_seen (trading_day);
    CREATE TABLE resets (
        trading_day TEXT PRIMARY KEY,
        at          TEXT NOT NULL
    );
    CREATE TABLE contracts (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        tick_size       REAL NOT NULL,
        tick_value      REAL NOT NULL,
        symbol_id       TEXT,
        description     TEXT,
        active_contract INTEGER NOT NULL DEFAULT 1,
        cached_at       TEXT NOT NULL
    );
    """,
    # 5: admin sessions (token hashes only, never tokens) and login attempts.
    """
    CREATE TABLE admin_sessions (
        token_sha256 TEXT PRIMARY KEY,
        created_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL,
        revoked_at   TEXT
    );
    CREATE TABLE login_attempts (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     TEXT NOT NULL,
        ok     INTEGER NOT NULL,
        source TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX login_attempts_by_time ON login_attempts (at);
    """,
    # 6: the orders the guard placed itself (never cancelled by it; their fills are not the
    # trader's trades). A restart must still know them.
    """
    CREATE TABLE own_orders (
        order_id    INTEGER PRIMARY KEY,
        account_id  INTEGER NOT NULL,
        contract_id TEXT,
        kind        TEXT NOT NULL CHECK (kind IN ('close', 'stop')),
        placed_at   TEXT NOT NULL
    );
    CREATE INDEX own_orders_by_time ON own_orders (placed_at);
    """,
    # 7: the balance history the firm-account guards judge (docs/rules.md): per account and trading
    # day the balance it started with, the balance at the reset that ended it, the highest equity
    # seen, the day's net P&L (R15). Rebuilt from REST when missing; one row per account and day.
    """
    CREATE TABLE balance_history (
        account_id   INTEGER NOT NULL,
        trading_day  TEXT NOT NULL,
        start_of_day REAL,
        end_of_day   REAL,
        high_equity  REAL,
        net_pnl      REAL,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (account_id, trading_day)
    );
    """,
    # 8: R07's judged exit orders (the worst sum judged): after a restart the exit rebuilt from its
    # fills is known as judged, so the restart never judges it a second time.
    """
    CREATE TABLE exits_judged (
        account_id  INTEGER NOT NULL,
        exec_key    TEXT NOT NULL,
        trading_day TEXT NOT NULL,
        worst       REAL NOT NULL,
        judged_at   TEXT NOT NULL,
        PRIMARY KEY (account_id, exec_key)
    );
    CREATE INDEX exits_judged_by_day ON exits_judged (trading_day);
    """,
)

LATEST_VERSION = len(MIGRATIONS)
JOURNAL_LATEST_VERSION = len(JOURNAL_MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(
    conn: sqlite3.Connection,
    target: int | None = None,
    migrations: tuple[str, ...] = MIGRATIONS,
) -> int:
    """Apply `migrations` up to `target` (default: all), one transaction each. Returns the
    version found before.

    `conn` must be in autocommit mode (isolation_level=None). A database newer than this code is
    refused rather than touched.
    """
    latest = len(migrations)
    target = latest if target is None else target
    found = schema_version(conn)
    if found > latest:
        raise RuntimeError(
            f"database schema version {found} is newer than this program supports "
            f"({latest}); upgrade risk-manager or restore a backup"
        )
    for version in range(found, target):
        script = migrations[version]
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return found
