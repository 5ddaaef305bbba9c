"""Seeded generator of whole trading days (step lists), rule configurations and a shrinker.

A day is a list of steps, each a plain tuple so it prints, compares and replays as it is:
  ("px", sym, dticks)              market move of dticks ticks (|dticks| >= 20 is a gap)
  ("mkt", acct, sym, side, size)   market order
  ("lmt", acct, sym, side, size, off)  limit `off` ticks from the market (off < 0: marketable)
  ("stp", acct, sym, side, size, off)  stop `off` ticks beyond the market on the adverse side
  ("mod", acct, pick, off)         modify the pick-th working order of the trader to `off` ticks
  ("cxl", acct, pick)              cancel the pick-th working order of the trader
  ("close", acct, sym)             closeContract
  ("pclose", acct, sym)            partialCloseContract of 1 contract
  ("flip", acct, sym)              one market order that reverses the position (or opens 2)
  ("burst", acct, sym, n)          n one-lot market orders at once, alternating sides
  ("restart",)                     daemon stopped and started again (in process)
  ("hubdrop", hub, down_ms)        the simulator drops the user or market hub
  ("storm", status, count)         the next `count` /api/ requests answer 500 or 429
  ("cantrade", acct, flag)         the broker's canTrade flag of an account
Extras (days generated with `extras=True`; drawn from a second RNG so the base steps of a seed
stay what they were):
  ("trail", acct, sym, side, size, ticks)   trailing stop `ticks` behind the market
  ("bracket", acct, sym, side, size, sl, tp)  market order with stop-loss/take-profit brackets (ticks)
  ("slow", ms, count)              the next `count` enforcement/read requests answer `ms` late
  ("lossexit", acct, sym, ticks)   buy 3 at market, the market falls `ticks` ticks, sell 3 at market:
                                   a losing exit that walks a thin book in several fills (R07 whole)
  ("tokens",)                      the simulator expires every session token (the daemon logs in again)
  ("nocantrade", acct)             an account update pushed without `canTrade` (after canTrade false)
  ("jump",)                        the wall clock (simulator and daemon, in-process days) jumps to just
                                   past the next 17:00 America/Chicago reset
  ("kill9", when)                  SIGKILL of `risk-manager run` (process days only), then a restart;
                                   when = "started" | "response" (the first enforcement row of that
                                   phase after the previous step, i.e. mid-flatten) | "any" (at once)
Accounts are indexes (0..n-1) into the simulator's accounts; syms are keys of CONTRACTS.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

# Trader symbol -> simulator contract id (tick size / value / fees come from the simulator catalog).
CONTRACTS = {
    "MNQ": "CON.F.US.MNQ.U26",  # micro, 0.25 = $0.50
    "NQ": "CON.F.US.ENQ.U26",   # mini, 0.25 = $5
    "MES": "CON.F.US.MES.U26",  # micro, 0.25 = $1.25
    "MCL": "CON.F.US.MCLE.V26",  # micro crude, 0.01 = $1
}
MICROS = {"MNQ", "MES", "MCL"}
BUY, SELL = 0, 1
Step = tuple[Any, ...]


@dataclass
class Day:
    seed: int
    accounts: int
    syms: list[str]
    rules: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    #: The daemon runs as a `risk-manager run` subprocess (kill -9 possible) instead of in process.
    process: bool = False
    #: The simulator's fill model (sim/fill_config.py keys); None = instant whole fills.
    fills: dict[str, Any] | None = None
    n_steps: int = 0  # the generator's step count (a replay regenerates the same day from it)

    def without_restarts(self) -> Day:
        return self.with_steps([s for s in self.steps if s[0] not in RESTARTS])

    def with_steps(self, steps: list[Step]) -> Day:
        return replace(self, steps=list(steps))

    @property
    def kills(self) -> bool:
        return any(s[0] == "kill9" for s in self.steps)


RESTARTS = ("restart", "kill9")
EXTRA_KINDS = ("trail", "bracket", "slow", "tokens", "jump", "kill9", "nocantrade", "lossexit")


# ----------------------------------------------------------------------------- rule configs
def random_rules(rng: random.Random, syms: list[str]) -> dict[str, Any]:
    """A valid R01–R13 configuration: several rules on at once, some in alert mode. Cooldowns and
    grace periods are longer than a generated day, so a rerun of the same day (I3) meets the same
    clocks; R09's session covers the whole week (the wall clock decides the time of day)."""
    def mode() -> str:
        return "alert" if rng.random() < 0.2 else "enforce"

    pool: dict[str, Callable[[], dict[str, Any]]] = {
        "max_contracts": lambda: {"limit": rng.randint(3, 7), "count_type": rng.choice(["gross", "net"]),
                                  "close_all": rng.random() < 0.5, "micro_weight": 1.0},
        "max_contracts_per_instrument": lambda: {
            "limits": {s: rng.randint(1, 4) for s in syms if s != "MCL"},
            "enforcement": rng.choice(["reduce_to_limit", "close_all"]),
            "unknown_symbol_action": "allow_unlimited"},
        "daily_realized_loss": lambda: {"loss_limit": rng.choice([40, 80, 150, 300]),
                                        "include_unrealized": rng.random() < 0.3},
        "daily_unrealized_loss": lambda: {"loss_limit": rng.choice([60, 150, 400]),
                                          "scope": rng.choice(["per_position", "total"])},
        "max_unrealized_profit": lambda: {"mode": "profit_target", "profit_target": rng.choice([80, 200, 500])},
        "trade_frequency_limit": lambda: {"per_minute": rng.randint(8, 12), "per_hour": 200, "per_session": 400,
                                          "cooldown_seconds": {"per_minute": 600, "per_hour": 1800},
                                          "flatten_on_trigger": True},
        "cooldown_after_loss": lambda: {"tiers": [{"loss_amount": -rng.choice([30, 60, 120]), "cooldown_seconds": 900}],
                                        "flatten_on_trigger": True},
        "auth_loss_guard": lambda: {},
        "symbol_blocks": lambda: {"blocked_symbols": [rng.choice(syms)], "close_existing": True},
        "daily_realized_profit": lambda: {"target": rng.choice([60, 150, 400]), "include_unrealized": False},
    }
    names = rng.sample(sorted(pool), rng.randint(2, 5))
    if "daily_realized_loss" not in names and rng.random() < 0.7:
        names.append("daily_realized_loss")  # the money rule is in most days
    rules = {}
    for name in names:
        block = {"enabled": True, **pool[name]()}
        if name == "max_unrealized_profit":  # its `mode` is the trigger; enforce/alert is action_mode
            block["action_mode"] = mode()
        elif name != "auth_loss_guard":
            block["mode"] = mode()
        rules[name] = block
    return rules


# ----------------------------------------------------------------------------- step generator
def _trader_step(rng: random.Random, accounts: int, syms: list[str]) -> Step:
    acct = 0 if rng.random() < 0.6 else rng.randrange(accounts)
    sym = rng.choice(syms)
    side = rng.choice((BUY, SELL))
    size = rng.choice((1, 1, 1, 2, 2, 3))
    roll = rng.random()
    if roll < 0.38:
        return ("mkt", acct, sym, side, size)
    if roll < 0.52:
        return ("lmt", acct, sym, side, size, rng.choice((-1, 2, 4, 8, 16)))
    if roll < 0.62:
        return ("stp", acct, sym, side, size, rng.choice((2, 4, 8, 16)))
    if roll < 0.69:
        return ("mod", acct, rng.randrange(3), rng.choice((-1, 1, 3, 6)))
    if roll < 0.76:
        return ("cxl", acct, rng.randrange(3))
    if roll < 0.84:
        return ("close", acct, sym)
    if roll < 0.90:
        return ("pclose", acct, sym)
    if roll < 0.97:
        return ("flip", acct, sym)
    return ("burst", acct, sym, 10)


def _market_step(rng: random.Random, syms: list[str]) -> Step:
    sym = rng.choice(syms)
    if rng.random() < 0.12:
        return ("px", sym, rng.choice((-1, 1)) * rng.randint(20, 80))  # a gap through resting orders
    return ("px", sym, rng.choice((-1, 1)) * rng.randint(1, 8))


def _fault_step(rng: random.Random, accounts: int, restarts: bool) -> list[Step]:
    roll = rng.random()
    if restarts and roll < 0.45:
        return [("restart",)]
    if roll < 0.6:
        return [("hubdrop", rng.choice(("user", "market")), rng.choice((0, 300)))]
    if roll < 0.8:
        return [("storm", rng.choice((500, 429)), rng.randint(2, 4))]
    return [("cantrade", rng.randrange(accounts), False)]


def _extra_step(rng: random.Random, accounts: int, syms: list[str], process: bool) -> Step:
    acct = 0 if rng.random() < 0.6 else rng.randrange(accounts)
    sym = rng.choice(syms)
    side = rng.choice((BUY, SELL))
    size = rng.choice((1, 1, 2))
    roll = rng.random()
    if roll < 0.3:
        return ("trail", acct, sym, side, size, rng.choice((4, 8, 16)))
    if roll < 0.6:
        return ("bracket", acct, sym, side, size, rng.choice((8, 16, 40)), rng.choice((8, 16, 40)))
    if roll < 0.66:
        return ("slow", rng.choice((300, 1200)), rng.randint(1, 4))
    if roll < 0.72:
        return ("lossexit", acct, sym, rng.choice((12, 24, 40)))
    if roll < 0.8:
        return ("tokens",)
    if not process:
        return ("jump",)
    return ("kill9", rng.choice(("started", "response", "any")))


def _fill_model(rng: random.Random) -> dict[str, Any] | None:
    """Most extras days fill as a market does: latency, partial fills over thin levels."""
    if rng.random() < 0.3:
        return None
    return {"fill_latency_ms": rng.choice((0, 20, 60)), "fill_jitter_ms": rng.choice((0, 10)),
            "fill_interval_ms": rng.choice((0, 15, 40)), "depth": rng.choice((None, [1, 2], [2, 1, 3]))}


def generate_day(seed: int, n_steps: int = 30, restarts: bool = True, extras: bool = False) -> Day:
    """`extras` adds trailing stops, brackets, slow responses, token expiry, the fill model and
    (on process days) kill -9, from a second RNG: the base steps of the seed do not change."""
    day = _base_day(seed, n_steps, restarts)
    if not extras:
        return day
    rng = random.Random(seed * 1_000_003 + 17)
    process = restarts and rng.random() < 0.5
    fills = _fill_model(rng)
    steps: list[Step] = []
    for step in day.steps:
        steps.append(step)
        if step[0] == "cantrade" and step[2] is False and rng.random() < 0.6:
            steps.append(("nocantrade", step[1]))  # an account update without the flag meanwhile
        if rng.random() < 0.25:
            steps.append(_extra_step(rng, day.accounts, day.syms, process))
    return replace(day, steps=steps, process=process, fills=fills)


def _base_day(seed: int, n_steps: int, restarts: bool) -> Day:
    rng = random.Random(seed)
    accounts = rng.randint(1, 3)
    syms = rng.sample(sorted(CONTRACTS), rng.randint(3, 4))
    rules = random_rules(rng, syms)
    steps: list[Step] = []
    reenable: dict[int, int] = {}  # a canTrade flip comes back a few steps later
    while len(steps) < n_steps:
        roll = rng.random()
        if roll < 0.55:
            steps.append(_trader_step(rng, accounts, syms))
        elif roll < 0.85:
            steps.append(_market_step(rng, syms))
        else:
            for step in _fault_step(rng, accounts, restarts):
                if step[0] == "cantrade":
                    if step[1] in reenable:
                        continue
                    reenable[step[1]] = len(steps) + rng.randint(2, 5)
                steps.append(step)
        for acct, at in list(reenable.items()):
            if len(steps) >= at:
                steps.append(("cantrade", acct, True))
                del reenable[acct]
    steps += [("cantrade", acct, True) for acct in reenable]
    return Day(seed, accounts, syms, rules, steps, n_steps=n_steps)


# ----------------------------------------------------------------------------- shrinker
def shrink(day: Day, fails: Callable[[Day], bool], budget: int = 24) -> Day:
    """Delta debugging over the step list: drop chunks (halves, quarters, ... single steps) while
    the day still fails; at most `budget` reruns. A canTrade re-enable is never dropped alone
    (it only ends a fault), so shrunk days still end tradeable."""
    steps = list(day.steps)
    runs = 0
    chunk = max(1, len(steps) // 2)
    while chunk >= 1 and runs < budget:
        i = 0
        changed = False
        while i < len(steps) and runs < budget:
            candidate = steps[:i] + steps[i + chunk:]
            candidate += [s for s in steps[i:i + chunk] if s[0] == "cantrade" and s[2] is True]
            if len(candidate) < len(steps):
                runs += 1
                if fails(day.with_steps(candidate)):
                    steps = candidate
                    changed = True
                    continue
            i += chunk
        if not changed:
            chunk //= 2
    return day.with_steps(steps)
