"""The scripted trading session: each step breaks one rule and waits (bounded) for the daemon.

Enforcement is observed where it matters, at the gateway: the simulator's request log shows the
daemon's close/cancel call and its arrival time, so a reaction time is the trader's triggering
request arriving → the daemon's enforcement request arriving (both `time.monotonic_ns()` in the
simulator). The daemon's own words (reason, lock end) come from its /events stream.

Money: MNQ has a 0.25 tick worth $0.50, so one point is $2 per contract.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from risk_manager.demo.feed import EventFeed
from risk_manager.demo.timeline import StepResult, Timeline
from risk_manager.demo.trader import BUY, LIMIT, SELL, STOP, DemoTrader, GatewayCallFailed

MNQ = "CON.F.US.MNQ.U26"
BASE = 29500.0  # the simulator's usual MNQ level
FAR_BELOW = BASE - 200.0  # a resting buy limit that never fills during the demo

PLACE, CANCEL = "/order/place", "/order/cancel"
CLOSE, PARTIAL = "/position/closecontract", "/position/partialclosecontract"

Say = Callable[[str], None]
OnStep = Callable[[StepResult], None]


class StepFailed(Exception):
    """A step's enforcement was not seen within its bound (the message says what was missing)."""


class DemoScript:
    def __init__(
        self,
        trader: DemoTrader,
        feed: EventFeed,
        subscribed: Callable[[str], bool],
        *,
        grace_s: float = 10.0,
        timeout_s: float = 5.0,
        pace_s: float = 0.0,
        say: Say | None = None,
        on_step: OnStep | None = None,
    ) -> None:
        self.trader = trader
        self.feed = feed
        self.subscribed = subscribed
        self.grace_s = grace_s
        self.timeout_s = timeout_s
        self.pace_s = pace_s
        self.say = say or (lambda text: None)
        self.on_step = on_step or (lambda step: None)
        self.timeline = Timeline()

    STEPS = ("per_instrument_limit", "per_position_loss", "missing_stop", "daily_loss_lock", "kill_switch")

    async def run(self) -> Timeline:
        await self.trader.login()
        await self.trader.set_price(MNQ, BASE)
        for number, name in enumerate(self.STEPS, start=1):
            if number > 1:
                await asyncio.sleep(self.pace_s)  # time to look at the dashboard
            step: Callable[[int], Awaitable[None]] = getattr(self, name)
            try:
                await step(number)
            except (StepFailed, GatewayCallFailed) as exc:
                self._record(StepResult(rule=_RULES[name], trigger=f"step {number}", ok=False,
                                        action=f"not observed: {exc}"))
                await self.trader.tidy()  # leave a clean account for the next step
        return self.timeline

    # ------------------------------------------------------------------ the steps
    async def per_instrument_limit(self, n: int) -> None:
        self.say(f"Step {n}/5 — R02: buying 3 MNQ while the per-instrument limit is 2.")
        seq, mark = await self.trader.last_seq(), self.feed.mark()
        await self.trader.place(MNQ, BUY, 3)
        await self._until(lambda: self._mnq_size(2), "MNQ reduced from 3 to 2 contracts")
        ms, row = await self._reaction(seq, PARTIAL, trigger_path=PLACE)
        self._record(StepResult(
            rule=_RULES["per_instrument_limit"], trigger="bought 3 MNQ (limit 2)",
            action=f"partial close of {row['body'].get('size')} contract, 2 left", ok=True,
            reaction_ms=ms, reason=await self._reason(mark, rule="R02")))
        # The trader protects the remaining 2 contracts, as R08 expects (far away: never filled).
        await self.trader.place(MNQ, SELL, 2, type=STOP, stopPrice=BASE - 80.0)

    async def per_position_loss(self, n: int) -> None:
        self.say(f"Step {n}/5 — R04: MNQ drops 30 points; 2 contracts are $120 under water (limit $100).")
        await self._until(self._quotes_subscribed, "the daemon subscribed to MNQ quotes")
        seq, mark = await self.trader.last_seq(), self.feed.mark()
        sent_ns = await self.trader.set_price(MNQ, BASE - 30.0)
        await self._until(self._flat, "MNQ position closed and its stop cancelled")
        ms, _ = await self._reaction(seq, CLOSE, trigger_ns=sent_ns)
        self._record(StepResult(
            rule=_RULES["per_position_loss"], trigger="price -30 pts, position -$120",
            action="closed the position, cancelled its stop", ok=True, reaction_ms=ms,
            reason=await self._reason(mark, rule="R04")))

    async def missing_stop(self, n: int) -> None:
        self.say(f"Step {n}/5 — R08: buying 1 MNQ without a stop; "
                 f"it is closed after the {self.grace_s:g} s grace period.")
        seq, mark = await self.trader.last_seq(), self.feed.mark()
        await self.trader.place(MNQ, BUY, 1)
        await self._until(self._flat, "the unprotected position closed", timeout=self.grace_s + 8.0)
        ms, _ = await self._reaction(seq, CLOSE, trigger_path=PLACE)
        self._record(StepResult(
            rule=_RULES["missing_stop"], trigger="bought 1 MNQ, no stop",
            action=f"closed the position after {ms / 1000:.1f} s", ok=True,
            reaction_ms=max(ms - self.grace_s * 1000, 0.0), note=f"after the {self.grace_s:g} s grace; R08 runs on a 1 s tick",
            timer_driven=True, reason=await self._reason(mark, rule="R08")))

    async def daily_loss_lock(self, n: int) -> None:
        self.say(f"Step {n}/5 — R03: one more losing trade takes the day's realized loss past $150: "
                 "flatten and lock until the daily reset.")
        await self.trader.place(MNQ, BUY, 1)
        await self.trader.place(MNQ, BUY, 1, type=LIMIT, limitPrice=FAR_BELOW)  # left working
        await self.trader.set_price(MNQ, BASE - 50.0)  # this position: -$40
        seq, mark = await self.trader.last_seq(), self.feed.mark()
        await self.trader.place(MNQ, SELL, 1)  # realize the loss
        lock = await self.feed.wait(lambda m: m.get("type") == "lock_set", mark, self.timeout_s)
        if lock is None:
            raise StepFailed("no lock_set from the daemon")
        await self._until(self._flat, "the working order cancelled (flatten)")
        ms, _ = await self._reaction(seq, CANCEL, trigger_path=PLACE)
        data = lock.get("data") or {}
        self._record(StepResult(
            rule=_RULES["daily_loss_lock"], trigger="sold at a loss, day < -$150",
            action=f"flattened (cancelled the working order), {data.get('kind', 'lock')} "
                   f"until {_lock_end(data)}", ok=True, reaction_ms=ms,
            reason=data.get("reason")))

    async def kill_switch(self, n: int) -> None:
        self.say(f"Step {n}/5 — kill switch: while locked, every new order is cancelled at once "
                 "and every position closed.")
        seq, mark = await self.trader.last_seq(), self.feed.mark()
        order_id = await self.trader.place(MNQ, BUY, 1, type=LIMIT, limitPrice=FAR_BELOW)
        await self._until(self._flat, f"order {order_id} cancelled")
        ms, _ = await self._reaction(seq, CANCEL, trigger_path=PLACE,
                                     match=lambda body: body.get("orderId") == order_id)
        self._record(StepResult(
            rule=_RULES["kill_switch"], trigger="placed a limit order while locked",
            action="the gateway accepted it; the daemon cancelled it", ok=True, reaction_ms=ms,
            reason=await self._reason(mark, action="cancel_order")))

        seq, mark = await self.trader.last_seq(), self.feed.mark()
        await self.trader.place(MNQ, BUY, 1)
        await self._until(self._flat, "the new position closed")
        ms, _ = await self._reaction(seq, CLOSE, trigger_path=PLACE)
        self._record(StepResult(
            rule=_RULES["kill_switch"], trigger="bought 1 MNQ at market while locked",
            action="the daemon closed the position", ok=True, reaction_ms=ms,
            reason=await self._reason(mark, action="close_position")))

    # ------------------------------------------------------------------ helpers
    def _record(self, step: StepResult) -> None:
        self.timeline.add(step)
        self.on_step(step)

    async def _quotes_subscribed(self) -> bool:
        return self.subscribed(MNQ)

    async def _mnq_size(self, size: int) -> bool:
        return [p["size"] for p in await self.trader.positions() if p["contractId"] == MNQ] == [size]

    async def _flat(self) -> bool:
        return not await self.trader.positions() and not await self.trader.working_orders()

    async def _until(self, check: Callable[[], Awaitable[Any]], what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout_s)
        while not await check():
            if time.monotonic() > deadline:
                raise StepFailed(f"{what} (waited {timeout or self.timeout_s:g} s)")
            await asyncio.sleep(0.05)

    async def _reaction(
        self, seq: int, enforce_path: str, *, trigger_path: str | None = None, trigger_ns: int | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[float, dict[str, Any]]:
        """(ms from the trigger to the daemon's enforcement request, that request) from /sim/log."""
        rows = await self.trader.requests_since(seq)
        start = trigger_ns
        if trigger_path is not None:
            first = next((r for r in rows if r["path"].lower().endswith(trigger_path)), None)
            if first is None:
                raise StepFailed(f"the trader's {trigger_path} is missing from the simulator log")
            start = first["t_ns"]
        assert start is not None
        for row in rows:
            raw = row.get("body")
            body: dict[str, Any] = raw if isinstance(raw, dict) else {}
            if (row["t_ns"] >= start and row["path"].lower().endswith(enforce_path)
                    and (match is None or match(body))):
                return (row["t_ns"] - start) / 1e6, {**row, "body": body}
        raise StepFailed(f"no {enforce_path} from the daemon in the simulator log")

    async def _reason(self, mark: int, rule: str | None = None, action: str | None = None) -> str | None:
        """The daemon's reason for its enforcement (its report follows the confirmation)."""
        def wanted(msg: dict[str, Any]) -> bool:
            data = msg.get("data") or {}
            return (msg.get("type") == "enforcement" and (rule is None or data.get("rule") == rule)
                    and (action is None or data.get("action") == action))

        msg = await self.feed.wait(wanted, mark, 2.0)
        return (msg.get("data") or {}).get("reason") if msg else None


_RULES = {
    "per_instrument_limit": "R02 max contracts per symbol",
    "per_position_loss": "R04 loss per position",
    "missing_stop": "R08 no stop-loss",
    "daily_loss_lock": "R03 daily loss limit",
    "kill_switch": "Kill switch (R03 lock)",
}


def _lock_end(lock: dict[str, Any]) -> str:
    ends = lock.get("ends")
    if ends == "reset":
        return "the daily reset"
    if lock.get("until"):
        return str(lock["until"])
    return str(ends or "it is cleared")
