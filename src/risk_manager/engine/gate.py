"""The kill-switch gate (the fastest path) and the in-flight registry (no duplicate enforcement).

Gate: while an account holds an account-wide lock, a working order → CancelOrder and a position that
appears or grows → ClosePosition; nothing else runs for that event (R10 still sees account events).
A symbol lock does the same for that symbol only. The guard's own closing orders are never
cancelled (by the gate or by a narrowed flatten): they are the lock's enforcement.

In flight: every broker action covers "items" (a position, an order, a stop placement, the whole
account). An item stays busy until the caller reports the action done (`done(key)`), the broker
shows the item gone (position size 0, order terminal), or a TTL passes. An action whose items are
all busy is dropped (and its account owed a fresh look by the standing rules once an enforcement
of it ends); a Flatten whose items are partly busy is narrowed to the free ones, so the engine
never emits two concurrent closes for the same position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from risk_manager.engine.actions import (
    Action,
    CancelOrder,
    ClosePosition,
    Flatten,
    Lock,
    PartialClose,
    PlaceStop,
)
from risk_manager.engine.locks import LockManager
from risk_manager.engine.own_orders import OwnOrders
from risk_manager.engine.state import AccountState, Change
from risk_manager.events import Event, EventKind, Order, OrderStatus

Item = tuple[Any, ...]  # ("pos", account, contract) | ("ord", account, order_id) | ("stop", …) | ("all", account)

GATE_RULE = "lock_gate"
DEFAULT_TTL = timedelta(seconds=30)


def inflight_key(action: Action) -> str | None:
    """The key under which a broker action is tracked (pass it to `enforcement_done`)."""
    if isinstance(action, ClosePosition):
        return f"close:{action.account_id}:{action.contract_id}"
    if isinstance(action, PartialClose):
        return f"partial:{action.account_id}:{action.contract_id}"
    if isinstance(action, CancelOrder):
        return f"cancel:{action.account_id}:{action.order_id}"
    if isinstance(action, Flatten):
        suffix = f":{action.contract_id}" if action.contract_id else ""
        return f"flatten:{action.account_id}{suffix}"
    if isinstance(action, PlaceStop):
        return f"stop:{action.account_id}:{action.contract_id}"
    return None


@dataclass(slots=True)
class _Group:
    items: set[Item]
    expires: datetime


class InFlight:
    def __init__(self, ttl: timedelta = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._groups: dict[str, _Group] = {}
        self._busy: dict[Item, set[str]] = {}
        #: Flattens narrowed because part of the account was in flight (a reduction working on a
        #: position): what was left out is still owed once nothing of the account is in flight.
        self.deferred: dict[int, Flatten] = {}
        #: Accounts an action was dropped for because what it targets was busy: once an
        #: enforcement of the account ends, the standing rules look again (the breach may
        #: remain, and no event need come to show it).
        self.recheck_owed: set[int] = set()

    def __len__(self) -> int:
        return len(self._groups)

    def keys(self) -> list[str]:
        return sorted(self._groups)

    def busy(self, item: Item) -> bool:
        return item in self._busy

    def account_busy(self, account_id: int) -> bool:
        return any(item[1] == account_id for item in self._busy)

    def _begin(self, key: str, items: set[Item], now: datetime) -> None:
        self._groups[key] = _Group(set(items), now + self.ttl)
        for item in items:
            self._busy.setdefault(item, set()).add(key)

    def done(self, key: str) -> bool:
        group = self._groups.pop(key, None)
        if group is None:
            return False
        for item in group.items:
            keys = self._busy.get(item)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._busy[item]
        return True

    def finished(self, item: Item) -> None:
        """The broker shows `item` gone: it no longer blocks; groups left with nothing end."""
        for key in sorted(self._busy.pop(item, ())):
            group = self._groups.get(key)
            if group is None:
                continue
            group.items.discard(item)
            if not any(i[0] in ("pos", "ord", "stop") for i in group.items):
                self.done(key)

    def expire(self, now: datetime) -> list[str]:
        gone = [k for k, g in self._groups.items() if g.expires <= now]
        for key in gone:
            self.done(key)
        return gone

    # -- filtering --------------------------------------------------------------------------
    def admit(self, actions: list[Action], states: dict[int, AccountState], now: datetime) -> list[Action]:
        """Drop or narrow broker actions whose items are in flight; register the rest."""
        out: list[Action] = []
        for action in actions:
            if isinstance(action, Flatten):
                out += self._admit_flatten(action, states.get(action.account_id), now)
                continue
            items = _items(action)
            key = inflight_key(action)  # set whenever items are
            if items is None or key is None:
                out.append(action)
                continue
            if any(i in self._busy for i in items):
                self.recheck_owed.add(action.account_id)
                continue
            self._begin(key, items, now)
            out.append(action)
        return out

    def _admit_flatten(self, f: Flatten, state: AccountState | None, now: datetime) -> list[Action]:
        acct, only = f.account_id, f.contract_id
        orders: list[tuple[int, str]] = []
        positions: list[str] = []
        if state:
            orders = sorted(
                (oid, o.contract_id) for oid, o in state.orders.items()
                if (only is None or o.contract_id == only) and not state.own_orders.is_own_close(o)
            )
            positions = sorted(c for c in state.positions if only is None or c == only)
        whole: Item = ("all", acct) if only is None else ("all", acct, only)
        items: set[Item] = {("ord", acct, oid) for oid, _ in orders} | {("pos", acct, c) for c in positions}
        items.add(whole)
        if not any(i in self._busy for i in items):
            key = inflight_key(f)
            assert key is not None  # a Flatten always has a key
            self._begin(key, items, now)
            return [f]
        # Partly in flight: cancel/close only what nobody is working on yet (orders first); the
        # rest is owed (`deferred`): a partial close working on a position does not close it.
        out: list[Action] = []
        for oid, cid in orders:
            out += self.admit([CancelOrder(acct, oid, cid, f.rule, f.reason)], {}, now)
        for cid in positions:
            out += self.admit([ClosePosition(acct, cid, f.rule, f.reason)], {}, now)
        if len(out) < len(orders) + len(positions):
            self.deferred[acct] = f
        return out


def _items(action: Action) -> set[Item] | None:
    if isinstance(action, (ClosePosition, PartialClose)):
        return {("pos", action.account_id, action.contract_id)}
    if isinstance(action, CancelOrder):
        return {("ord", action.account_id, action.order_id)}
    if isinstance(action, PlaceStop):
        return {("stop", action.account_id, action.contract_id)}
    return None


# -- the gate ------------------------------------------------------------------------------
_CANCELLABLE = frozenset({OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.SUSPENDED})


def gate(
    event: Event,
    change: Change,
    locks: LockManager,
    symbol_of: Callable[[str], str | None],
    own: OwnOrders | None = None,
) -> list[Action] | None:
    """Lock responses for this event, or None when no lock applies and the rules should run.

    `symbol_of(contract_id)` maps a contract to its trader symbol (only called for symbol locks).
    `own` holds the account's own orders: the guard never cancels its own closing orders.
    """
    acct = event.account_id
    if acct is None:  # market data: no account, no lock
        return None
    if locks.is_locked(acct):
        blocking = locks.blocking_lock(acct)
        assert blocking is not None  # locked means an account-wide lock is held
        return _respond(acct, event, change, blocking, "Account locked", own)
    if event.contract_id and locks.has_symbol_locks(acct):
        symbol = symbol_of(event.contract_id)
        lock = locks.symbol_locked(acct, symbol)
        if lock is not None:
            return _respond(acct, event, change, lock, f"{symbol} locked", own)
    return None


def _respond(
    acct: int, event: Event, change: Change, lock: Lock, what: str, own: OwnOrders | None
) -> list[Action]:
    why = f"{what} ({lock.rule}: {lock.reason})"
    if event.kind is EventKind.ORDER:
        order = cast(Order, event.data)  # the kind names the payload type
        if own is not None and own.is_own_close(order):
            return []  # the guard's own close: cancelling it would undo the flatten
        if order.status in _CANCELLABLE:
            return [CancelOrder(acct, order.id, order.contract_id, GATE_RULE, f"{why}: order cancelled")]
        return []
    if event.kind is EventKind.POSITION and change.grew and event.contract_id is not None:
        return [ClosePosition(acct, event.contract_id, GATE_RULE, f"{why}: position closed")]
    return []
