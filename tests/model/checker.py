"""The checker: holds a running day against the invariants I1–I6 after every step and at quiet.

Truth is the simulator (`/sim/state`: balances, orders, positions, the trade ledger); the daemon is
read through its status document (the same one `/status` serves), its SQLite file (read-only) and
the enforcement records it emitted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from model.days import CONTRACTS, MICROS, Day, Step
from model.world import CANCELLED, WORKING, World

ACCOUNT_WIDE = ("lockout", "cooldown")
RULE_IDS = {  # lock rows name the rule by id or by config key: accept both
    "max_contracts": "R01", "max_contracts_per_instrument": "R02", "daily_realized_loss": "R03",
    "daily_unrealized_loss": "R04", "max_unrealized_profit": "R05", "trade_frequency_limit": "R06",
    "cooldown_after_loss": "R07", "no_stop_loss_grace": "R08", "session_block_outside": "R09",
    "auth_loss_guard": "R10", "symbol_blocks": "R11", "trade_management": "R12", "daily_realized_profit": "R13",
}


@dataclass(frozen=True)
class Violation:
    invariant: str
    step: int  # index of the step after which it was seen; -1 = at the end
    message: str

    def __str__(self) -> str:
        where = "at quiet" if self.step < 0 else f"after step {self.step}"
        return f"{self.invariant} {where}: {self.message}"


def _signed(trade: dict[str, Any]) -> int:
    return trade["size"] if trade["side"] == 0 else -trade["size"]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _mode(cfg: dict[str, Any]) -> str:
    return cfg.get("action_mode") or ("alert" if cfg.get("mode") == "alert" else "enforce")


def _flattens(rule: str, cfg: dict[str, Any]) -> bool:
    """SPEC §5: the rules whose action is a flatten (cancel working orders, then close)."""
    if rule == "max_contracts":
        return bool(cfg.get("close_all", True))
    if rule == "daily_unrealized_loss":
        return cfg.get("scope") == "total"
    if rule in ("trade_frequency_limit", "cooldown_after_loss"):
        return bool(cfg.get("flatten_on_trigger", True))
    return rule in ("daily_realized_loss", "session_block_outside", "auth_loss_guard", "daily_realized_profit")


def _rule_key(name: str) -> str:
    return RULE_IDS.get(name, name)


def sim_net_realized(trades: list[dict[str, Any]], acct: int) -> float:
    return round(sum((t.get("profitAndLoss") or 0.0) - t["fees"] - t["commissions"]
                     for t in trades if t["accountId"] == acct and not t.get("voided")), 2)


def sim_lowest_realized(trades: list[dict[str, Any]], acct: int) -> float:
    """The lowest the day's net realized P&L went, fill by fill in the ledger's order."""
    total = low = 0.0
    for t in sorted((t for t in trades if t["accountId"] == acct and not t.get("voided")),
                    key=lambda t: t["id"]):
        total += (t.get("profitAndLoss") or 0.0) - t["fees"] - t["commissions"]
        low = min(low, total)
    return round(low, 2)


class Checker:
    def __init__(self, world: World, day: Day) -> None:
        self.w = world
        self.day = day
        self.checks = 0
        self.violations: list[Violation] = []
        self._flattens_seen = 0
        self._cancels_checked: set[int] = set()
        self._turns_seen: set[int] = set()
        self._r07_checked: set[int] = set()
        self.enforce = {k: v for k, v in day.rules.items() if _mode(v) == "enforce"}
        self.alert = {k for k, v in day.rules.items() if _mode(v) == "alert"}
        self.flatten_rules = {RULE_IDS[k] for k, v in self.enforce.items() if _flattens(k, v)}

    def fail(self, inv: str, step: int, msg: str) -> None:
        v = Violation(inv, step, msg)
        if all((x.invariant, x.message) != (v.invariant, v.message) for x in self.violations):
            self.violations.append(v)

    def ok(self) -> None:
        self.checks += 1

    # -- the whole battery after a step (the world has settled) ------------------------------
    def after_step(self, i: int, settled: bool) -> None:
        w = self.w
        state = w.sim_state()
        status = w.status()
        rows = {r["id"]: r for r in status["accounts"]}
        if not settled:
            self.fail("I2", i, f"not quiet within the bound (enforcement in flight={w.busy()})")
        self.i1_pnl(i, state, rows)
        self.i2_kill_switch(i, state, rows)
        self.i4_own_orders(i, state)
        self.i5_durability(i, state, rows)
        self.i6_honesty(i, state)

    def i1_pnl(self, i: int, state: dict[str, Any], rows: dict[int, Any]) -> None:
        balances = {a["id"]: a["balance"] for a in state["accounts"]}
        for acct in self.w.accounts:
            change = round(balances[acct] - self.w.start_balance[acct], 2)
            got = rows[acct].get("realized_pnl")
            self.ok()
            if got is None or abs(got - change) > 0.005:
                self.fail("I1", i, f"account {self.w.accounts.index(acct)}: daemon net realized {got} != "
                                   f"simulator balance change {change}")

    def _exposure(self, state: dict[str, Any], acct: int, contract: str | None = None) -> list[str]:
        left = [f"position {p['contractId']} x{p['size']}" for p in state["positions"]
                if p["accountId"] == acct and p["size"] > 0 and contract in (None, p["contractId"])]
        left += [f"working order {o['id']} ({o['contractId']}, status {o['status']})" for o in state["orders"]
                 if o["accountId"] == acct and o["status"] in WORKING and contract in (None, o["contractId"])]
        return left

    def i2_kill_switch(self, i: int, state: dict[str, Any], rows: dict[int, Any]) -> None:
        for acct in self.w.accounts:
            for lk in rows[acct].get("locks", []):
                if lk["kind"] in ACCOUNT_WIDE:
                    left = self._exposure(state, acct)
                elif lk["kind"] == "symbol" and lk.get("symbol"):
                    cid = CONTRACTS.get(lk["symbol"].upper())
                    left = self._exposure(state, acct, cid) if cid else []
                else:
                    continue
                self.ok()
                if left:
                    self.fail("I2", i, f"account {self.w.accounts.index(acct)} locked by {lk['rule']} "
                                       f"({lk['kind']}) but at quiet: {', '.join(left)}")

    def i4_own_orders(self, i: int, state: dict[str, Any]) -> None:
        w = self.w
        # (a) the guard never cancels an order it placed: every cancel it sent names a trader order.
        for (detail,) in w.db_rows("SELECT detail FROM audit WHERE detail LIKE '%\"call\": \"cancel\"%' "
                                   "OR detail LIKE '%\"call\":\"cancel\"%'"):
            import json
            d = json.loads(detail)
            oid = d.get("order_id")
            self.ok()
            if oid is not None and oid not in w.trader_orders:
                self.fail("I4", i, f"the guard cancelled order {oid}, which it placed itself")
        # (b) after an account flatten (what SPEC §5 says the rule does, whatever the executor ran)
        # no working order of the account remains that existed before it. A contract-scoped
        # flatten (R04 per position, R11) is not held here: its record does not name the contract.
        for rec in w.enforcements[self._flattens_seen:]:
            if rec["rule"].split(":")[0] not in self.flatten_rules:
                continue
            # decided no later than confirmation minus the latency (received -> confirmed)
            at = _ts(rec["ts"]) - timedelta(milliseconds=rec.get("latency_ms") or 0)
            for o in state["orders"]:
                if o["accountId"] == rec["account_id"] and o["status"] in WORKING and _ts(o["creationTimestamp"]) < at:
                    self.ok()
                    self.fail("I4", i, f"{rec['rule']} flatten of account {w.accounts.index(o['accountId'])} "
                                       f"left working order {o['id']} ({o['contractId']})")
        self._flattens_seen = len(w.enforcements)
        self._never_turns(i, state)

    def _never_turns(self, i: int, state: dict[str, Any]) -> None:
        """(c) The guard's own fills only ever take a position towards flat: none turns it or
        grows it — unless a trader fill on that contract came after the guard's order was sent
        (the broker filled both: the guard could not have known)."""
        orders = {o["id"]: o for o in state["orders"]}
        net: dict[tuple[int, str], int] = {}
        trader_fills: dict[tuple[int, str], list[datetime]] = {}
        for t in sorted(state["trades"], key=lambda t: t["id"]):
            if t.get("voided"):
                continue
            key = (t["accountId"], t["contractId"])
            before = net.get(key, 0)
            after = net[key] = before + _signed(t)
            if t["orderId"] in self.w.trader_orders:
                trader_fills.setdefault(key, []).append(_ts(t["creationTimestamp"]))
                continue
            order = orders.get(t["orderId"])
            if order is None or t["id"] in self._turns_seen:
                continue  # seeded history, or already judged
            self._turns_seen.add(t["id"])
            self.ok()
            if before != 0 and after * before >= 0 and abs(after) < abs(before):
                continue
            sent = _ts(order["creationTimestamp"])
            if any(at >= sent for at in trader_fills.get(key, [])):
                continue
            self.fail("I4", i, f"the guard's order {order['id']} took account "
                               f"{self.w.accounts.index(t['accountId'])} {t['contractId']} from {before} to "
                               f"{after}: a reduction more than the position")

    def i5_durability(self, i: int, state: dict[str, Any], rows: dict[int, Any]) -> None:
        w = self.w
        on_disk = {(a, r) for a, r in w.db_rows("SELECT account_id, rule FROM locks")}
        for acct in w.accounts:
            for lk in rows[acct].get("locks", []):
                self.ok()
                if (acct, lk["rule"]) not in on_disk:
                    self.fail("I5", i, f"lock {lk['rule']} of account {w.accounts.index(acct)} is not on disk")
                if _rule_key(lk["rule"]) in {_rule_key(n) for n in self.alert}:
                    self.fail("I5", i, f"alert-mode rule {lk['rule']} locked account {w.accounts.index(acct)}")
        self._reference(i, state, rows)

    def _reference(self, i: int, state: dict[str, Any], rows: dict[int, Any]) -> None:
        """A small reference evaluation of SPEC §5 over the simulator's ledger and positions."""
        w = self.w
        can_trade = {a["id"]: a["canTrade"] for a in state["accounts"]}
        for acct in w.accounts:
            n = w.accounts.index(acct)
            locks = {_rule_key(lk["rule"]) for lk in rows[acct].get("locks", [])}
            flat = not self._exposure(state, acct)
            trades = w.today(state["trades"])
            realized = sim_net_realized(trades, acct)
            r03 = self.enforce.get("daily_realized_loss")
            if r03 is not None:
                self.ok()
                if realized <= -r03["loss_limit"] and (flat or not r03["include_unrealized"]) and "R03" not in locks:
                    self.fail("I5", i, f"account {n}: realized {realized} <= -{r03['loss_limit']} but no R03 lock")
                # Realized P&L is not monotonic (a losing fill, then the flatten's winning closes):
                # a lock is due if the running total over the ledger ever reached the limit.
                low = sim_lowest_realized(trades, acct)
                if not r03["include_unrealized"] and low > -r03["loss_limit"] and "R03" in locks:
                    self.fail("I5", i, f"account {n}: R03 locked though realized never went below {low} "
                                       f"(limit -{r03['loss_limit']})")
            r13 = self.enforce.get("daily_realized_profit")
            if r13 is not None:
                self.ok()
                if realized >= r13["target"] and "R13" not in locks:
                    self.fail("I5", i, f"account {n}: realized {realized} >= {r13['target']} but no R13 lock")
            self._r06_r07(i, n, acct, trades, state, locks)
            r10 = self.day.rules.get("auth_loss_guard")
            if r10 is not None and not can_trade[acct]:
                self.ok()
                if "R10" not in locks:
                    self.fail("I5", i, f"account {n}: canTrade false but no R10 lock")
            positions = [p for p in state["positions"] if p["accountId"] == acct and p["size"] > 0]
            r01 = self.enforce.get("max_contracts")
            if r01 is not None:
                signed = [p["size"] * (1 if p["type"] == 1 else -1) for p in positions]
                total = abs(sum(signed)) if r01["count_type"] == "net" else sum(abs(s) for s in signed)
                self.ok()
                if total > r01["limit"]:
                    self.fail("I5", i, f"account {n}: {total} contracts ({r01['count_type']}) open at quiet, "
                                       f"R01 limit {r01['limit']}")
            r02 = self.enforce.get("max_contracts_per_instrument")
            if r02 is not None:
                for p in positions:
                    sym = next(s for s, c in CONTRACTS.items() if c == p["contractId"])
                    limit = r02["limits"].get(sym)
                    self.ok()
                    if limit is not None and p["size"] > limit:
                        self.fail("I5", i, f"account {n}: {sym} x{p['size']} at quiet, R02 limit {limit}")
            r11 = self.enforce.get("symbol_blocks")
            if r11 is not None:
                for sym in r11["blocked_symbols"]:
                    left = self._exposure(state, acct, CONTRACTS[sym])
                    self.ok()
                    if left:
                        self.fail("I5", i, f"account {n}: blocked symbol {sym} still has {', '.join(left)}")

    def _r06_r07(self, i: int, n: int, acct: int, trades: list[dict[str, Any]], state: dict[str, Any],
                 locks: set[str]) -> None:
        """R06 and R07 over the trader's own orders (the guard's closes never count): a lock is due
        when the ledger shows the breach, and a lock needs one. Margins keep clock skew between
        the ledger's timestamps and the daemon's from deciding."""
        mine = [t for t in trades if t["accountId"] == acct and not t.get("voided")
                and t["orderId"] in self.w.trader_orders]
        r06 = self.enforce.get("trade_frequency_limit")
        if r06 is not None:
            firsts = sorted({o: min(_ts(t["creationTimestamp"]) for t in mine if t["orderId"] == o)
                             for o in {t["orderId"] for t in mine}}.values())

            def most_within(seconds: float) -> int:
                return max((sum(1 for u in firsts if timedelta(0) <= t - u <= timedelta(seconds=seconds))
                            for t in firsts), default=0)

            limit = r06["per_minute"]
            self.ok()
            if most_within(55) > limit and "R06" not in locks:
                self.fail("I5", i, f"account {n}: {most_within(55)} trader executions within a minute > "
                                   f"{limit} but no R06 lock")
            if most_within(65) <= limit and "R06" in locks:
                self.fail("I5", i, f"account {n}: R06 locked though no minute held more than "
                                   f"{most_within(65)} trader executions (limit {limit})")
        r07 = self.enforce.get("cooldown_after_loss")
        if r07 is not None:
            loss = max(tier["loss_amount"] for tier in r07["tiers"])  # the mildest tier locks first
            status = {o["id"]: o["status"] for o in state["orders"]}
            done_sums, low = [], 0.0
            for oid in {t["orderId"] for t in mine if t.get("profitAndLoss") is not None}:
                running = 0.0
                for t in sorted((t for t in mine if t["orderId"] == oid), key=lambda t: t["id"]):
                    running += (t.get("profitAndLoss") or 0.0) - t["fees"] - t["commissions"]
                    low = min(low, running)
                if status.get(oid) not in WORKING:  # a complete exit: judged by now
                    done_sums.append(round(running, 2))
            everything = [t for t in trades if t["accountId"] == acct and not t.get("voided")]
            self._r07_timing(i, n, acct, mine, everything, state, loss, r07.get("partial_exit_grace_seconds", 2.0))
            self.ok()
            worst = min(done_sums, default=0.0)
            if worst <= loss - 0.01 and "R07" not in locks:
                self.fail("I5", i, f"account {n}: a trader exit order summed {worst} <= {loss} but no R07 lock")
            if low > loss + 0.01 and "R07" in locks:
                self.fail("I5", i, f"account {n}: R07 locked though no trader exit order reached {loss} "
                                   f"(worst running sum {round(low, 2)})")

    def _r07_timing(self, i: int, n: int, acct: int, mine: list[dict[str, Any]],
                    everything: list[dict[str, Any]], state: dict[str, Any], loss: float, grace: float) -> None:
        """R07 judges an exit order whole: each R07 lock needs, at the moment it was set, a trader
        exit order whose fills so far reached the tier and that was complete then — ended, its
        position flat or flipped — or whose grace had run out. A lock set on the first fill of an
        exit still filling is the defect issue 11 item 7 fixed."""
        # The daemon sees an event only after the simulator made it (one clock for both): nothing that
        # happened after the lock may justify it; 1 ms for timestamp rounding.
        slack = timedelta(milliseconds=1)
        orders = {o["id"]: o for o in state["orders"]}
        for rid, at in self.w.db_rows(f"SELECT id, at FROM lock_history WHERE rule = 'R07' AND change = 'set' "
                                      f"AND account_id = {acct}"):
            set_at = _ts(at)
            if rid in self._r07_checked or (self.w.day_start is not None and set_at < self.w.day_start):
                continue
            self._r07_checked.add(rid)
            self.ok()
            if not any(self._judgeable(e, mine, everything, orders, set_at, slack, loss, grace)
                       for e in {t["orderId"] for t in mine if t.get("profitAndLoss") is not None}):
                self.fail("I5", i, f"account {n}: R07 locked at {set_at.time()} before any trader exit "
                                   f"order that reached {loss} was complete (or its grace ran out)")

    @staticmethod
    def _judgeable(oid: int, mine: list[dict[str, Any]], everything: list[dict[str, Any]],
                   orders: dict[int, Any], at: datetime, slack: timedelta, loss: float, grace: float) -> bool:
        fills = sorted((t for t in mine if t["orderId"] == oid), key=lambda t: t["id"])
        so_far = [t for t in fills if _ts(t["creationTimestamp"]) <= at + slack]
        closing = [t for t in so_far if t.get("profitAndLoss") is not None]
        if not closing:
            return False
        total = sum((t.get("profitAndLoss") or 0.0) - t["fees"] - t["commissions"] for t in so_far)
        if total > loss + 0.01:
            return False
        order = orders.get(oid)
        ended = (order is not None and order["status"] not in WORKING
                 and _ts(order["updateTimestamp"]) <= at + slack)
        first_close = _ts(closing[0]["creationTimestamp"])
        graced = at + slack >= first_close + timedelta(seconds=grace)
        # flat or flipped: the contract's net position (all the account's fills) before the exit's
        # first closing fill and at the lock
        contract = closing[0]["contractId"]
        ledger = sorted((t for t in everything if t["contractId"] == contract), key=lambda t: t["id"])
        before = sum(_signed(t) for t in ledger if t["id"] < closing[0]["id"])
        now = sum(_signed(t) for t in ledger if _ts(t["creationTimestamp"]) <= at + slack)
        turned = now == 0 or (before != 0 and (now > 0) != (before > 0))
        return ended or graced or turned

    def i6_honesty(self, i: int, state: dict[str, Any]) -> None:
        import json

        orders = {o["id"]: o for o in state["orders"]}
        refused: dict[int, bool] = {}  # order id -> its last failed cancel was the broker's "no"
        for rid, phase, detail in self.w.db_rows(
                "SELECT id, phase, detail FROM audit WHERE phase IN ('call_failed', 'response', 'reconciled') "
                "ORDER BY id"):
            d = json.loads(detail)
            if d.get("call") != "cancel":
                continue
            oid = d.get("order_id")
            if phase == "call_failed":
                refused[oid] = d.get("fault") == "rejected"
                continue
            if rid in self._cancels_checked:
                continue
            self._cancels_checked.add(rid)
            if phase == "reconciled" and refused.get(oid):
                # The broker refused the cancel and the order had settled on its own: the history
                # says `refused`, not `ok` — true whatever settled it.
                continue
            self.ok()
            order = orders.get(oid)
            if order is None or order["status"] != CANCELLED:
                # An accepted cancel, or one reconciled after a timeout/5xx (reported `ok`), of an
                # order the broker in fact filled: the history would not be true (issue 11 item 4).
                self.fail("I6", i, f"audit says cancel of order {oid} {phase}, simulator has "
                                   f"{None if order is None else 'status ' + str(order['status'])}")

    # -- around a restart --------------------------------------------------------------------
    def restart_unchanged(self, i: int, before: dict[int, set[str]], after: dict[int, set[str]],
                          new_records: list[dict[str, Any]]) -> None:
        self.ok()
        for acct in self.w.accounts:
            if before.get(acct, set()) - after.get(acct, set()):
                self.fail("I5", i, f"account {self.w.accounts.index(acct)}: locks "
                                   f"{sorted(before[acct] - after.get(acct, set()))} lost over a restart")
        for rec in new_records:  # e.g. R06 recounting or R07 re-judging a trade already handled
            self.fail("I3", i, f"the restart caused an enforcement of its own: {rec['rule']} {rec['action']} "
                               f"({rec['reason']})")


def lock_sets(w: World) -> dict[int, set[str]]:
    return {r["id"]: {lk["rule"] for lk in r.get("locks", [])} for r in w.status()["accounts"]}


def summary(w: World) -> tuple[frozenset[tuple[Any, ...]], frozenset[tuple[Any, ...]]]:
    """What I3 compares between runs of one day: locks (account, rule, ends) and enforcements
    (account, rule, action, outcome) — by account index, as ids are the same per seed anyway."""
    locks = frozenset((w.accounts.index(r["id"]), lk["rule"], lk["ends"])
                      for r in w.status()["accounts"] for lk in r.get("locks", []))
    acts = frozenset((w.accounts.index(e["account_id"]), e["rule"], e["action"], e["outcome"])
                     for e in w.enforcements if e["account_id"] in w.accounts)
    return locks, acts


def describe(steps: list[Step]) -> str:
    return "\n".join(f"  {n:3d} {s!r}" for n, s in enumerate(steps))


__all__ = ["Checker", "Violation", "lock_sets", "summary", "describe", "MICROS"]
