"""RiskEngine: normalized events + an injected `now` in, actions out. No I/O, deterministic.

Per event: fold it into the account state → the kill-switch gate (returns before any rule runs when
a lock applies) → the rules that listen to that event kind → side effects on the engine's own
bookkeeping (locks set, in-flight marks, alert de-duplication) → the actions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, cast

from risk_manager.config.models import RULE_IDS, RULE_MODELS, RiskConfig
from risk_manager.engine.actions import (
    BROKER_ACTIONS,
    Action,
    Alert,
    CancelOrder,
    ClearLock,
    Flatten,
    Lock,
    LockEnd,
    LockKind,
    ModifyStop,
    PlaceStop,
    SetLock,
)
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.context import RuleContext
from risk_manager.engine.gate import InFlight, gate, inflight_key
from risk_manager.engine.locks import LockManager
from risk_manager.engine.own_orders import (
    HandledTradeRecord,
    JudgedExitRecord,
    OwnKind,
    OwnOrderRecord,
    exec_key_of_text,
    exec_key_text,
    is_guard_tag,
)
from risk_manager.engine.firm import BalanceRecord
from risk_manager.engine.groups import Group, judge as judge_group
from risk_manager.engine.reduce_only import respond as reduce_only_response
from risk_manager.engine.rules import (
    ACCOUNT_RULES, LOCKING_RULES, RECHECK_RULES, RULES, TICK_RULES, TRIGGERS, Evaluate,
)
from risk_manager.engine.rules import r10_auth_loss_guard
from risk_manager.engine.state import AccountState, Change, MarketState
from risk_manager.engine.timeline import Timeline
from risk_manager.events import (
    STOP_ORDER_TYPES,
    WORKING_ORDER_STATUSES,
    Account,
    Event,
    EventKind,
    Order,
    Trade,
)

#: The same alert (account, rule, what it would have done) is repeated at most this often.
ALERT_REPEAT = timedelta(seconds=60)
MANUAL_RULE = "manual"
#: Records waiting for `take_records` are bounded (the daemon takes them after every batch).
UNSAVED_MAX = 100_000
_MARKET_KINDS = (EventKind.QUOTE, EventKind.MARKET_TRADE)
_NEEDS_MARKS = (EventKind.POSITION, EventKind.TRADE)


class RiskEngine:
    def __init__(
        self,
        config: RiskConfig,
        catalog: ContractCatalog,
        *,
        calendar: Any = None,
        account_overrides: dict[int, dict[str, Any]] | None = None,
        inflight_ttl_s: float = 30.0,
    ) -> None:
        if calendar is None:
            from risk_manager.schedule.calendar import load_calendar

            calendar = load_calendar()
        self.calendar = calendar
        self.catalog = catalog
        self.market = MarketState()
        self.locks = LockManager()
        self.inflight = InFlight(timedelta(seconds=inflight_ttl_s))
        self.accounts: dict[int, AccountState] = {}
        self._holders: dict[str, set[int]] = {}  # contract → accounts holding a position in it
        self._contexts: dict[int, dict[str, RuleContext]] = {}
        #: event kind → account → the enabled rules listening to that kind, with their contexts
        #: (built once per config, so the per-event loop does no name lookups or enabled checks).
        self._plans: dict[EventKind, dict[int, tuple[tuple[Evaluate, RuleContext], ...]]] = {}
        #: The same, restricted to the rules that set locks (what still runs while locked).
        self._lock_plans: dict[EventKind, dict[int, tuple[tuple[Evaluate, RuleContext], ...]]] = {}
        self._alerted: dict[tuple[Any, ...], datetime] = {}
        self.trading_day: date | None = None
        self.day_start: datetime | None = None
        self.day_end: datetime | None = None
        self.last_reset_at: datetime | None = None
        self._overrides: dict[int, dict[str, Any]] = dict(account_overrides or {})
        #: Account groups sharing limits (docs/rules.md), and each member's groups.
        self._group_of: dict[int, tuple[Group, ...]] = {}
        self.groups: tuple[Group, ...] = ()
        #: Own orders bound and trades handled since the last `take_records` (to persist).
        #: Bounded: a caller that never takes them (replay, benchmarks) must not grow memory.
        self._unsaved: deque[OwnOrderRecord | HandledTradeRecord | BalanceRecord] = deque(maxlen=UNSAVED_MAX)
        self._install(config)

    # -- configuration -----------------------------------------------------------------------
    def _install(self, config: RiskConfig) -> None:
        self.config = config
        self.timeline = Timeline(config.trading_day, self.calendar)
        self._contexts.clear()
        self._plans.clear()
        self._lock_plans.clear()
        for acct, state in self.accounts.items():
            state.pnl_basis = self.account_config(acct).pnl_basis

    def account_config(self, account_id: int) -> RiskConfig:
        return self.config.with_overrides(self._overrides.get(account_id))

    def contexts(self, account_id: int) -> dict[str, RuleContext]:
        ctx = self._contexts.get(account_id)
        if ctx is None:
            cfg = self.account_config(account_id)
            ctx = self._contexts[account_id] = {
                name: RuleContext(RULE_IDS[name], name, cfg.rules.by_name(name), cfg, self.catalog,
                                  self.market, self.locks, self.timeline)
                for name in RULE_MODELS
            }
        return ctx

    def _plan(self, account_id: int, kind: EventKind) -> tuple[tuple[Evaluate, RuleContext], ...]:
        plans = self._plans.setdefault(kind, {})
        plan = plans.get(account_id)
        if plan is None:
            ctx = self.contexts(account_id)
            plan = plans[account_id] = tuple(
                (RULES[name], ctx[name]) for name in TRIGGERS.get(kind, ()) if ctx[name].config.enabled
            )
        return plan

    def _lock_plan(self, account_id: int, kind: EventKind) -> tuple[tuple[Evaluate, RuleContext], ...]:
        plans = self._lock_plans.setdefault(kind, {})
        plan = plans.get(account_id)
        if plan is None:
            plan = plans[account_id] = tuple(
                (evaluate, ctx) for evaluate, ctx in self._plan(account_id, kind) if ctx.name in LOCKING_RULES
            )
        return plan

    def update_config(
        self, new_config: RiskConfig, now: datetime, account_overrides: dict[int, dict[str, Any]] | None = None
    ) -> list[Action]:
        """Apply a config now (the caller decides what waits for the reset) and re-examine every
        account against it: a tightened limit acts at once; R11 symbol locks of unlisted symbols end."""
        if account_overrides is not None:
            self._overrides = dict(account_overrides)
        trading_day_changed = new_config.trading_day != self.config.trading_day
        self._install(new_config)
        if trading_day_changed:
            self.trading_day = None  # re-derive the day bounds under the new reset time
        out = self._roll(now)
        for acct in sorted(self.accounts):
            sb = self.contexts(acct)["symbol_blocks"].config
            out += self.locks.on_blocked_symbols(acct, set(sb.blocked_symbols) if sb.enabled else set())
        # Groups too: a tightened group limit (set_groups before this) acts at once.
        return self._finish(out + self._recheck_all(now) + self._judge_groups(sorted(self._group_of), now), now)

    # -- state access --------------------------------------------------------------------------
    def state(self, account_id: int) -> AccountState:
        state = self.accounts.get(account_id)
        if state is None:
            state = self.accounts[account_id] = AccountState(
                account_id, self.account_config(account_id).pnl_basis
            )
            if self.day_start is not None:
                state.start_day(self.day_start)
        return state

    def drop_account(self, account_id: int) -> None:
        """Stop tracking an account (no longer guarded): its state, rule contexts and override go;
        its locks stay with the lock manager and the store, so guarding it again restores them."""
        self.accounts.pop(account_id, None)
        self._contexts.pop(account_id, None)
        self._overrides.pop(account_id, None)
        for plans in self._plans.values():
            plans.pop(account_id, None)
        for cid in [c for c, holders in self._holders.items() if account_id in holders]:
            self._holders[cid].discard(account_id)
            if not self._holders[cid]:
                del self._holders[cid]

    # -- events ----------------------------------------------------------------------------------
    def handle(self, event: Event, now: datetime) -> list[Action]:
        start, end = self.day_start, self.day_end
        out = self._roll(now) if end is None or start is None or now >= end or now < start else []
        kind = event.kind
        if kind in _MARKET_KINDS:
            if not self.market.apply(event, now):
                return out
            cid = event.contract_id or ""
            holders = self._holders.get(cid)
            if holders:
                # One mark for every holder: the quote cache is shared and the age limit is
                # config-wide (account overrides only touch `rules`).
                contract = self.catalog.contract(cid)
                mark = self.market.mark(cid, now, self.config.max_quote_age_seconds)
                is_locked = self.locks.is_locked
                plans = self._plans.get(kind) or {}
                for acct in sorted(holders):
                    state = self.accounts[acct]
                    pos = state.positions.get(cid)
                    if pos is not None:
                        state.reprice(pos, contract, mark)
                    if is_locked(acct):
                        out += self._locked_rules(event, state, now, refresh=False)
                        continue
                    plan = plans.get(acct)
                    for evaluate, rule_ctx in self._plan(acct, kind) if plan is None else plan:
                        actions = evaluate(event, state, rule_ctx, now)
                        if actions:
                            out += actions
                if self._group_of:
                    out += self._judge_groups(holders, now)
            return self._finish(out, now) if out else out
        account_id = event.account_id
        if account_id is None:
            return out
        acct = account_id
        state = self.state(acct)
        data = event.data
        if isinstance(data, Order) and is_guard_tag(data.custom_tag):
            self.own_order_placed(acct, data.id, data.contract_id, "stop", now)  # known by its tag
        elif state.own_orders.claiming and isinstance(data, Order | Trade):
            self._claim_own_close(data, state, now)
        if isinstance(data, Order):
            state.own_orders.saw(data.id, order_event=True)
        elif isinstance(data, Trade):
            state.own_orders.saw(data.order_id)
        change = state.apply(event, now)
        state.last_change = change
        self._track(event, change, state)
        replayed = change.new_trade is not None and self._handled_trade(change, state, now)
        gated = gate(event, change, self.locks, self.catalog.symbol_of, state.own_orders)
        if gated is not None:
            out += gated  # the kill switch: no ordinary rule runs for this event
            if kind is EventKind.ACCOUNT:
                out += self._account_event(event, state, now)
            elif kind is not EventKind.ORDER or change.exits_due:  # orders: the cancel is all
                # (the fastest path), unless the order's end completes an exit R07 must judge
                out += self._locked_rules(event, state, now, refresh=kind in _NEEDS_MARKS, standing_only=replayed)
                if acct in self._group_of:
                    out += self._judge_groups((acct,), now)
            return self._finish(out, now)
        reduce_only = self.locks.reduce_only(acct)
        if reduce_only is not None and event.source != "rest":
            # Growth seen on the stream; a reconcile's REST snapshot shows what is held, which
            # reduce-only lets stand (a restart alone never enforces).
            out += reduce_only_response(event, change, state, reduce_only)
        if kind is EventKind.ACCOUNT:
            out += self._account_event(event, state, now)
        else:
            out += self._run_rules(event, state, now, standing_only=replayed)
        if acct in self._group_of:
            out += self._judge_groups((acct,), now)
        return self._finish(out, now) if out else out

    # -- account groups (docs/rules.md) --------------------------------------------------------------
    def set_groups(self, groups: list[Group]) -> None:
        """The account groups (members resolved to ids by the daemon)."""
        group_of: dict[int, list[Group]] = {}
        for group in groups:
            for acct in group.account_ids:
                group_of.setdefault(acct, []).append(group)
                self.state(acct)
        self._group_of = {a: tuple(g) for a, g in group_of.items()}
        self.groups = tuple(groups)

    def _judge_groups(self, accounts: Iterable[int], now: datetime) -> list[Action]:
        seen: set[str] = set()
        out: list[Action] = []
        for acct in accounts:
            for group in self._group_of.get(acct, ()):
                if group.name not in seen:
                    seen.add(group.name)
                    out += judge_group(group, self.accounts, self.catalog, self.locks,
                                       self.timeline.next_reset(now), now)
        return out

    def _run_rules(self, event: Event, state: AccountState, now: datetime,
                   standing_only: bool = False) -> list[Action]:
        """An account event other than a market one (those are priced once in `handle`).

        `standing_only`: the event was handled before a restart; only the rules that judge a
        standing condition (RECHECK_RULES) look at it, no event rule acts on it a second time."""
        if event.kind in _NEEDS_MARKS:
            state.refresh_unrealized(self.market, self.catalog, now, self.config.max_quote_age_seconds)
        out: list[Action] = []
        plan = self._plan(state.account_id, event.kind)
        if standing_only:
            plan = tuple((e, c) for e, c in plan if c.name in RECHECK_RULES)
        for evaluate, rule_ctx in plan:
            actions = evaluate(event, state, rule_ctx, now)
            if actions:
                out += actions
        return out

    def _locked_rules(
        self, event: Event | None, state: AccountState, now: datetime, *, refresh: bool = True,
        names: tuple[str, ...] = (), standing_only: bool = False,
    ) -> list[Action]:
        """While a lock holds: the rules that set locks still judge the event (`event` None: the
        state, with the lock-setting ones of `names`), and what one of them proposes is kept only
        when it records a lock of its own (new, or ending later than that rule's current one) — so
        a breach locks at once whatever else is active, and a breach already locked is not
        flattened again on every event. `standing_only` as in `_run_rules`: an event handled before
        a restart is judged by the standing-condition rules only (a fresh R06/R07 cooldown from a
        trade read again would be the restart enforcing)."""
        if event is None:
            ctx = self.contexts(state.account_id)
            plan = tuple((RULES[n], ctx[n]) for n in names if n in LOCKING_RULES and ctx[n].config.enabled)
        else:
            plan = self._lock_plan(state.account_id, event.kind)
        if standing_only:
            plan = tuple((e, c) for e, c in plan if c.name in RECHECK_RULES)
        if not plan:
            return []
        if refresh:
            state.refresh_unrealized(self.market, self.catalog, now, self.config.max_quote_age_seconds)
        out: list[Action] = []
        for evaluate, rule_ctx in plan:
            actions = evaluate(event, state, rule_ctx, now)
            if actions and self._records_lock(actions):
                out += actions
        return out

    def _records_lock(self, actions: list[Action]) -> bool:
        for action in actions:
            proposed = action.would_have if isinstance(action, Alert) else (action,)
            if any(isinstance(a, SetLock) and self.locks.would_set(a.lock) for a in proposed):
                return True
        return False

    def _account_event(self, event: Event, state: AccountState, now: datetime) -> list[Action]:
        out: list[Action] = []
        if cast(Account, event.data).can_trade is True:  # only an explicit true ends R10's lock, never a missing field
            out += self.locks.on_can_trade(state.account_id)
        ctxs = self.contexts(state.account_id)
        out += r10_auth_loss_guard.evaluate(event, state, ctxs["auth_loss_guard"], now)
        # The balance moved: the rules judging it (R14). While locked, only a lock of their own.
        locked = self.locks.is_locked(state.account_id)
        for name in ACCOUNT_RULES:
            if ctxs[name].config.enabled:
                actions = RULES[name](event, state, ctxs[name], now)
                if actions and (not locked or self._records_lock(actions)):
                    out += actions
        return out

    def _track(self, event: Event, change: Change, state: AccountState) -> None:
        """Keep the contract → holders index and release in-flight marks the broker has settled."""
        acct = state.account_id
        if event.kind is EventKind.POSITION:
            cid = event.contract_id or ""
            if change.new_size:
                self._holders.setdefault(cid, set()).add(acct)
            else:
                holders = self._holders.get(cid)
                if holders is not None:
                    holders.discard(acct)
                    if not holders:
                        del self._holders[cid]
                self.inflight.finished(("pos", acct, cid))
                self.inflight.finished(("stop", acct, cid))
        elif event.kind is EventKind.ORDER:
            order = cast(Order, event.data)  # the kind names the payload type
            if order.status not in WORKING_ORDER_STATUSES:
                self.inflight.finished(("ord", acct, order.id))
                state.stop_modified_at.pop(order.id, None)
            elif order.type in STOP_ORDER_TYPES:
                self.inflight.finished(("stop", acct, order.contract_id))

    # -- own orders and handled trades (persisted by the daemon via `take_records`) ------------
    def _claim_own_close(self, data: Order | Trade, state: AccountState, now: datetime) -> None:
        """An order (or the fill of an order never seen) that is the server's order for a close
        the executor announced becomes the guard's own."""
        pos = state.positions.get(data.contract_id)
        direction = pos.direction if pos else None
        own = state.own_orders
        if isinstance(data, Trade):
            order_id = data.order_id
            bound = own.claim_fill(data, direction, now)
        else:
            order_id = data.id
            bound = own.claim(data, direction, now)
        if bound and order_id is not None:
            self._unsaved.append(OwnOrderRecord(state.account_id, order_id, data.contract_id, "close", now))

    def _handled_trade(self, change: Change, state: AccountState, now: datetime) -> bool:
        """True when the trade was handled before a restart (state only); else it is recorded
        as handled now."""
        trade = change.new_trade
        assert trade is not None
        if trade.id in state.handled_before:
            return True
        self._unsaved.append(HandledTradeRecord(
            state.account_id, trade.id, self.trading_day or now.date(), change.trade_pnl,
            trade.voided, now))
        return False

    def expect_own_close(self, account_id: int, contract_id: str, now: datetime, size: int | None = None) -> None:
        """The executor is about to close (part of) a position: the order the server creates
        for it is the guard's own (`size`: a partial close's lots; None: the whole position)."""
        self.state(account_id).own_orders.expect_close(contract_id, now, size)

    def withdraw_own_close(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        """A close the executor announced was not acted on by the broker: its claim is dropped."""
        self.state(account_id).own_orders.withdraw_close(contract_id, size)

    def own_order_placed(self, account_id: int, order_id: int, contract_id: str | None,
                         kind: OwnKind, now: datetime) -> None:
        """The gateway returned `order_id` for an order the guard placed."""
        if self.state(account_id).own_orders.add(order_id, kind):
            self._unsaved.append(OwnOrderRecord(account_id, order_id, contract_id, kind, now))

    def is_own_close(self, account_id: int, order: Order, now: datetime) -> bool:
        """Whether `order` is one of the guard's closes (binding it to an open close claim when
        it is that close's order): the executor asks before it cancels anything."""
        state = self.state(account_id)
        if state.own_orders.claiming:
            self._claim_own_close(order, state, now)
        own = state.own_orders.is_own_close(order)
        state.own_orders.saw(order.id)
        return own

    def restore_own_orders(self, records: Any) -> None:
        """Start-up: the own orders persisted before (iterable of (account, order id, kind))."""
        for account_id, order_id, kind in records:
            self.state(account_id).own_orders.add(order_id, kind)

    def restore_handled_trades(self, trades: Any) -> None:
        """Start-up: trades whose event rules ran before (iterable of (account, trade id)); when
        they are read again they rebuild state only (docs/operations.md, start-up step 4)."""
        for account_id, trade_id in trades:
            self.state(account_id).handled_before.add(trade_id)

    def restore_judged_exits(self, rows: Any) -> None:
        """Start-up: R07's exits judged before (iterable of (account, exec key text, worst))."""
        for account_id, key, worst in rows:
            self.state(account_id).judged_before[exec_key_of_text(key)] = worst

    def take_records(self) -> list[Any]:
        """What to persist since the last call (own orders, handled trades, judged exits,
        balance history)."""
        out: list[Any] = list(self._unsaved)
        self._unsaved.clear()
        for acct, state in self.accounts.items():
            if state.judged_unsaved and self.day_start is not None:  # kept until the day is known
                day = self.trading_day or self.day_start.date()
                out += [JudgedExitRecord(acct, exec_key_text(k), day, worst, self.day_start)
                        for k, worst in state.judged_unsaved]
                state.judged_unsaved.clear()
            firm = state.firm
            if firm.high_unsaved and firm.high_equity is not None and self.day_start is not None:
                firm.high_unsaved = False
                out.append(BalanceRecord(acct, self.trading_day or self.day_start.date(),
                                         "high_equity", firm.high_equity, self.day_start))
        return out

    # -- balance history (firm-account guards, docs/rules.md) ---------------------------------------
    def restore_balance_history(self, rows: Any) -> None:
        """Start-up: the persisted balance history, iterable of (account, day, field, value)."""
        for account_id, day, field_name, value in rows:
            self.state(account_id).firm.restore(day, field_name, value, self.trading_day)

    def needs_day_history(self, account_id: int) -> bool:
        """R15 reads the profit before today from the recorded days, and none before today is
        recorded (first start): the daemon rebuilds them from Trade/search (docs/rules.md)."""
        cfg = self.contexts(account_id)["consistency_guard"].config
        if not cfg.enabled or cfg.starting_balance is not None or self.trading_day is None:
            return False
        return not any(d < self.trading_day for d in self.state(account_id).firm.day_pnl)

    def restore_day_history(self, account_id: int, days: dict[date, float], now: datetime) -> int:
        """Days' net P&L rebuilt from the trade history: the days not recorded yet (before
        today) are kept and handed out for persisting. Returns how many were new."""
        firm = self.state(account_id).firm
        new = {d: v for d, v in days.items()
               if self.trading_day is not None and d < self.trading_day and d not in firm.day_pnl}
        for day, pnl in sorted(new.items()):
            firm.day_pnl[day] = pnl
            self._unsaved.append(BalanceRecord(account_id, day, "net_pnl", pnl, now))
        return len(new)

    def _start_firm_day(self, state: AccountState, day: date, start: datetime,
                        previous: date | None) -> None:
        """A daily reset with the balance known: it ends `previous` and starts `day`."""
        firm, balance = state.firm, state.balance
        if previous is not None:  # the day's net P&L, before the reset clears it (R15)
            pnl = round(state.realized_net, 2)
            firm.day_pnl[previous] = pnl
            self._unsaved.append(BalanceRecord(state.account_id, previous, "net_pnl", pnl, start))
        if balance is None:
            firm.start_of_day = firm.start_day = None
            return
        if previous is not None and previous not in firm.end_of_day:
            firm.end_of_day[previous] = balance
            self._unsaved.append(BalanceRecord(state.account_id, previous, "end_of_day", balance, start))
        firm.start_of_day, firm.start_day = balance, day
        self._unsaved.append(BalanceRecord(state.account_id, day, "start_of_day", balance, start))

    def day_trades_read(self, account_id: int, now: datetime) -> None:
        """The reconciler read the account's balance and every trade of the trading day. An
        account whose day start was not seen (first start, or the reset passed while the daemon
        was down) started today with its balance minus today's net realized (every fill moves the
        balance by its P&L and fees), which is also the end-of-day balance of the day before."""
        state = self.state(account_id)
        firm = state.firm
        if state.balance is None or self.trading_day is None or firm.start_day == self.trading_day:
            return
        start = round(state.balance - state.realized_net, 2)
        previous = self.timeline.day_of((self.day_start or now) - timedelta(seconds=1))
        if previous not in firm.end_of_day:
            firm.end_of_day[previous] = start
            self._unsaved.append(BalanceRecord(state.account_id, previous, "end_of_day", start, now))
        began = firm.earlier_starts.get(previous)
        if previous not in firm.day_pnl and began is not None:  # a day whose reset was missed
            pnl = round(firm.end_of_day[previous] - began, 2)
            firm.day_pnl[previous] = pnl
            self._unsaved.append(BalanceRecord(state.account_id, previous, "net_pnl", pnl, now))
        firm.start_of_day, firm.start_day = start, self.trading_day
        self._unsaved.append(BalanceRecord(state.account_id, self.trading_day, "start_of_day", start, now))

    # -- side effects -----------------------------------------------------------------------
    def _finish(self, actions: list[Action], now: datetime) -> list[Action]:
        """Apply lock changes, drop duplicate alerts and in-flight duplicates, keep the order."""
        out: list[Action] = []
        locked_now: set[int] = set()
        for action in actions:
            if isinstance(action, SetLock):
                applied = self.locks.set(action.lock)
                if applied is None:
                    continue
                if action.lock.account_wide:
                    locked_now.add(action.lock.account_id)
                out.append(applied)
            elif isinstance(action, Alert):
                if self._alert_is_new(action, now):
                    out.append(action)
            elif isinstance(action, (PlaceStop, ModifyStop)) and action.account_id in locked_now:
                continue  # the account was just locked: no stop management, it is being flattened
            elif isinstance(action, CancelOrder) and self._cancels_own_close(action):
                continue  # whatever asked for it: the guard never cancels its own close
            elif isinstance(action, BROKER_ACTIONS):
                out += self.inflight.admit([action], self.accounts, now)
            else:
                out.append(action)
        return out

    def _cancels_own_close(self, action: CancelOrder) -> bool:
        state = self.accounts.get(action.account_id)
        return state is not None and state.own_orders.kinds.get(action.order_id) == "close"

    def _alert_is_new(self, alert: Alert, now: datetime) -> bool:
        what = tuple(inflight_key(a) or type(a).__name__ for a in alert.would_have) or (alert.reason,)
        key = (alert.account_id, alert.rule, what)
        last = self._alerted.get(key)
        if last is not None and timedelta(0) <= now - last < ALERT_REPEAT:
            return False
        self._alerted[key] = now
        return True

    # -- time --------------------------------------------------------------------------------
    def _roll(self, now: datetime) -> list[Action]:
        if self.day_end is not None and self.day_start is not None and self.day_start <= now < self.day_end:
            return []
        return self.apply_reset(now)

    def apply_reset(self, now: datetime) -> list[Action]:
        """Start the trading day containing `now` if it is not the current one (exactly once per
        trading day): realized P&L and session counts restart; until-reset locks end."""
        start, end = self.timeline.day_bounds(now)
        day = self.timeline.day_of(now)
        self.day_start, self.day_end = start, end
        if self.trading_day == day:
            return []
        first = self.trading_day is None
        previous = self.trading_day
        self.trading_day = day
        if not first:
            self.last_reset_at = start
        for state in self.accounts.values():
            if not first:
                self._start_firm_day(state, day, start, previous)
            state.start_day(start)
        return list(self.locks.expire(now))

    def tick(self, now: datetime) -> list[Action]:
        """The 1 s tick: daily reset, lock expiry, in-flight TTLs, R08 grace deadlines, R09 session end."""
        out: list[Action] = self._roll(now)
        cleared = self.locks.expire(now)
        out += cleared
        self.inflight.expire(now)
        unlocked = {c.account_id for c in out if isinstance(c, ClearLock)}
        for acct in sorted(self.accounts):
            state = self.accounts[acct]
            # R07's partial exits whose grace ran out (a pending exit always has its position open).
            r07 = self.contexts(acct)["cooldown_after_loss"].config
            state.take_overdue_exits(now, r07.partial_exit_grace_seconds)
            if self.locks.is_locked(acct):
                if state.positions or state.orders:  # e.g. R09's session end still records its lock
                    out += self._locked_rules(None, state, now, refresh=False, names=TICK_RULES)
                continue
            ctx = self.contexts(acct)
            if acct in unlocked:  # a lock just ended: the state may already breach another rule
                out += self._recheck(state, now)
            if not state.positions and not state.orders:
                continue
            for name in TICK_RULES:
                if ctx[name].config.enabled:
                    out += RULES[name](None, state, ctx[name], now)
        return self._finish(out, now)

    def _recheck(self, state: AccountState, now: datetime) -> list[Action]:
        ctx = self.contexts(state.account_id)
        state.refresh_unrealized(self.market, self.catalog, now, self.config.max_quote_age_seconds)
        state.last_change = None
        out: list[Action] = []
        for name in RECHECK_RULES:
            if ctx[name].config.enabled:
                out += RULES[name](None, state, ctx[name], now)
        return out

    def _recheck_all(self, now: datetime) -> list[Action]:
        out: list[Action] = []
        for acct in sorted(self.accounts):
            state = self.accounts[acct]
            if not self.locks.is_locked(acct):
                out += self._recheck(state, now)
            else:  # a standing breach of another rule records its own lock now
                state.last_change = None
                out += self._locked_rules(None, state, now, names=RECHECK_RULES)
        return out

    def recheck(self, now: datetime) -> list[Action]:
        """Re-examine every account's state (start-up after reconciliation, contracts added)."""
        out = self._roll(now) + self._recheck_all(now)
        return self._finish(out + self._judge_groups(sorted(self._group_of), now), now)

    # -- locks ---------------------------------------------------------------------------------
    def restore_locks(self, locks: list[Lock]) -> None:
        self.locks.restore(locks)

    def manual_lock(
        self, account_id: int, until: datetime | None, reason: str, by: str, now: datetime,
        *, tighten_only: bool = False,
    ) -> list[Action]:
        """Admin lock until a time, or (until None) until the next daily reset; flattens.

        `tighten_only` (the trader's own "done for the day" lock, no password): the lock is
        recorded only if it ends later than the manual lock already active, never shortening it;
        [] when the existing one already lasts at least as long."""
        if not reason.strip():
            raise ValueError("a manual lock needs a reason")
        if until is not None:
            lock = Lock(account_id, MANUAL_RULE, LockKind.LOCKOUT, reason, LockEnd.TIME, until, now, set_by=by)
        else:
            lock = Lock(account_id, MANUAL_RULE, LockKind.LOCKOUT, reason, LockEnd.RESET,
                        self.timeline.next_reset(now), now, set_by=by)
        self.state(account_id)
        if tighten_only:
            if not self.locks.would_set(lock):
                return []
        else:
            self.locks.remove(account_id, MANUAL_RULE, "replaced by a new manual lock", by=by)
        return self._finish([SetLock(lock), Flatten(account_id, MANUAL_RULE, f"Manual lock by {by}: {reason}")], now)

    def manual_unlock(self, account_id: int, reason: str, by: str, rule: str | None = None) -> list[Action]:
        """Admin unlock (one rule's lock, or all of them); the reason is required and recorded."""
        if not reason.strip():
            raise ValueError("an unlock needs a written reason")
        return list(self.locks.unlock(account_id, f"Unlocked by {by}: {reason}", by, rule))

    def needs_flatten(self, account_id: int) -> bool:
        """Start-up: a locked account still holding positions or working orders must be flattened."""
        state = self.accounts.get(account_id)
        return self.locks.is_locked(account_id) and state is not None and bool(state.positions or state.orders)

    def startup_flatten(self, now: datetime) -> list[Action]:
        """Flatten every locked account that still holds something (crash recovery)."""
        out: list[Action] = []
        for acct in sorted(self.accounts):
            if self.needs_flatten(acct):
                lock = self.locks.blocking_lock(acct)
                if lock is None:  # never: needs_flatten means an account-wide lock
                    continue
                out.append(Flatten(acct, lock.rule, f"Account locked ({lock.rule}: {lock.reason})"))
        return self._finish(out, now)

    def enforcement_done(self, key: str | Action) -> bool:
        """Enforcement of an action completed or failed: its targets may be acted on again."""
        if not isinstance(key, str):
            key = inflight_key(key) or ""
        return self.inflight.done(key)

    def follow_ups(self, account_id: int, now: datetime, *, failed: bool = False) -> list[Action]:
        """After an enforcement of `account_id` ended (`failed`: without its effect): what it
        was owed.

        - The flatten narrowed around a reduction still at work, once nothing of the account is
          in flight any more, if the account is still locked and holds something.
        - A fresh look by the standing rules when one of their actions was dropped because its
          position was busy (a close that then failed, a reduction the trader outgrew): the
          breach may still stand, and no further event need come to show it. So after any
          failed enforcement: the executor may have merged a later breach's action into it."""
        out: list[Action] = []
        inflight = self.inflight
        if account_id in inflight.deferred and not inflight.account_busy(account_id):
            owed = inflight.deferred.pop(account_id)
            if self.needs_flatten(account_id):
                out.append(owed)
        if failed or account_id in inflight.recheck_owed:
            inflight.recheck_owed.discard(account_id)
            state = self.accounts.get(account_id)
            if state is not None and not self.locks.is_locked(account_id):
                out += self._recheck(state, now)
        return self._finish(out, now) if out else []

    # -- read-only view ------------------------------------------------------------------------
    def snapshot(self, account_id: int, now: datetime) -> dict[str, Any]:
        from risk_manager.engine.snapshot import account_snapshot

        return account_snapshot(self, account_id, now)
