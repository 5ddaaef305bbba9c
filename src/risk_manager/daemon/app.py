"""The daemon: composition root (docs/operations.md, "Start-up, reconnect and gateway faults").

Start-up, in this order: config → store → authenticate → resolve accounts → contracts → engine with
restored locks → reconcile from REST (accounts, positions, orders, today's trades) → missed reset →
flatten locked accounts that hold anything, re-issue open flatten intents → hubs → status API →
ready. Then: every event through the pipeline; a 1 s tick; REST polling while the user hub is down
(so locks still hold); reconcile after every hub reconnect; hot reload of risk_config.yaml and
accounts.yaml (rules and accounts: tighten now, loosen at the reset; see `daemon.reload`).
Shutdown: stop intake, finish in-flight enforcement, flush, close, exit 0.

Fills made while the user hub is not subscribed (the start-up flatten runs before the hubs, a
disconnect leaves a gap) reach the engine only over REST, so every reconcile that follows a gap
reads Trade/search too; trades are de-duplicated by id, so reading one twice is harmless.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from risk_manager.clock import Clock, SystemClock
from risk_manager.config.loader import ConfigError, ConfigProblem, LoadedConfig, load_config_dir
from risk_manager.config.firm_models import AccountGroup
from risk_manager.config.models import AccountEntry
from risk_manager.daemon.adapters import EngineOwnOrders, GatewayBroker
from risk_manager.daemon.alerting import DaemonAlerts
from risk_manager.daemon.instance_lock import AlreadyRunning, InstanceLock
from risk_manager.daemon.maintenance import BACKUP_DIR_NAME, Maintenance, RetentionPolicy
from risk_manager.daemon.metrics import DaemonMetrics, observe_safely
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.daemon.provider import StatusProviderMixin
from risk_manager.daemon.reconcile import Reconciler
from risk_manager.daemon.reload import ReloadPlan, Resolved, plan_reload, resolve_entries
from risk_manager.enforcement.executor import Executor
from risk_manager.engine.actions import Action, Alert, Flatten
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.engine.groups import Group
from risk_manager.events import Account, Event, EventKind
from risk_manager.gateway.errors import LoginFailed
from risk_manager.private_files import fix_modes, private_dir, private_file
from risk_manager.store.failsafe import FailSafeLedger

log = logging.getLogger("risk_manager.daemon")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
DB_NAME = "risk_manager.db"
RUNTIME_FILE = "daemon.json"
#: A locked account that still holds something is re-checked at most this often (seconds).
LOCK_GUARD_INTERVAL_S = 5.0
#: REST requests per minute the blind poll may use (the documented limit is 200 / 60 s).
POLL_BUDGET_PER_MIN = 120.0
#: P&L is sampled (and a `pnl` message published on change) at most this often per account.
PNL_INTERVAL_S = 1.0
#: Intraday P&L samples kept per account for /status `pnl_history`.
PNL_HISTORY_LEN = 500
#: A start-up backup/prune waits this long (seconds), so start-up enforcement goes first.
MAINTENANCE_DELAY_S = 10.0
#: Start-up waits this long for the user hub; after that it polls REST until the hub connects.
HUB_CONNECT_WAIT_S = 10.0
#: Blind polls read trades from this long before the user hub went down (clock skew, late rows).
BLIND_TRADES_MARGIN = timedelta(minutes=5)
#: Configured accounts the gateway did not know are looked up again this often (seconds).
UNRESOLVED_RETRY_S = 60.0


class StartupError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class Daemon(StatusProviderMixin):
    def __init__(
        self,
        config_dir: Path | str | None,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        configure_logging: bool = True,
        console_log: bool = True,
        tick_interval_s: float = 1.0,
        reload_interval_s: float = 1.0,
        pnl_interval_s: float = PNL_INTERVAL_S,
        maintenance_delay_s: float = MAINTENANCE_DELAY_S,
        hub_connect_wait_s: float = HUB_CONNECT_WAIT_S,
    ) -> None:
        self.config_dir = Path(config_dir) if config_dir is not None else None
        self.clock: Clock = clock or SystemClock()
        self.environ = os.environ if environ is None else environ
        self._configure_logging = configure_logging
        self._console_log = console_log
        self.tick_interval_s = tick_interval_s
        self.reload_interval_s = reload_interval_s
        self.pnl_interval_s = pnl_interval_s
        self.maintenance_delay_s = maintenance_delay_s
        self.hub_connect_wait_s = hub_connect_wait_s
        self.config: LoadedConfig | None = None
        self.store: Any = None
        self.rest: Any = None
        self.engine: RiskEngine | None = None
        self.executor: Executor | None = None
        self.pipeline: Pipeline | None = None
        self.ledger: FailSafeLedger | None = None
        self.reconciler: Reconciler | None = None
        self.user_hub: Any = None
        self.market_hub: Any = None
        self.status_api: Any = None
        self.status_url: str | None = None
        self.accounts: dict[int, str | None] = {}  # id → name
        self.entries: dict[int, AccountEntry] = {}
        self.ready = asyncio.Event()
        self.started_at = self.clock.now()
        self.state = "starting"
        self._stop = asyncio.Event()
        #: Every background task (the loops, re-flattens, contract lookups, quote
        #: re-subscriptions), so that shutdown can cancel what still runs; done ones drop out.
        self._tasks: set[asyncio.Task[Any]] = set()
        self._config_stamp: tuple[Any, ...] | None = None
        #: A reloaded config with changes that wait for the reset: (config, its resolved accounts).
        self._pending: tuple[LoadedConfig, Resolved] | None = None
        #: accounts.yaml `groups` in force (a looser edit waits for the reset, as rules do).
        self._groups: list[Any] = []
        self._pending_changes: list[dict[str, Any]] = []
        #: The per-account overrides in force (some fields may be held back until the reset).
        self._overrides: dict[int, dict[str, Any]] = {}
        self._reload_lock = asyncio.Lock()
        #: Configured accounts that Account/search did not find (not guarded), and why a reload
        #: was last refused (None after a good one): both in /status.
        self.unresolved: list[str] = []
        self._unresolved_reported: set[str] = set()
        self._unresolved_retry_at = 0.0
        self.config_error: str | None = None
        self._user_down_since: float | None = None
        #: Wall-clock time the user hub went down (blind polls read trades from shortly before).
        self._user_down_at: datetime | None = None
        #: Start-up stopped waiting for the first user-hub connection: whoever connects it later
        #: must reconcile (with trades), since nothing has read REST after subscribing.
        self._first_connect_late = False
        self._blind_alerted = False
        self._blind_flattened = False
        self._fetching_contracts: set[str] = set()
        self._guard_next: dict[int, float] = {}
        self._reflattening: dict[int, asyncio.Task[Any]] = {}
        self._day: Any = None
        self._wanted_contracts: set[str] = set()
        self._quote_lock = asyncio.Lock()
        self._quote_sync_pending = False
        self.alerts: DaemonAlerts | None = None
        self.maintenance: Maintenance | None = None
        self.instance_lock: InstanceLock | None = None
        self._pnl_last: dict[int, tuple[float, float, float]] = {}
        self._pnl_history: dict[int, deque[list[Any]]] = {}
        self._pnl_day: Any = None
        self.enforcement_log: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {"polls": 0, "reloads": 0, "reload_errors": 0}
        self.metrics = DaemonMetrics(self)

    # ======================================================================================
    # lifecycle
    # ======================================================================================
    async def run(self) -> int:
        """Start, serve until asked to stop, shut down. Returns the process exit code."""
        try:
            await self.start()
        except StartupError as exc:
            log.error("start-up failed: %s", exc)
            print(f"risk-manager: {exc}", flush=True)
            await self._close_resources()
            return exc.code
        except Exception as exc:
            log.exception("start-up failed")
            print(f"risk-manager: start-up failed: {exc}", flush=True)
            await self._close_resources()
            return EXIT_FAILURE
        await self._stop.wait()
        await self.shutdown()
        return EXIT_OK

    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        t0 = time.monotonic()
        self.config = self._load_config()
        self._lock_state_dir()
        if self._configure_logging:
            from risk_manager.daemon.logs import setup_logging

            setup_logging(self.config.log_dir, console=self._console_log)
        self._make_files_private()
        for warning in self.config.warnings:
            log.warning("config: %s", warning)
        self._check_status_port()  # before the gateway: a taken port is one clear line, at once
        self._open_store()
        await self._start_alerts()
        if self.alerts is not None:
            self.alerts.store_recovered(self.store.open_report)
        await self._connect_rest()
        await self._resolve_accounts()
        catalog = await self._load_contracts()
        self._build_engine(catalog)
        await self._recover()
        await self._connect_hubs()
        if self.user_hub.connected:
            # Close the gap between the start-up REST snapshot and the subscription. Trades too:
            # the start-up flatten (and re-issued intents) fill before the hub is subscribed.
            await self.reconcile(reason="subscribed")
        await self._start_status_api()
        for loop in (self._tick_loop(), self._reload_loop(), self._watch_loop(), self._pnl_loop()):
            self._spawn(loop)
        self._start_maintenance()
        self._spawn(self._rebuild_day_history())  # background: enforcement never waits for it
        self.state = "running"
        self.ready.set()
        self._write_runtime_file()
        from risk_manager.service import notify

        notify.ready(f"guarding {len(self.accounts)} account(s)", self.environ)
        # systemd WatchdogSec: pings stop if the event loop blocks, so systemd restarts us.
        self._spawn(notify.watchdog_loop(lambda: self.state == "running", self.environ))
        log.info("ready: guarding %d account(s), status API %s, start-up took %.3f s",
                 len(self.accounts), self.status_url, time.monotonic() - t0)
        self._publish_status()

    async def shutdown(self) -> None:
        """Stop intake, finish in-flight enforcement, flush, close connections."""
        self.state = "stopping"
        log.info("shutting down")
        from risk_manager.service import notify

        notify.stopping(self.environ)
        if self.pipeline is not None:
            self.pipeline.paused = True
        for hub in (self.user_hub, self.market_hub):
            if hub is not None:
                await hub.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.reconciler is not None:
            await self.reconciler.close()
        if self.executor is not None:
            finished = await self.executor.drain(30.0)
            if not finished:
                log.error("shutdown: enforcement still in flight after 30 s (intents stay open)")
            await self.executor.close()
        if self.pipeline is not None:
            self.pipeline.save_records()  # what the engine recorded since the last batch
        if self.maintenance is not None and not await self.maintenance.wait_idle(30.0):
            log.error("shutdown: backup/prune still running after 30 s; closing the store anyway")
        await self._close_resources()
        log.info("stopped")

    async def _close_resources(self) -> None:
        for hub in (self.user_hub, self.market_hub):  # a failed start-up may have started them
            if hub is not None:
                await hub.stop()
        if self.alerts is not None:  # after the drain: the last enforcement alerts go out too
            await self.alerts.stop()
            self.alerts = None
        if self.status_api is not None:
            await self.status_api.stop()
            self.status_api = None
        if self.rest is not None:
            await self.rest.close()
            self.rest = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.instance_lock is not None and self.instance_lock.held:
            # Only the holder may remove the runtime file: a refused second daemon must not.
            if self.config is not None:
                (self.config.state_dir / RUNTIME_FILE).unlink(missing_ok=True)
            self.instance_lock.release()

    # ======================================================================================
    # start-up steps
    # ======================================================================================
    def _load_config(self) -> LoadedConfig:
        try:
            return load_config_dir(self.config_dir)
        except ConfigError as exc:
            raise StartupError(exc.render(), EXIT_CONFIG) from None

    def _lock_state_dir(self) -> None:
        assert self.config is not None
        lock = InstanceLock(self.config.state_dir)
        try:
            lock.acquire()
        except AlreadyRunning as exc:
            raise StartupError(str(exc), EXIT_CONFIG) from None
        except OSError as exc:
            raise StartupError(f"cannot create the lock file {lock.path}: {exc}") from None
        self.instance_lock = lock

    def _make_files_private(self) -> None:
        """State, logs and backups are owner-only (docs/operations.md): tighten what an older version (or
        a umask) left readable by others, and say what was changed."""
        assert self.config is not None
        fixed, errors = fix_modes(self.config.state_dir, self.config.log_dir)
        for path, old in fixed:
            log.warning("made %s owner-only (was mode %03o)", path, old)
        for error in errors:
            log.error("could not make owner-only: %s", error)

    async def _start_alerts(self) -> None:
        """Before the first enforcement, so start-up flattens are announced too. Alerts are
        optional: a dispatcher that cannot start is logged and the daemon guards without it."""
        assert self.config is not None
        alerts = DaemonAlerts(self.config.accounts.alerts, self.clock, env=self.environ,
                              names=self.accounts)
        try:
            await alerts.start()
        except Exception:
            log.exception("alerts could not start; continuing without them")
            return
        self.alerts = alerts

    def _open_store(self) -> None:
        from risk_manager.store import Store

        assert self.config is not None
        private_dir(self.config.state_dir)
        # The journal commits with synchronous=NORMAL: a WAL commit still survives kill -9 (only
        # power loss can drop the newest lines, and REST reconciliation recovers those), while an
        # fsync per event would cost 0.3-4 ms on the lock path. Locks, intents and the audit log
        # live in the main file and stay synchronous=FULL.
        self.store = Store(
            self.config.state_dir / DB_NAME, self.clock, journal_synchronous="NORMAL"
        )
        report = self.store.open_report
        if report.corrupt_moved_to:
            log.error("store was damaged (%s); moved to %s, rebuilding from REST",
                      report.corrupt_reason, report.corrupt_moved_to)
        if report.journal_corrupt_moved_to:
            log.error("event journal %s was unusable (%s); moved to %s and started anew (locks and "
                      "the audit log are in %s, unaffected)", report.journal_path,
                      report.journal_corrupt_reason, report.journal_corrupt_moved_to, report.path)

    async def _connect_rest(self) -> None:
        from risk_manager.gateway.rest import GatewayRest

        assert self.config is not None
        try:
            api_key = self.config.api_key(self.environ)
        except ConfigError as exc:
            raise StartupError(exc.render(), EXIT_CONFIG) from None
        gw = self.config.accounts.gateway
        self.rest = GatewayRest(gw.api_url, gw.username, api_key, clock=self.clock,
                                timeout=gw.request_timeout_seconds, max_retry_after=5.0)
        last: Exception | None = None
        for delay in (0.0, 0.5, 1.0, 2.0):
            await asyncio.sleep(delay)
            try:
                await self.rest.login()
                return
            except LoginFailed as exc:  # refused credentials are final
                last = exc
                break
            except Exception as exc:  # a network error may pass
                last = exc
        raise StartupError(f"cannot authenticate with {gw.api_url} as {gw.username}: {last}")

    async def _resolve_accounts(self) -> None:
        assert self.config is not None
        remote = await self.rest.search_accounts(only_active=False)
        resolved, missing = resolve_entries(self.config.enabled_accounts, remote)
        for aid, (name, entry) in resolved.items():
            self.accounts[aid] = name
            self.entries[aid] = entry
        self._note_unresolved(missing)
        if not self.accounts:
            raise StartupError("none of the configured accounts was found via Account/search: "
                               + ", ".join(missing), EXIT_CONFIG)

    def _note_unresolved(self, missing: list[str], looked_up: bool = True) -> None:
        """Log and alert once per account the gateway does not know; /status lists them all.
        (`looked_up` False: Account/search failed, so nothing is known yet; retried later.)"""
        self.unresolved = list(missing)
        self._unresolved_reported &= set(missing)  # one found meanwhile is reported again if lost
        self._unresolved_retry_at = time.monotonic() + UNRESOLVED_RETRY_S
        fresh = [label for label in missing if label not in self._unresolved_reported] if looked_up else []
        self._unresolved_reported.update(fresh)
        for label in fresh:
            log.error("account %s is not known to the gateway for this login (Account/search): NOT "
                      "guarded; check its name or id in accounts.yaml", label)
            if self.alerts is not None:
                self.alerts.config_problem(
                    f"Account {label} not found: NOT guarded",
                    f"accounts.yaml lists {label}, but Account/search of this login does not return it. "
                    "Check the name (as the platform shows it) or the id.", "critical")

    async def _load_contracts(self) -> ContractCatalog:
        cached = self.store.cached_contracts()
        if cached:
            return ContractCatalog(cached)
        try:
            contracts = await self.rest.available_contracts(live=False)
            self.store.cache_contracts(contracts)
        except Exception as exc:
            log.warning("Contract/available failed (%s); contracts are fetched one by one", exc)
            contracts = []
        return ContractCatalog(contracts)

    def _build_engine(self, catalog: ContractCatalog) -> None:
        from risk_manager.gateway.decode import merge_quote

        assert self.config is not None
        self._overrides = {aid: entry.overrides for aid, entry in self.entries.items() if entry.overrides}
        self.engine = RiskEngine(self.config.risk, catalog, account_overrides=self._overrides)
        self._groups = list(self.config.accounts.groups)
        self.engine.set_groups(self._account_groups(self._groups))
        # The executor writes through the fail-safe ledger: a failing store never stops a
        # flatten, and a lock not yet durable is retried by the tick (docs/operations.md).
        self.ledger = FailSafeLedger(self.store, self.clock, locks_in_memory=self.engine.locks.all,
                                     on_health=self._store_health_changed)
        own_orders = EngineOwnOrders(self.engine, self.clock, self._save_records)
        self.executor = Executor(GatewayBroker(self.rest), self.ledger, self.clock,
                                 on_outcome=self._on_outcome, on_done=self._on_done,
                                 own_orders=own_orders)
        self.executor.observer = self.metrics
        self.pipeline = Pipeline(self.engine, self.executor, self.clock, journal=self._journal,
                                 publish=self._publish, merge_quote=merge_quote,
                                 records=self.store.save_engine_records)
        self.pipeline.after_event = self._after_event
        self.pipeline.after_dispatch = self._after_dispatch
        self.pipeline.has_listeners = self._has_listeners
        self.reconciler = Reconciler(self.rest, self.engine, self.pipeline, self.clock, self.accounts,
                                     counters=self.counters)
        self._config_stamp = self._stamp()

    def _save_records(self) -> None:
        if self.pipeline is not None:  # always: built right after the executor that calls this
            self.pipeline.save_records()

    def _account_groups(self, specs: list[AccountGroup]) -> list[Group]:
        """accounts.yaml `groups` with members resolved to the guarded account ids (docs/rules.md)."""
        from risk_manager.engine.groups import resolve_groups

        ids: dict[str, int] = {}
        for aid, entry in self.entries.items():
            ids[str(aid)] = aid
            for name in (entry.name, self.accounts.get(aid)):
                if name:
                    ids[name.casefold()] = aid
        groups, problems = resolve_groups(specs, ids)
        for problem in problems:
            log.error(problem)
        return groups

    async def _recover(self) -> None:
        """Locks, reconcile, missed reset, flatten what a locked account still holds, intents."""
        assert self.engine is not None and self.pipeline is not None and self.executor is not None
        now = self.clock.now()
        locks = [lock for lock in self.store.active_locks() if lock.account_id in self.accounts]
        self.engine.restore_locks(locks)
        for aid in self.accounts:
            self.engine.state(aid).name = self.accounts[aid]
        # The reset: the engine starts the day containing `now`; locks whose end passed expire.
        self.pipeline.dispatch(self.engine.apply_reset(now))
        self._record_reset(now, at_start=True)
        # Before the reconcile re-reads today's trades: those handled before only rebuild state,
        # and the guard's own orders stay its own (docs/rules.md; docs/operations.md, start-up step 4).
        if self.engine.trading_day is not None and self.engine.day_start is not None:
            self.engine.restore_handled_trades(self.store.restart_handled_trade_ids(
                self.engine.trading_day - timedelta(days=1), self.engine.day_start, now))
            self.engine.restore_judged_exits(self.store.judged_exits(self.engine.trading_day - timedelta(days=1)))
        self.engine.restore_own_orders(self.store.own_orders(now - timedelta(days=2)))
        self.engine.restore_balance_history(self.store.balance_history())  # R14–R16 (docs/rules.md)
        await self.reconcile(reason="start-up")
        self.pipeline.dispatch(self.engine.tick(self.clock.now()))
        self.pipeline.dispatch(self.engine.startup_flatten(self.clock.now()))
        for intent in self.store.open_intents():
            if intent.account_id not in self.accounts or intent.kind != "flatten":
                continue
            log.warning("re-issuing open flatten intent %s for account %s", intent.id, intent.account_id)
            self.executor.resume_intent(intent.id, intent.account_id, intent.rule, intent.reason, intent.detail)

    async def _rebuild_day_history(self) -> None:
        """R15's days before today from Trade/search, where none is recorded (daemon/history.py)."""
        from risk_manager.daemon.history import rebuild_day_history

        assert self.engine is not None and self.pipeline is not None

        def warn(title: str, body: str) -> None:
            if self.alerts is not None:
                self.alerts.config_problem(title, body, "warning")

        done = await rebuild_day_history(self.rest, self.engine, self.clock.now, sorted(self.accounts),
                                         save=self.pipeline.save_records, warn=warn)
        if any(done.values()):  # a lower allowance may already be reached today
            self.pipeline.dispatch(self.engine.recheck(self.clock.now()))
            self._publish_status()

    def _record_reset(self, now: datetime, at_start: bool = False) -> None:
        assert self.engine is not None
        day = self.engine.trading_day
        if day is None:
            return
        previous = self.store.last_reset()
        if self.store.record_reset(day, self.engine.day_start or now):
            missed = at_start and previous is not None and previous < day
            self.store.audit(None, "reset", "daily_reset", "missed reset applied at start-up" if missed
                             else "daily reset", "applied", {"trading_day": day.isoformat(),
                                                             "previous": str(previous)})
            if missed:
                log.warning("applied the reset of trading day %s missed while stopped", day)
            self._publish_msg("daily_reset", None, {"trading_day": day.isoformat(), "missed": missed})

    async def _connect_hubs(self) -> None:
        from risk_manager.gateway.hub import MarketHub, UserHub

        assert self.config is not None and self.pipeline is not None
        gw = self.config.accounts.gateway
        token = self.rest.token
        self.user_hub = UserHub(
            gw.user_hub_url, token, account_ids=list(self.accounts), on_events=self._feed_guarded,
            on_disconnected=self._user_hub_down, on_reconnected=self._hub_reconnected,
            on_connected=self._user_hub_connected, clock=self.clock,
            max_record_bytes=gw.hub_max_record_bytes,
        )
        self.market_hub = MarketHub(
            gw.market_hub_url, token, contract_ids=sorted(self._wanted_contracts),
            on_events=self.pipeline.feed_many, on_reconnected=self._market_reconnected, clock=self.clock,
            max_record_bytes=gw.hub_max_record_bytes,
        )
        await self.user_hub.start()
        await self.market_hub.start()
        if not await self.user_hub.wait_connected(self.hub_connect_wait_s):
            log.error("user hub not connected after %.0f s; polling REST until it is",
                      self.hub_connect_wait_s)
            self._first_connect_late = True
            self._user_down_since = time.monotonic()
            self._user_down_at = self.clock.now()

    async def _start_status_api(self) -> None:
        from risk_manager.daemon.status_api import StatusAPI

        assert self.config is not None
        host, _, port = self.config.accounts.daemon.status_api.rpartition(":")
        self.status_api = StatusAPI(self, host=host.strip("[]"), port=int(port), clock=self.clock,
                                    password_file=self.config.dir / "admin_password.hash")
        try:
            await self.status_api.start()
        except OSError as exc:  # taken since the early check
            from risk_manager.daemon.port_owner import bind_problem

            self.status_api = None
            raise StartupError(bind_problem(host.strip("[]"), int(port), exc)) from None
        self.status_url = self.status_api.url

    def _check_status_port(self) -> None:
        from risk_manager.daemon.port_owner import bind_problem, probe

        assert self.config is not None
        host, _, port = self.config.accounts.daemon.status_api.rpartition(":")
        problem = probe(host.strip("[]"), int(port))
        if problem is not None:
            raise StartupError(bind_problem(host.strip("[]"), int(port), problem))

    def _write_runtime_file(self) -> None:
        assert self.config is not None
        path = self.config.state_dir / RUNTIME_FILE
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        private_file(tmp)
        tmp.write_text(json.dumps({"pid": os.getpid(), "status_url": self.status_url,
                                   "started_at": self.started_at.isoformat()}))
        tmp.replace(path)

    # ======================================================================================
    # reconciliation
    # ======================================================================================
    async def reconcile(self, reason: str, accounts: list[int] | None = None, *,
                        trades: bool = True, trades_since: datetime | None = None,
                        read_accounts: bool | None = None) -> None:
        """Bring the engine in line with REST (see `daemon.reconcile`)."""
        assert self.reconciler is not None
        await self.reconciler.reconcile(reason, accounts, trades=trades, trades_since=trades_since,
                                        read_accounts=read_accounts)

    def _at_risk(self, aid: int) -> bool:
        assert self.reconciler is not None
        return self.reconciler.at_risk(aid)

    # ======================================================================================
    # hub callbacks
    # ======================================================================================
    def _user_hub_up(self) -> None:
        self._user_down_since = None
        self._user_down_at = None
        self._blind_alerted = self._blind_flattened = False
        self._publish_status()

    async def _user_hub_connected(self) -> None:
        """First connection. When start-up already gave up waiting for it, nothing has read REST
        since subscribing: reconcile now, trades included (fills of the start-up flatten)."""
        late, self._first_connect_late = self._first_connect_late, False
        self._user_hub_up()
        if late:
            log.info("user hub connected after start-up: reconciling")
            await self.reconcile(reason="user hub connected late")

    def _user_hub_down(self, why: str) -> None:
        if self._user_down_since is None:
            self._user_down_since = time.monotonic()
            self._user_down_at = self.clock.now()
        log.warning("user hub down: %s; polling REST while it is", why)
        self._publish_status()

    async def _hub_reconnected(self) -> None:
        self._user_hub_up()
        log.info("user hub reconnected: reconciling")
        # Trades since the day start rather than the gap start: no clock skew to allow for, and
        # re-reading trades already counted is harmless (de-duplicated by id).
        await self.reconcile(reason="user hub reconnect")

    async def _market_reconnected(self) -> None:
        log.info("market hub reconnected")

    def _after_event(self, event: Event) -> None:
        """Market subscriptions follow positions and working orders; unknown contracts fetched."""
        cid = event.contract_id
        if not cid or event.kind not in (EventKind.POSITION, EventKind.ORDER):
            return
        if self.engine is not None and cid not in self.engine.catalog and cid not in self._fetching_contracts:
            self._fetching_contracts.add(cid)
            self._spawn(self._fetch_contract(cid))
        in_use = self._contract_in_use(cid)
        if in_use != (cid in self._wanted_contracts):
            if in_use:
                self._wanted_contracts.add(cid)
            else:
                self._wanted_contracts.discard(cid)
            if self.market_hub is not None and not self._quote_sync_pending:
                self._quote_sync_pending = True
                self._spawn(self._sync_quotes())

    def _contract_in_use(self, cid: str) -> bool:
        """A position or working order in `cid` on any guarded account."""
        assert self.engine is not None
        for aid in self.accounts:
            state = self.engine.state(aid)
            if cid in state.positions or any(o.contract_id == cid for o in state.orders.values()):
                return True
        return False

    async def _sync_quotes(self) -> None:
        """Bring the market hub's quote subscriptions in line with `_wanted_contracts`; one at a
        time, so a subscribe and the unsubscribe that follows it reach the gateway in order."""
        async with self._quote_lock:
            self._quote_sync_pending = False
            current = self.market_hub.contract_ids
            added = self._wanted_contracts - current
            removed = current - self._wanted_contracts
            try:
                if added:
                    await self.market_hub.add_contracts(sorted(added))
                if removed:
                    log.info("quotes no longer needed for %s: unsubscribing", ", ".join(sorted(removed)))
                    await self.market_hub.remove_contracts(sorted(removed))
            except Exception as exc:  # the hub re-subscribes its current set after a reconnect
                log.warning("market subscription update failed: %s", exc)

    async def _fetch_contract(self, cid: str) -> None:
        assert self.engine is not None and self.pipeline is not None
        try:
            contract = await self.rest.contract_by_id(cid)
            self.engine.catalog.add(contract)
            self.store.cache_contracts([contract])
            self.pipeline.dispatch(self.engine.recheck(self.clock.now()))
        except Exception as exc:
            log.warning("contract %s unknown: %s", cid, exc)
        finally:
            self._fetching_contracts.discard(cid)

    # ======================================================================================
    # background loops
    # ======================================================================================
    async def _tick_loop(self) -> None:
        assert self.engine is not None and self.pipeline is not None
        self._day = self.engine.trading_day
        while True:
            await asyncio.sleep(self.tick_interval_s)
            try:
                now = self.clock.now()
                self.ledger.retry()  # type: ignore[union-attr]  # never raises; no-op when healthy
                self.pipeline.dispatch(self.engine.tick(now))
                # Engine records that no event batch saved (R14's intraday high moves on quotes,
                # which save nothing): at most one tick of them is lost to a kill -9.
                self.pipeline.save_records()
                if self.engine.trading_day != self._day:  # rolled here or by an event
                    self._day = self.engine.trading_day
                    self.reconciler.new_trading_day()  # type: ignore[union-attr]
                    try:
                        self._record_reset(now)
                    except Exception:  # a failing store must not cost the reset's other steps
                        log.exception("recording the daily reset failed")
                    self._apply_pending_at_reset(now)
                    self._maintain_after_reset()
                self._guard_locked_accounts()
            except Exception:
                log.exception("tick failed")

    def _start_maintenance(self) -> None:
        """Nightly backup + retention (off the event loop); at start-up only when it is due."""
        assert self.config is not None and self.engine is not None
        self.maintenance = Maintenance(
            self.store, self.clock, self.config.state_dir / BACKUP_DIR_NAME,
            RetentionPolicy.from_config(self.config.accounts.daemon))
        if self.maintenance.due_at_startup(self.engine.trading_day, self.clock.now()):
            self._spawn(self._maintain_later(self.maintenance_delay_s))

    async def _maintain_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        m, engine = self.maintenance, self.engine
        # Asked again: a reset during the delay may have done today's run already.
        if m is not None and engine is not None and m.due_at_startup(engine.trading_day, self.clock.now()):
            m.start(engine.trading_day, "start-up")

    def _maintain_after_reset(self) -> None:
        if self.maintenance is not None and self.engine is not None:
            day = self.engine.trading_day
            if self.maintenance.due_for_day(day):
                self.maintenance.start(day, "daily reset")

    def _guard_locked_accounts(self) -> None:
        """A locked account still holding something (a flatten failed, an event was missed) is
        re-checked against REST and flattened again; at most every few seconds per account, so a
        stale view cannot burn the rate budget."""
        assert self.engine is not None and self.executor is not None
        now = time.monotonic()
        for aid in self.accounts:
            running = self._reflattening.get(aid)
            if (self.engine.needs_flatten(aid) and not self.executor.busy(aid)
                    and now >= self._guard_next.get(aid, 0.0) and (running is None or running.done())):
                self._guard_next[aid] = now + LOCK_GUARD_INTERVAL_S
                # One at a time per account: while its reconcile waits (the lock, the rate
                # budget), more of them would only queue up behind it.
                self._reflattening[aid] = self._spawn(self._reflatten(aid))

    def _store_health_changed(self, ok: bool, detail: str) -> None:
        """The ledger saw the store fail or recover: show it at once and alert."""
        if not ok:
            log.error("store failing (%s): locks are enforced from memory and retried", detail)
        if self.alerts is not None:
            self.alerts.store_health(ok, detail)
        self._publish_status()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _reflatten(self, aid: int) -> None:
        assert self.engine is not None and self.pipeline is not None
        await self.reconcile(reason="locked account still holds positions/orders", accounts=[aid],
                             trades=False)
        if self.engine.needs_flatten(aid) and not self.executor.busy(aid):  # type: ignore[union-attr]
            lock = self.engine.locks.blocking_lock(aid)
            rule = lock.rule if lock is not None else "lock_gate"
            self.pipeline.dispatch([Flatten(aid, rule, "Account locked: re-flattening what remains")])

    async def _watch_loop(self) -> None:
        """While the user hub is down: poll REST so the kill switch still sees what appears."""
        assert self.config is not None and self.engine is not None
        cfg = self.config.accounts.daemon
        interval = cfg.poll_interval_seconds
        while True:
            await asyncio.sleep(interval)
            interval = cfg.poll_interval_seconds
            if self._user_down_since is None or (self.user_hub is not None and self.user_hub.connected):
                if self.user_hub is not None and self.user_hub.connected:
                    self._user_down_since = self._user_down_at = None
                continue
            try:
                watch = [aid for aid in self.accounts if self._at_risk(aid)]
                # Account/search plus three reads per watched account; stay well inside the
                # 200/60 s REST budget. Account/search adds a quiet account that starts trading
                # while we are blind (its balance moves with the first fill's fees).
                interval = max(interval, (1 + len(watch) * 3) * 60.0 / POLL_BUDGET_PER_MIN)
                self.counters["polls"] += 1
                # Trades over the gap too, so a loss realized while blind still trips R03.
                since = self._user_down_at - BLIND_TRADES_MARGIN if self._user_down_at else None
                await self.reconcile(reason="poll while user hub down", accounts=watch,
                                     trades_since=since, read_accounts=True)
                if self._user_down_since is None:  # the hub came back during the poll
                    continue
                blind_for = time.monotonic() - self._user_down_since
                if blind_for >= cfg.blind_timeout_seconds and not self._blind_alerted:
                    self._blind_alerted = True
                    self._alert_blind(blind_for)
                if (blind_for >= cfg.blind_timeout_seconds and cfg.flatten_when_blind
                        and not self._blind_flattened):
                    self._blind_flattened = True
                    self.pipeline.dispatch([Flatten(aid, "blind", f"User hub down for {blind_for:.0f} s")  # type: ignore[union-attr]
                                            for aid in watch])
            except Exception:
                log.exception("poll while blind failed")

    def _alert_blind(self, blind_for: float) -> None:
        assert self.engine is not None and self.config is not None
        log.error("user hub down for %.0f s (blind_timeout_seconds reached)", blind_for)
        self.pipeline.dispatch([Alert(aid, "blind", f"User hub down for {blind_for:.0f} s", "critical")  # type: ignore[union-attr]
                                for aid in self.accounts])
        if self.alerts is None:
            return
        flattening = self.config.accounts.daemon.flatten_when_blind
        for aid in self.accounts:
            held = sum(1 for p in self.engine.state(aid).positions.values() if p.size)
            if held:
                self.alerts.feed_blind(aid, blind_for, held, flattening)

    async def _pnl_loop(self) -> None:
        """Sample each account's P&L: `pnl` messages on change, /status `pnl_history`, and the
        80 % limit warnings (from the same snapshot's rule rows)."""
        while True:
            await asyncio.sleep(self.pnl_interval_s)
            try:
                self._sample_accounts(self.clock.now())
            except Exception:
                log.exception("P&L sampling failed")

    def _sample_accounts(self, now: datetime) -> None:
        assert self.engine is not None
        day = self.engine.trading_day
        if day != self._pnl_day:
            self._pnl_day = day
            self._pnl_history.clear()
            self._pnl_last.clear()
        for aid in self.accounts:
            snap = self.engine.snapshot(aid, now)
            if self.alerts is not None:
                self.alerts.on_snapshot(aid, snap.get("rules", []), day, now)
            figures = (snap["realized_pnl"], snap["unrealized_pnl"], snap["total_pnl"])
            previous = self._pnl_last.get(aid)
            if figures == previous:
                continue
            self._pnl_last[aid] = figures
            history = self._pnl_history.setdefault(aid, deque(maxlen=PNL_HISTORY_LEN))
            if previous is None or figures[2] != previous[2]:
                history.append([now.isoformat(), figures[2]])
            self._publish_msg("pnl", aid, {"realized_pnl": figures[0], "unrealized_pnl": figures[1],
                                           "total_pnl": figures[2]})

    def pnl_history(self, account_id: int) -> list[list[Any]]:
        return list(self._pnl_history.get(account_id, ()))

    # ======================================================================================
    # config hot reload
    # ======================================================================================
    def _stamp(self) -> tuple[Any, ...]:
        """Both files' (mtime, size): a change of either is reloaded."""
        assert self.config is not None
        out: list[Any] = []
        for path in (self.config.risk_path, self.config.accounts_path):
            try:
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    async def _reload_loop(self) -> None:
        """Never ends while the daemon runs: whatever one reload raises, the next change is read."""
        while True:
            await asyncio.sleep(self.reload_interval_s)
            try:
                stamp = self._stamp()
                retry = bool(self.unresolved) and time.monotonic() >= self._unresolved_retry_at
                if stamp != self._config_stamp or retry:
                    self._config_stamp = stamp
                    await self.reload_config(by="file change" if not retry else "unresolved account retry")
            except ConfigError:
                pass  # logged and alerted by reload_config; the last good config stays
            except Exception:
                self.counters["reload_errors"] += 1
                log.exception("config reload failed; the last good config stays")

    async def reload_config(self, by: str, apply_now: bool = False) -> dict[str, Any]:
        """Re-read both files (parsed in a thread: a hostile file must not stall enforcement) and
        apply them: tighten now, loosen at the next reset unless `apply_now` (admin password).
        An unusable config raises ConfigError and the last good config stays."""
        assert self.config is not None and self.engine is not None and self.pipeline is not None
        async with self._reload_lock:
            try:
                fresh = await asyncio.to_thread(load_config_dir, self.config.dir)
            except ConfigError as exc:
                self._reload_rejected(by, exc)
                raise
            except Exception as exc:  # the loader turns its failures into ConfigError; belt and braces
                error = ConfigError([ConfigProblem(str(self.config.dir), None, None, "",
                                                   f"reload failed: {type(exc).__name__}: {str(exc)[:200]}")],
                                    summary=f"invalid configuration in {self.config.dir}")
                self._reload_rejected(by, error)
                raise error from None
            target, missing, looked_up = await self._resolve(fresh)
            self.config_error = None
            self._note_unresolved(missing, looked_up)
            self.counters["reloads"] += 1
            now = self.clock.now()
            plan = self._apply_config(fresh, target, apply_now, now)
            self._pending = (fresh, target) if plan.waits else None
            self._pending_changes = plan.pending
            self.store.audit(None, "config", "reload", by, "applied",
                             {"pending": self._pending_changes, "apply_now": apply_now,
                              "added": sorted(plan.add), "removed": plan.remove, "unresolved": missing})
            log.info("config reloaded (%s): %d looser change(s) pending until the reset%s", by,
                     len(self._pending_changes),
                     "".join(f"; now guarding {self.accounts[a] or a}" for a in plan.add))
            self._publish_status()
            return {"applied": True, "pending": self.pending_changes(now), "unresolved_accounts": missing}

    def _reload_rejected(self, by: str, exc: ConfigError) -> None:
        self.counters["reload_errors"] += 1
        text = exc.render()
        self.config_error = text
        log.error("config reload rejected, last good config stays:\n%s", text)
        try:
            self.store.audit(None, "config", "reload", "rejected", "failed", {"errors": text, "by": by})
        except Exception:
            log.exception("could not audit the rejected reload")
        if self.alerts is not None:
            shown = "\n".join(str(p) for p in exc.problems[:5])
            more = f"\n(+{len(exc.problems) - 5} more)" if len(exc.problems) > 5 else ""
            self.alerts.config_problem("Config change rejected: the last good config stays",
                                       shown + more, "warning")

    async def _resolve(self, fresh: LoadedConfig) -> tuple[Resolved, list[str], bool]:
        """The accounts the reloaded config guards, the entries not found, and whether the gateway
        was asked: entries of guarded accounts resolve locally, Account/search only for new ones."""
        entries = fresh.enabled_accounts
        resolved, missing = resolve_entries(entries, [Account(aid, name) for aid, name in self.accounts.items()])
        if not missing:
            return resolved, [], True
        try:
            remote = await self.rest.search_accounts(only_active=False)
        except Exception as exc:
            log.warning("Account/search failed (%s): %s not guarded yet; retried in %.0f s", exc,
                        ", ".join(missing), UNRESOLVED_RETRY_S)
            return resolved, missing, False
        return (*resolve_entries(entries, remote), True)

    def _apply_config(self, fresh: LoadedConfig, target: Resolved, apply_now: bool, now: datetime) -> ReloadPlan:
        assert self.engine is not None and self.pipeline is not None
        plan = plan_reload(current_base=self.engine.config, current_overrides=self._overrides,
                           current_config=self.engine.account_config, guarded=self.accounts,
                           target_base=fresh.risk, target=target, apply_now=apply_now,
                           current_groups=self._groups, target_groups=fresh.accounts.groups)
        for aid in plan.remove:
            log.warning("account %s is no longer guarded (removed from accounts.yaml)", self.accounts[aid] or aid)
            del self.accounts[aid]
            self.entries.pop(aid, None)
            self.engine.drop_account(aid)
        for aid, (name, entry) in target.items():
            if aid in self.accounts or aid in plan.add:
                self.accounts[aid] = name
                self.entries[aid] = entry
        self._overrides = plan.overrides
        # Groups first: the re-examination below judges them under the limits now in force.
        self._groups = plan.groups
        self.engine.set_groups(self._account_groups(plan.groups))
        self.pipeline.dispatch(self.engine.update_config(plan.base, now, account_overrides=plan.overrides))
        for aid in plan.add:
            self.engine.state(aid).name = self.accounts[aid]
            self.engine.restore_locks([lk for lk in self.store.active_locks() if lk.account_id == aid])
        if plan.add or plan.remove:
            self._spawn(self._follow_accounts(list(plan.add)))
        return plan

    async def _follow_accounts(self, added: list[int]) -> None:
        """Hub subscriptions for the accounts now guarded; an added account is read in full (and
        flattened at once if a lock restored for it finds it holding anything)."""
        if self.user_hub is not None:
            await self.user_hub.set_accounts(list(self.accounts))
        added = [aid for aid in added if aid in self.accounts]
        if not added:
            return
        await self.reconcile(reason="account added", accounts=added)
        assert self.engine is not None and self.pipeline is not None
        for aid in added:
            if self.engine.needs_flatten(aid):
                lock = self.engine.locks.blocking_lock(aid)
                rule = lock.rule if lock is not None else "lock_gate"
                self.pipeline.dispatch([Flatten(aid, rule, "Account locked: flattening what it holds")])

    def _apply_pending_at_reset(self, now: datetime) -> None:
        if self._pending is None:
            return
        log.info("daily reset: applying %d pending looser config change(s)", len(self._pending_changes))
        fresh, target = self._pending
        self._pending = None
        self._pending_changes = []
        self._apply_config(fresh, target, True, now)

    def _feed_guarded(self, events: Sequence[Event]) -> None:
        """User-hub events of guarded accounts only (SubscribeAccounts reports every account of the
        login; one not or no longer guarded must never be acted on)."""
        guarded = self.accounts
        for event in events:
            if event.account_id is not None and event.account_id not in guarded:
                events = [e for e in events if e.account_id is None or e.account_id in guarded]
                break
        self.pipeline.feed_many(events)  # type: ignore[union-attr]

    # ======================================================================================
    # sinks
    # ======================================================================================
    def _journal(self, events: list[Event]) -> None:
        if len(events) == 1:
            self.store.append_event(events[0])
        else:
            self.store.append_events(events)

    def _on_outcome(self, record: dict[str, Any]) -> None:
        observe_safely(self.metrics.outcome, record)
        self.enforcement_log.append(record)
        del self.enforcement_log[:-200]
        self._publish_msg("enforcement", record["account_id"], record)

    def _after_dispatch(self, actions: Sequence[Action]) -> None:
        observe_safely(self.metrics.locks, actions)
        if self.alerts is not None:
            self.alerts.on_actions(actions)

    def _on_done(self, action: Action, ok: bool) -> None:
        if self.engine is not None:
            self.engine.enforcement_done(action)
            account = getattr(action, "account_id", None)
            if account is not None and self.pipeline is not None:
                owed = self.engine.follow_ups(account, self.clock.now(), failed=not ok)
                if owed:
                    self.pipeline.dispatch(owed)

    def _has_listeners(self) -> bool:
        return self.status_api is not None and self.status_api.client_count > 0

    def _publish(self, msg: dict[str, Any]) -> None:
        if self.status_api is not None:
            self.status_api.publish(msg)

    def _publish_msg(self, kind: str, account_id: int | None, data: dict[str, Any]) -> None:
        self._publish({"type": kind, "account_id": account_id, "ts": self.clock.now().isoformat(),
                       "data": data})

    def _publish_status(self) -> None:
        self._publish_msg("daemon_status", None, {"state": self.state, **self.connections()})


__all__ = ["Daemon", "StartupError", "EXIT_OK", "EXIT_CONFIG", "EXIT_FAILURE"]
