"""Gateway event → journal → engine → actions → executor (+ status stream).

`feed(event)` is synchronous and is the hot path: an order event of a locked account goes from
the hub callback through the engine's lock gate to a started cancel task without an await in
between. Quotes are the exception: bursts are coalesced (partial quotes merged, latest per
contract) and handled on the next loop iteration, so 1 000 quotes/s never queue ahead of an order
event. Every event is journaled before the engine sees it; a raw hub invocation that cannot be
decoded is counted and skipped (`feed_invocation`).

`feed_many(events)` is the batch form for a hub frame: its non-quote events are journaled with ONE
commit, then handled in order (a commit costs ~50–100 µs, so a fill's order/trade/position/account
burst no longer pays four); its quotes are queued as in `feed`. If the batch commit fails, each
event is journaled on its own so one bad event cannot cost the others their journal line.

After a batch is handled (its actions dispatched, so locks are durable first), what the engine
recorded — trades whose event rules ran, orders the guard placed — is persisted in one commit
(`save_records`): after a restart those trades rebuild state only and those orders stay the guard's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from risk_manager.clock import Clock
from risk_manager.engine.actions import Action, ClearLock, SetLock
from risk_manager.events import Event, EventKind, Quote

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    def handle(self, event: Event, now: datetime) -> Sequence[Action]: ...


class ExecutorLike(Protocol):
    def submit(self, actions: Iterable[Action], *, received_ns: int = 0,
               decided_ns: int | None = None) -> None: ...


JournalFn = Callable[[list[Event]], None]
RecordsFn = Callable[[list[Any]], Any]
PublishFn = Callable[[dict[str, Any]], None]

_PUBLISHED_KINDS = {
    EventKind.POSITION: "position",
    EventKind.ORDER: "order",
    EventKind.TRADE: "trade",
    EventKind.ACCOUNT: "account",
}


def lock_message(lock: Any, now: datetime) -> dict[str, Any]:
    """A `locks` entry of docs/status-api.md."""
    return {
        "rule": lock.rule,
        "kind": str(lock.kind),
        "reason": lock.reason,
        "until": lock.until.isoformat() if lock.until else None,
        "remaining_s": lock.remaining_s(now),
        "ends": str(lock.ends),
        "symbol": lock.symbol,
    }


def _jsonable(data: Any) -> dict[str, Any]:
    out = asdict(data)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in out.items()}


class Pipeline:
    def __init__(
        self,
        engine: EngineLike,
        executor: ExecutorLike,
        clock: Clock,
        *,
        journal: JournalFn,
        publish: PublishFn | None = None,
        merge_quote: Callable[[Quote, Quote], Quote] | None = None,
        records: RecordsFn | None = None,
    ) -> None:
        self._engine = engine
        self._executor = executor
        self._clock = clock
        self._journal = journal
        self._publish = publish
        self._merge = merge_quote
        self._records = records
        self._save_scheduled = False
        self._pending_quotes: dict[str, Event] = {}
        self._raw_quotes: list[Event] = []
        self._flush_scheduled = False
        self.paused = False
        self.counters: dict[str, int] = {
            "events": 0, "quotes": 0, "quotes_coalesced": 0, "malformed": 0,
            "engine_errors": 0, "journal_errors": 0, "actions": 0, "record_errors": 0,
        }
        self.last_event_mono: float | None = None
        #: Optional hook called with each handled event after the engine saw it (subscriptions).
        self.after_event: Callable[[Event], None] | None = None
        #: Optional hook called with every batch of actions once the executor has them (alerts).
        self.after_dispatch: Callable[[Sequence[Action]], None] | None = None
        #: Optional: whether anyone listens to the status stream now. Without listeners the
        #: per-event messages are not built (an `asdict` per event is most of the publish cost).
        self.has_listeners: Callable[[], bool] | None = None

    # -- intake -----------------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        """Handle one decoded event. Never raises."""
        self.feed_many((event,))

    def feed_many(self, events: Iterable[Event]) -> None:
        """Handle a batch (one hub frame): journal its non-quote events in one commit, then
        handle each in order. Never raises."""
        if self.paused:
            return
        self.last_event_mono = time.monotonic()
        batch: list[Event] = []
        for event in events:
            if event.kind is EventKind.QUOTE:
                self._queue_quote(event)
            else:
                batch.append(event)
        if not batch:
            return
        if len(batch) == 1:
            self._journal_one(batch[0])
        else:
            try:
                self._journal(batch)
            except Exception:
                # All or nothing failed: journal one by one, so only the bad event goes unjournaled.
                log.warning("batch journal write failed; journaling %d events one by one", len(batch))
                for event in batch:
                    self._journal_one(event)
        for event in batch:
            self._handle(event)
        if self._records is not None and not self._save_scheduled:
            # After this loop turn: the enforcement this batch started goes out before the fsync.
            self._save_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.save_records)
            except RuntimeError:  # no loop (replay, sync tests): save now
                self.save_records()

    def save_records(self) -> None:
        """Persist what the engine recorded since the last call (never raises)."""
        self._save_scheduled = False
        take = getattr(self._engine, "take_records", None)
        if self._records is None or take is None:
            return
        records = take()
        if not records:
            return
        try:
            self._records(records)
        except Exception:
            # Lost here, a restart may act on these trades once more: count, log, go on.
            self.counters["record_errors"] += 1
            log.exception("saving %d engine record(s) failed", len(records))

    def _journal_one(self, event: Event) -> None:
        try:
            self._journal([event])
        except Exception:
            # Losing the journal line must not lose the enforcement: count, log, go on.
            self.counters["journal_errors"] += 1
            log.exception("journal write failed")

    def feed_invocation(self, target: str, arguments: Any, *, received_ns: int | None = None) -> None:
        """Decode a raw hub invocation and feed its events; malformed parts are counted, skipped."""
        from risk_manager.gateway.decode import DecodeError, decode_invocation

        ns = received_ns or time.monotonic_ns()
        try:
            events = decode_invocation(target, arguments, received_ns=ns, received_at=self._clock.now())
        except DecodeError as exc:
            self.count_malformed(str(exc))
            events = exc.events
        except Exception as exc:  # anything else a hostile frame could provoke
            self.count_malformed(f"{target}: {exc!r}")
            return
        if events is None:
            return
        self.feed_many(events)

    def count_malformed(self, why: str = "") -> None:
        self.counters["malformed"] += 1
        n = self.counters["malformed"]
        if n <= 20 or n % 100 == 0:  # a hostile stream must not flood the log
            log.warning("malformed frame skipped (%d so far): %s", n, why[:300])

    # -- quotes -------------------------------------------------------------------------------
    def _queue_quote(self, event: Event) -> None:
        self.counters["quotes"] += 1
        self._raw_quotes.append(event)
        key = event.contract_id or ""
        prior = self._pending_quotes.get(key)
        if prior is not None and self._merge is not None:
            self.counters["quotes_coalesced"] += 1
            merged = self._merge(prior.data, event.data)  # type: ignore[arg-type]
            event = Event(event.kind, merged, None, event.contract_id, event.action, event.source,
                          event.received_ns, event.received_at)
        self._pending_quotes[key] = event
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush_quotes)
            except RuntimeError:  # no loop (replay, sync tests): handle now
                self.flush_quotes()

    def flush_quotes(self) -> None:
        self._flush_scheduled = False
        raw, self._raw_quotes = self._raw_quotes, []
        pending, self._pending_quotes = self._pending_quotes, {}
        if raw:
            try:
                self._journal(raw)
            except Exception:
                self.counters["journal_errors"] += 1
                log.exception("journal write failed (quotes)")
        for event in pending.values():
            self._handle(event)

    # -- core ---------------------------------------------------------------------------------
    def _handle(self, event: Event) -> None:
        self.counters["events"] += 1
        now = self._clock.now()
        try:
            actions = list(self._engine.handle(event, now))
        except Exception:
            self.counters["engine_errors"] += 1
            log.exception("engine failed on %s event", event.kind)
            return
        if actions:
            self.dispatch(actions, received_ns=event.received_ns)
        if self.after_event is not None:
            try:
                self.after_event(event)
            except Exception:
                log.exception("after_event hook failed")
        if (self._publish is not None and event.kind in _PUBLISHED_KINDS
                and (self.has_listeners is None or self.has_listeners())):
            self._emit(_PUBLISHED_KINDS[event.kind], event.account_id, _jsonable(event.data))

    def dispatch(self, actions: Sequence[Action], *, received_ns: int = 0) -> None:
        """Hand actions to the executor (locks persisted there first) and announce lock changes."""
        self.counters["actions"] += len(actions)
        try:
            self._executor.submit(actions, received_ns=received_ns, decided_ns=time.monotonic_ns())
        except Exception:
            log.exception("executor refused actions %r", actions)
        if self.after_dispatch is not None and actions:
            try:
                self.after_dispatch(actions)
            except Exception:
                log.exception("after_dispatch hook failed")
        if self._publish is None:
            return
        now = self._clock.now()
        for action in actions:
            if isinstance(action, SetLock):
                self._emit("lock_set", action.account_id, lock_message(action.lock, now))
            elif isinstance(action, ClearLock):
                self._emit("lock_cleared", action.account_id, {"rule": action.rule, "reason": action.reason})

    def _emit(self, kind: str, account_id: int | None, data: dict[str, Any]) -> None:
        try:
            self._publish({"type": kind, "account_id": account_id,  # type: ignore[misc]
                           "ts": self._clock.now().isoformat(), "data": data})
        except Exception:
            log.exception("publish failed")
