"""Executes engine actions against the broker: the kill switch's hands.

Guarantees (docs/rules.md "Locks", docs/operations.md):
- A lock is written durably before any broker call of the same batch (`submit` persists SetLock
  synchronously, then schedules calls); a Flatten also gets a durable intent first, so a crash
  anywhere is completed by the restart (`resume_intent`).
- Flatten = cancel every working order (of the account, or of one contract), then close every
  position, re-read from REST, repeat until nothing is left (bounded rounds).
- Never two closes of one (account, contract) at once: a second request joins the one in flight.
- Every call has a timeout. A timeout/5xx/uncertain failure of a mutating call is reconciled
  (searchOpen) before any retry, because the broker may have accepted it; 429 waits and retries;
  attempts are bounded.
- Flatten/close/cancel run as their own task at once (the lock path never queues behind other
  work); stop placement/modification and partial closes go through a per-account worker queue,
  so a slow account never delays another. Every broker call is made `on_lock_path()`, so the
  REST rate budget serves it before ordinary reads (a reconcile storm cannot delay a close).
- Every step is audited with monotonic-ns timings: event received, decided, sent, response,
  confirmed.
- The guard's own orders (docs/rules.md): before each closeContract/partialCloseContract the order the
  server will create is announced to the own-order book, Order/place carries the guard's custom
  tag and its returned id is recorded; a flatten never cancels the guard's own closes.
- The outcome says what happened: "ok" (our call did it), "refused" (the broker refused the call
  and its target was already settled, e.g. an order that filled before the cancel arrived), or
  "failed".
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from risk_manager.clock import Clock
from risk_manager.enforcement.record_detail import target_fields, timing_fields
from risk_manager.enforcement.faults import Fault, classify, retry_after_s
from risk_manager.enforcement.ports import Broker, Ledger, OwnOrderBook
from risk_manager.priority import on_lock_path
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
from risk_manager.engine.own_orders import GUARD_TAG_PREFIX
from risk_manager.events import Order, Position

log = logging.getLogger(__name__)

OK, REFUSED, FAILED = "ok", "refused", "failed"

OutcomeSink = Callable[[dict[str, Any]], None]
DoneSink = Callable[[Action, bool], None]


@dataclass
class Timings:
    received_ns: int = 0
    decided_ns: int = 0
    sent_ns: int = 0
    response_ns: int = 0
    confirmed_ns: int = 0

    def latency_ms(self) -> float | None:
        start = self.received_ns or self.decided_ns
        end = self.confirmed_ns or self.response_ns
        if not start or not end:
            return None
        return round((end - start) / 1e6, 3)


@dataclass
class ExecutorSettings:
    call_timeout_s: float = 5.0
    max_attempts: int = 5
    #: Back-off between attempts (seconds), last value repeats.
    backoff_s: tuple[float, ...] = (0.1, 0.3, 0.8, 1.5, 3.0)
    #: Flatten re-reads REST and repeats at most this many rounds.
    flatten_rounds: int = 6
    #: A rate-limited call waits at most this long per attempt, whatever Retry-After says.
    max_rate_wait_s: float = 10.0

    def retry_wait_s(self, attempt: int, exc: BaseException, fault: Fault) -> float:
        """The wait after failed attempt `attempt` (0-based): its back-off step, or for a rate
        limit the server's Retry-After (capped at max_rate_wait_s)."""
        step = self.backoff_s[min(attempt, len(self.backoff_s) - 1)]
        if fault is Fault.RATE_LIMITED:
            return min(retry_after_s(exc, step), self.max_rate_wait_s)
        return step


@contextmanager
def _bookkeeping(what: str) -> Iterator[None]:
    """Own-order bookkeeping must never stop a close: its failure is logged and passed over."""
    try:
        yield
    except Exception:
        log.exception("own-order book failed (%s)", what)


class _Announced:
    """What a call's attempts announced (a close's claim, made before each attempt), so that
    those the broker did not act on are forgotten: at once when it said no (or did not process
    it), and when the whole call gives up also those it may have acted on — an order any of them
    created would have been seen and bound by then."""

    def __init__(self, unclaim: Callable[[], None] | None) -> None:
        self._unclaim = unclaim
        self._doubtful = 0

    def failed(self, fault: Fault) -> None:
        if self._unclaim is None:
            return
        if fault in (Fault.REJECTED, Fault.RATE_LIMITED):
            self._unclaim()
        else:
            self._doubtful += 1

    def gave_up(self) -> None:
        if self._unclaim is not None:
            for _ in range(self._doubtful):
                self._unclaim()


@dataclass
class _Job:
    action: Action
    timings: Timings
    intent_id: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Result:
    """How one mutating call ended: OK, REFUSED (target already settled) or FAILED."""

    outcome: str
    error: str | None = None

    @property
    def settled(self) -> bool:
        return self.outcome != FAILED


def _action_name(action: Action) -> str:
    return {
        Flatten: "flatten",
        ClosePosition: "close_position",
        PartialClose: "partial_close",
        CancelOrder: "cancel_order",
        PlaceStop: "place_stop",
        ModifyStop: "modify_stop",
    }.get(type(action), type(action).__name__.lower())


class Executor:
    def __init__(
        self,
        broker: Broker,
        ledger: Ledger,
        clock: Clock,
        *,
        settings: ExecutorSettings | None = None,
        on_outcome: OutcomeSink | None = None,
        on_done: DoneSink | None = None,
        own_orders: OwnOrderBook | None = None,
    ) -> None:
        self._broker = broker
        self._ledger = ledger
        self._own = own_orders
        # Unique per account (the gateway requires it): start time + a counter.
        self._tag_seq = itertools.count(1)
        self._tag_base = f"{GUARD_TAG_PREFIX}{time.time_ns() // 1_000_000:x}"
        self._clock = clock
        self._cfg = settings or ExecutorSettings()
        self._on_outcome = on_outcome
        self._on_done = on_done
        self._closing: dict[tuple[int, str], asyncio.Task[_Result]] = {}
        self._cancelling: dict[tuple[int, int], asyncio.Task[_Result]] = {}
        self._flattening: dict[tuple[int, str | None], asyncio.Task[bool]] = {}
        #: A flatten asked for while one runs: the running one does one more round.
        self._flatten_again: set[tuple[int, str | None]] = set()
        self._queues: dict[int, asyncio.Queue[_Job]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Jobs put on account queues and not finished yet (drain waits for them too).
        self._queued = 0
        self.stats = {"calls": 0, "retries": 0, "failures": 0, "deduplicated": 0}
        #: Optional metrics hooks (daemon/metrics.DaemonMetrics): decided, first_sent, call_done.
        self.observer: Any = None

    # -- intake ---------------------------------------------------------------------------
    def submit(
        self, actions: Iterable[Action], *, received_ns: int = 0, decided_ns: int | None = None
    ) -> None:
        """Persist state changes now, then start broker work. Never blocks on the network."""
        decided = decided_ns or time.monotonic_ns()
        actions = list(actions)
        if self.observer is not None:
            _observe(self.observer.decided, received_ns, decided)
        # Locks first and synchronously: durable before the first close/cancel call.
        for action in actions:
            if isinstance(action, SetLock):
                self._ledger.upsert_lock(action.lock)
                self._audit("lock_set", action, Timings(received_ns, decided))
                _log_lock(action, Timings(received_ns, decided))
            elif isinstance(action, ClearLock):
                self._ledger.delete_lock(action.account_id, action.rule,
                                         cleared_by=action.cleared_by, reason=action.reason)
                self._audit("lock_cleared", action, Timings(received_ns, decided))
                _log_unlock(action, Timings(received_ns, decided))
            elif isinstance(action, Alert):
                self._audit("alert", action, Timings(received_ns, decided),
                            would_have=[_action_name(a) for a in action.would_have])
        for action in actions:
            timings = Timings(received_ns, decided)
            if isinstance(action, Flatten):
                self._start_flatten(action, timings)
            elif isinstance(action, ClosePosition):
                job = _Job(action, timings)
                self._spawn(self._run_close(job))
            elif isinstance(action, CancelOrder):
                self._start_cancel(_Job(action, timings))
            elif isinstance(action, PartialClose | PlaceStop | ModifyStop):
                self._enqueue(_Job(action, timings))

    def resume_intent(self, intent_id: int, account_id: int, rule: str, reason: str,
                      detail: dict[str, Any] | None = None) -> None:
        """Re-issue a flatten whose intent was still open at start-up (crash recovery)."""
        action = Flatten(account_id=account_id, rule=rule, reason=reason,
                         contract_id=(detail or {}).get("contract_id"))
        self._start_flatten(action, Timings(0, time.monotonic_ns()), intent_id=intent_id)

    def in_flight(self) -> int:
        """Enforcements not finished: running tasks plus jobs queued or running on an account's
        worker (partial closes, protective stops)."""
        return len(self._tasks) + self._queued

    def busy(self, account_id: int | None = None) -> bool:
        """Any enforcement in flight; for one account, a flatten, close or cancel of it (a partial
        close on its worker never holds back a flatten the account needs)."""
        if account_id is None:
            return self.in_flight() > 0
        return any(k[0] == account_id for k in (*self._closing, *self._flattening, *self._cancelling))

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait for in-flight enforcement (shutdown). True if everything finished."""
        deadline = time.monotonic() + timeout
        while self._tasks or self._queued:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pending = list(self._tasks)
            if pending:
                await asyncio.wait(pending, timeout=remaining)
            else:
                await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()

    # -- scheduling -----------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _enqueue(self, job: _Job) -> None:
        account = job.action.account_id
        queue = self._queues.get(account)
        if queue is None:
            queue = self._queues[account] = asyncio.Queue()
            self._workers[account] = asyncio.ensure_future(self._worker(queue))
        self._queued += 1
        queue.put_nowait(job)

    async def _worker(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            job = await queue.get()
            try:
                if isinstance(job.action, PartialClose):
                    await self._run_partial(job)
                elif isinstance(job.action, PlaceStop):
                    await self._run_place_stop(job)
                elif isinstance(job.action, ModifyStop):
                    await self._run_modify_stop(job)
            except Exception:  # a bug here must never stop the account's worker
                log.exception("enforcement job failed: %r", job.action)
            finally:
                self._queued -= 1
                queue.task_done()

    # -- flatten --------------------------------------------------------------------------
    def _start_flatten(self, action: Flatten, timings: Timings, intent_id: int | None = None) -> None:
        key = (action.account_id, action.contract_id)
        if key in self._flattening:
            self._flatten_again.add(key)
            self.stats["deduplicated"] += 1
            if intent_id is not None:
                self._ledger.complete_intent(intent_id, "merged into running flatten")
            return
        if intent_id is None:
            intent_id = self._ledger.begin_intent(
                action.account_id, "flatten", action.rule, action.reason,
                {"contract_id": action.contract_id},
            )
        job = _Job(action, timings, intent_id)
        self._flattening[key] = self._spawn(self._run_flatten(job, key))

    async def _run_flatten(self, job: _Job, key: tuple[int, str | None]) -> bool:
        action: Flatten = job.action  # type: ignore[assignment]
        ok = interrupted = False
        try:
            self._audit("started", action, job.timings, intent_id=job.intent_id)
            for round_no in range(self._cfg.flatten_rounds):
                self._flatten_again.discard(key)
                orders, positions = await asyncio.gather(
                    self._read(self._broker.search_open_orders, action.account_id),
                    self._read(self._broker.search_open_positions, action.account_id),
                )
                working = [o for o in orders if o.is_working and _matches(o, action.contract_id)]
                # The guard's own closes still working are never cancelled, and their positions
                # are not closed a second time: the next round looks again.
                own = {o.id for o in working if self._own_close(action.account_id, o)}
                closing = {o.contract_id for o in working if o.id in own}
                orders = [o for o in working if o.id not in own]
                positions = [p for p in positions if p.size > 0 and _matches(p, action.contract_id)]
                if not orders and not positions and key not in self._flatten_again:
                    ok = True
                    break
                if round_no:
                    job.notes.append(f"round {round_no + 1}: {len(orders)} orders, {len(positions)} positions")
                # Cancel first so a resting order cannot re-open what we close.
                await asyncio.gather(*(self._cancel(action, o.id, o.contract_id, job.timings) for o in orders))
                await asyncio.gather(*(self._close(action, p.contract_id, job.timings)
                                       for p in positions if p.contract_id not in closing))
                await asyncio.sleep(0.02 * (2**round_no))  # let fills settle before re-reading
            job.timings.confirmed_ns = time.monotonic_ns() if ok else 0
        except Exception as exc:
            job.notes.append(f"error: {exc!r}")
            log.exception("flatten failed for account %s", action.account_id)
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            self._flattening.pop(key, None)
            if job.intent_id is not None and not interrupted:
                # The intent is what a crash leaves open for the restart to finish. A flatten that
                # ran to its end, confirmed or failed, is finished: its failure is in the history,
                # and what remains is the lock guard's and the standing rules' to act on. Left
                # open, a restart hours later would re-issue it and flatten what the trader holds
                # by then.
                self._ledger.complete_intent(
                    job.intent_id, "confirmed" if ok else "failed: " + ("; ".join(job.notes) or "not flat"))
            self._finish(job, ok)
            if not ok and key in self._flatten_again:
                self._flatten_again.discard(key)
        return ok

    # -- close / cancel (deduplicated, lock path) ----------------------------------------
    def _close(self, action: Action, contract_id: str, timings: Timings) -> asyncio.Task[_Result]:
        key = (action.account_id, contract_id)
        task = self._closing.get(key)
        if task is not None and not task.done():
            self.stats["deduplicated"] += 1
            return task
        task = self._spawn(self._mutate_close(action, contract_id, timings))
        self._closing[key] = task

        def forget(t: asyncio.Task[_Result], k: tuple[int, str] = key) -> None:
            if self._closing.get(k) is t:
                self._closing.pop(k, None)

        task.add_done_callback(forget)
        return task

    def _cancel(self, action: Action, order_id: int, contract_id: str, timings: Timings) -> asyncio.Task[_Result]:
        key = (action.account_id, order_id)
        task = self._cancelling.get(key)
        if task is not None and not task.done():
            self.stats["deduplicated"] += 1
            return task
        task = self._spawn(self._mutate_cancel(action, order_id, contract_id, timings))
        self._cancelling[key] = task

        def forget(t: asyncio.Task[_Result], k: tuple[int, int] = key) -> None:
            if self._cancelling.get(k) is t:
                self._cancelling.pop(k, None)

        task.add_done_callback(forget)
        return task

    async def _mutate_close(self, action: Action, contract_id: str, timings: Timings) -> _Result:
        account = action.account_id

        async def gone() -> bool:
            positions = await self._read(self._broker.search_open_positions, account)
            return not any(p.contract_id == contract_id and p.size > 0 for p in positions)

        def call() -> Awaitable[Any]:
            self._expect_close(account, contract_id)
            return self._broker.close_position(account, contract_id)

        result = await self._mutate(action, "closeContract", {"contract_id": contract_id}, timings,
                                    call, gone, lambda: self._withdraw_close(account, contract_id))
        if result.settled:
            await self._close_order_done(account, contract_id)
        return result

    async def _close_order_done(self, account_id: int, contract_id: str) -> None:
        """Hold a close (the dedupe key with it) until the order the server made for it is no
        longer working. The broker sizes each closeContract by the position at that moment: a
        second one sent while the first's order still works (a thin book fills it over several
        prints) would close the position twice and turn it. Found by the model checker (seed
        6109: the lock gate's close and the lock's flatten, 4 ms apart)."""
        for delay in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8):
            if delay:
                await asyncio.sleep(delay)
            try:
                orders = await self._read(self._broker.search_open_orders, account_id)
            except Exception:
                return
            if not any(o.is_working and o.contract_id == contract_id and self._own_close(account_id, o)
                       for o in orders):
                return

    async def _mutate_cancel(self, action: Action, order_id: int, contract_id: str, timings: Timings) -> _Result:
        account = action.account_id

        async def gone() -> bool:
            orders = await self._read(self._broker.search_open_orders, account)
            return not any(o.id == order_id and o.is_working for o in orders)

        return await self._mutate(
            action, "cancel", {"order_id": order_id, "contract_id": contract_id}, timings,
            lambda: self._broker.cancel_order(account, order_id), gone,
        )

    async def _run_close(self, job: _Job) -> bool:
        action: ClosePosition = job.action  # type: ignore[assignment]
        result = await self._close(action, action.contract_id, job.timings)
        if result.settled and not await self._confirm(lambda ps: not any(
                p.contract_id == action.contract_id and p.size > 0 for p in ps), action.account_id):
            result = _Result(FAILED, result.error)
        if result.settled:
            job.timings.confirmed_ns = time.monotonic_ns()
        self._finish(job, result)
        return result.settled

    def _start_cancel(self, job: _Job) -> None:
        """The kill switch's cancel: its mutation task carries the job to the end (a done
        callback reports it). A wrapper task awaiting it, as before, put one more event-loop
        turn, behind every ready hub frame, between the decision and the request."""
        action: CancelOrder = job.action  # type: ignore[assignment]
        task = self._cancel(action, action.order_id, action.contract_id, job.timings)
        task.add_done_callback(lambda t: self._cancel_done(job, t))

    def _cancel_done(self, job: _Job, task: asyncio.Task[_Result]) -> None:
        if task.cancelled():  # shutdown
            return
        exc = task.exception()
        if exc is not None:
            log.error("cancel failed unexpectedly: %r", exc)
            result = _Result(FAILED, repr(exc)[:300])
        else:
            result = task.result()
        if result.settled:
            job.timings.confirmed_ns = time.monotonic_ns()
        self._finish(job, result)

    async def _confirm(self, done: Callable[[list[Position]], bool], account_id: int) -> bool:
        """Verify from REST, giving an asynchronous fill a short while to land."""
        for delay in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6):
            if delay:
                await asyncio.sleep(delay)
            try:
                if done(await self._read(self._broker.search_open_positions, account_id)):
                    return True
            except Exception:
                return False
        return False

    # -- queued work (partial close, stops) -----------------------------------------------
    async def _run_partial(self, job: _Job) -> None:
        action: PartialClose = job.action  # type: ignore[assignment]
        key = (action.account_id, action.contract_id)
        if key in self._closing:
            self.stats["deduplicated"] += 1
            self._finish(job, True, note="full close in flight")
            return
        before = await self._position_size(action.account_id, action.contract_id)
        if before == 0:
            self._finish(job, True, note="position already flat")
            return
        size = min(action.size, before)

        async def reduced() -> bool:
            return await self._position_size(action.account_id, action.contract_id) <= before - size

        def call() -> Awaitable[Any]:
            self._expect_close(action.account_id, action.contract_id, size)
            return self._broker.partial_close(action.account_id, action.contract_id, size)

        result = await self._mutate(
            action, "partialCloseContract", {"contract_id": action.contract_id, "size": size},
            job.timings, call, reduced,
            lambda: self._withdraw_close(action.account_id, action.contract_id, size),
        )
        if result.settled:
            job.timings.confirmed_ns = time.monotonic_ns()
        self._finish(job, result)

    async def _run_place_stop(self, job: _Job) -> None:
        action: PlaceStop = job.action  # type: ignore[assignment]

        async def accepted() -> bool:
            orders = await self._read(self._broker.search_open_orders, action.account_id)
            return any(o.is_working and o.is_stop and o.contract_id == action.contract_id
                       and o.side == action.side for o in orders)

        tag = self._new_tag()

        async def call() -> None:
            order_id = await self._broker.place_stop(action.account_id, action.contract_id,
                                                     action.side, action.size, action.stop_price,
                                                     custom_tag=tag)
            if order_id is not None and self._own is not None:
                self._own.placed(action.account_id, order_id, action.contract_id, "stop")

        result = await self._mutate(
            action, "place", {"contract_id": action.contract_id, "stop_price": action.stop_price,
                              "custom_tag": tag},
            job.timings, call, accepted,
        )
        self._finish(job, result)

    async def _run_modify_stop(self, job: _Job) -> None:
        action: ModifyStop = job.action  # type: ignore[assignment]

        async def applied() -> bool:
            orders = await self._read(self._broker.search_open_orders, action.account_id)
            return any(o.id == action.order_id and o.stop_price == action.stop_price for o in orders)

        result = await self._mutate(
            action, "modify", {"order_id": action.order_id, "stop_price": action.stop_price},
            job.timings,
            lambda: self._broker.modify_order(action.account_id, action.order_id,
                                              stop_price=action.stop_price, size=action.size),
            applied,
        )
        self._finish(job, result)

    # -- own orders -----------------------------------------------------------------------
    def _expect_close(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        if self._own is not None:
            with _bookkeeping("expect_close"):
                self._own.expect_close(account_id, contract_id, size)

    def _withdraw_close(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        if self._own is not None:
            with _bookkeeping("withdraw_close"):
                self._own.withdraw_close(account_id, contract_id, size)

    def _own_close(self, account_id: int, order: Order) -> bool:
        if self._own is None:
            return False
        try:
            return self._own.is_own_close(account_id, order)
        except Exception:
            log.exception("own-order book failed (is_own_close)")
            return False

    def _new_tag(self) -> str:
        return f"{self._tag_base}-{next(self._tag_seq)}"

    async def _position_size(self, account_id: int, contract_id: str) -> int:
        positions = await self._read(self._broker.search_open_positions, account_id)
        return sum(p.size for p in positions if p.contract_id == contract_id)

    # -- the retry core -------------------------------------------------------------------
    async def _mutate(
        self,
        action: Action,
        call_name: str,
        detail: dict[str, Any],
        timings: Timings,
        call: Callable[[], Awaitable[Any]],
        reconciled: Callable[[], Awaitable[bool]],
        unclaim: Callable[[], None] | None = None,
    ) -> _Result:
        """One mutating call with timeout; on doubt reconcile before retrying; bounded.

        A failed call whose target turns out settled is OK when the broker may have acted on it
        (timeout, 5xx), and REFUSED when the broker said no: then it was not our call's doing.
        `unclaim` forgets what an attempt announced (a close's claim) once it is known the broker
        did not act on it: it said no, or the whole call gave up."""
        cfg = self._cfg
        announced = _Announced(unclaim)
        for attempt in range(cfg.max_attempts):
            sent = time.monotonic_ns()
            if not timings.sent_ns:
                timings.sent_ns = sent
                if self.observer is not None:
                    _observe(self.observer.first_sent, action, timings.received_ns, sent)
            self.stats["calls"] += 1
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for runs the call in a task
                # of its own, one more loop turn before the request is written.
                with on_lock_path():
                    async with asyncio.timeout(cfg.call_timeout_s):
                        await call()
            except Exception as exc:
                if self.observer is not None:
                    _observe(self.observer.call_done, call_name, sent, time.monotonic_ns(), False)
                fault = classify(exc)
                self._audit("call_failed", action, timings, call=call_name, attempt=attempt + 1,
                            fault=fault.value, error=repr(exc)[:300], sent_ns=sent, **detail)
                wait = cfg.retry_wait_s(attempt, exc, fault)
                announced.failed(fault)
                if fault is Fault.RATE_LIMITED:
                    self.stats["retries"] += 1
                    await asyncio.sleep(wait)
                    continue
                # The broker may have acted (timeout/5xx) or the target may be gone (rejected):
                # look before acting again.
                try:
                    if await reconciled():
                        self._audit("reconciled", action, timings, call=call_name, **detail)
                        if fault is Fault.REJECTED:
                            return _Result(REFUSED, repr(exc)[:300])
                        return _Result(OK)
                except Exception as read_exc:
                    log.warning("reconcile read failed: %r", read_exc)
                self.stats["retries"] += 1
                await asyncio.sleep(wait)
                continue
            now = time.monotonic_ns()
            if self.observer is not None:
                _observe(self.observer.call_done, call_name, sent, now, True)
            if not timings.response_ns:
                timings.response_ns = now
            self._audit("response", action, timings, call=call_name, attempt=attempt + 1,
                        sent_ns=sent, response_ns=now, **detail)
            return _Result(OK)
        self.stats["failures"] += 1
        announced.gave_up()
        self._audit("gave_up", action, timings, call=call_name, **detail)
        return _Result(FAILED)

    async def _read(self, fn: Callable[[int], Awaitable[list[Any]]], account_id: int) -> list[Any]:
        """A read with timeout; reads are safe to retry."""
        cfg = self._cfg
        last: BaseException | None = None
        for attempt in range(cfg.max_attempts):
            try:
                with on_lock_path():  # the broker serves enforcement's reads before other reads
                    async with asyncio.timeout(cfg.call_timeout_s):
                        return await fn(account_id)
            except Exception as exc:
                last = exc
                await asyncio.sleep(cfg.retry_wait_s(attempt, exc, classify(exc)))
        assert last is not None
        raise last

    # -- reporting ------------------------------------------------------------------------
    def _finish(self, job: _Job, result: _Result | bool, note: str | None = None) -> None:
        if isinstance(result, bool):
            result = _Result(OK if result else FAILED)
        ok = result.settled
        if note:
            job.notes.append(note)
        if result.outcome == REFUSED:
            job.notes.append(f"the broker refused the call ({result.error}); its target was "
                             "already settled, so nothing was changed by it")
        outcome = result.outcome
        phase = {OK: "confirmed", REFUSED: "refused"}.get(outcome, "failed")
        self._audit(phase, job.action, job.timings, intent_id=job.intent_id, notes=job.notes)
        _log_enforcement(job, outcome, result.error)
        record = {
            "ts": self._clock.now().isoformat(),
            "account_id": job.action.account_id,
            "rule": job.action.rule,
            "action": _action_name(job.action),
            "reason": job.action.reason,
            "outcome": outcome,
            "latency_ms": job.timings.latency_ms(),
            **target_fields(job.action),
            "timings": timing_fields(job.timings),
        }
        if job.notes:
            record["notes"] = list(job.notes)
        if self._on_outcome is not None:
            try:
                self._on_outcome(record)
            except Exception:
                log.exception("outcome sink failed")
        if self._on_done is not None:
            try:
                self._on_done(job.action, ok)
            except Exception:
                log.exception("done sink failed")

    def _audit(self, step: str, action: Action, timings: Timings, intent_id: int | None = None,
               **extra: Any) -> None:
        contract = getattr(action, "contract_id", None)
        if contract is not None:
            extra.setdefault("contract_id", contract)
        sent = extra.pop("sent_ns", None) or timings.sent_ns or None
        response = extra.pop("response_ns", None) or timings.response_ns or None
        try:
            self._ledger.audit(
                action.account_id, action.rule, _action_name(action), action.reason, step, extra,
                event_received_ns=timings.received_ns or None,
                decided_ns=timings.decided_ns or None,
                sent_ns=sent, response_ns=response,
                confirmed_ns=timings.confirmed_ns or None,
                intent_id=intent_id,
            )
        except Exception:  # the audit log must never stop enforcement
            log.exception("audit write failed")


# -- the daemon log: one line per lock, unlock and enforcement (console, file, journal) ------
def _span_ms(start_ns: int, end_ns: int) -> str:
    return f"{(end_ns - start_ns) / 1e6:.1f}" if start_ns and end_ns else "-"


def _timing_fields(t: Timings) -> str:
    """decide = event received -> decision, call = request sent -> broker reply, total = event ->
    confirmed (or reply): the numbers an admin asks for first."""
    total = t.latency_ms()
    return (f"decide_ms={_span_ms(t.received_ns, t.decided_ns)} call_ms={_span_ms(t.sent_ns, t.response_ns)} "
            f"total_ms={'-' if total is None else f'{total:.1f}'}")


def _log_lock(action: SetLock, t: Timings) -> None:
    lock = action.lock
    log.warning("lock set: account=%s rule=%s symbol=%s kind=%s ends=%s until=%s by=%s %s reason=%r",
                lock.account_id, lock.rule, lock.symbol or "-", lock.kind.value, lock.ends.value,
                lock.until.isoformat() if lock.until else "-", lock.set_by, _timing_fields(t), lock.reason)


def _log_unlock(action: ClearLock, t: Timings) -> None:
    log.warning("lock cleared: account=%s rule=%s by=%s %s reason=%r",
                action.account_id, action.rule, action.cleared_by, _timing_fields(t), action.reason)


def _log_enforcement(job: _Job, outcome: str, error: str | None) -> None:
    action = job.action
    symbol = getattr(action, "contract_id", None) or ("all" if isinstance(action, Flatten) else "-")
    target = getattr(action, "order_id", None)
    log.log(logging.ERROR if outcome == FAILED else logging.WARNING,
            "enforcement: account=%s rule=%s symbol=%s action=%s%s outcome=%s %s reason=%r%s",
            action.account_id, action.rule, symbol, _action_name(action),
            f" order={target}" if target is not None else "", outcome, _timing_fields(job.timings),
            action.reason, f" error={error!r}" if error else "")


def _observe(hook: Callable[..., None], *args: Any) -> None:
    try:  # metrics must never stop enforcement
        hook(*args)
    except Exception:
        log.exception("metrics hook failed")


def _matches(item: Order | Position, contract_id: str | None) -> bool:
    return contract_id is None or item.contract_id == contract_id
