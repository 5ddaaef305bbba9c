"""Rule evaluation per event (target: p99 ≤ 100 µs): one account, 10 open positions, all 13
rules enabled with limits the stream never reaches, so every rule runs its full check each event.

Event mix like a live feed: mostly quotes on held contracts, plus position, order and trade updates.
`uv run python -m bench rule_eval [--events N] [--seed S]`
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from datetime import UTC, datetime, timedelta

from bench._stats import emit, fail, latency_summary, machine

ACCOUNT = 1


def _setup():
    from risk_manager.config.models import RULE_MODELS, RiskConfig
    from risk_manager.engine.catalog import ContractCatalog
    from risk_manager.engine.engine import RiskEngine

    catalog = ContractCatalog.bundled()
    if len(catalog) == 0:
        raise RuntimeError("no bundled contract list (risk_manager/sim/data/contracts.json)")
    rules = {name: {"enabled": True} for name in RULE_MODELS}
    rules |= {
        "max_contracts": {"limit": 1000},
        "max_contracts_per_instrument": {"limits": {}, "unknown_symbol_action": "allow_unlimited"},
        "daily_realized_loss": {"loss_limit": 10**9},
        "daily_unrealized_loss": {"loss_limit": 10**9},
        "max_unrealized_profit": {"profit_target": 10**9},
        "trade_frequency_limit": {"per_minute": 10**6, "per_hour": 10**6, "per_session": 10**6},
        "cooldown_after_loss": {"tiers": [{"loss_amount": -10**9, "cooldown_seconds": 60}]},
        "no_stop_loss_grace": {"grace_period_seconds": 10**6},
        "session_block_outside": {"sessions": {"default": {"start": "00:00", "end": "23:59",
                                  "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
                                  "respect_holidays": False},
        "symbol_blocks": {"blocked_symbols": ["ZZZ"]},
        "trade_management": {"enabled": True, "auto_breakeven": {"profit_trigger_ticks": 10**6},
                             "trailing_stop": {"activation_ticks": 10**6}},
        "daily_realized_profit": {"enabled": True, "target": 10**9},
    }
    engine = RiskEngine(RiskConfig.model_validate({"rules": rules}), catalog)
    symbols = ["MNQU6", "ESU6", "NQU6", "MESU6", "RTYU6", "M2KU6", "YMU6", "MYMU6", "CLV6", "GCZ6"]
    by_name = {c.name: c for c in (catalog.contract(cid) for cid in list(catalog._by_id))}
    return engine, [by_name[s] for s in symbols]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench rule_eval")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    from risk_manager.engine.actions import BROKER_ACTIONS
    from risk_manager.events import Order, Position, Quote, Trade, make_event

    try:
        engine, contracts = _setup()
    except Exception as exc:  # noqa: BLE001 - report why, never a number
        return fail("rule_eval", str(exc))
    rng = random.Random(args.seed)
    now = datetime(2026, 8, 19, 15, 0, tzinfo=UTC)
    prices = {c.id: 1000.0 for c in contracts}
    for i, c in enumerate(contracts):  # 10 open positions, each with a protective stop
        engine.handle(make_event(Order(100 + i, ACCOUNT, c.id, 1, 4, 1, 2, stop_price=1.0)), now)
        engine.handle(make_event(Position(i + 1, ACCOUNT, c.id, 1, 2, 1000.0)), now)
        engine.handle(make_event(Quote(c.id, last_price=1000.0, best_bid=999.0, best_ask=1001.0)), now)
    events = []
    for n in range(args.events):
        c = rng.choice(contracts)
        r = rng.random()
        if r < 0.80:
            prices[c.id] += rng.choice((-1, 1)) * c.tick_size
            events.append(make_event(Quote(c.id, last_price=prices[c.id])))
        elif r < 0.90:
            events.append(make_event(Position(1, ACCOUNT, c.id, 1, 2, rng.choice((999.75, 1000.0)))))
        elif r < 0.97:
            events.append(make_event(Order(500 + n % 7, ACCOUNT, c.id, 1, 1, 0, 1, limit_price=1.0)))
        else:
            events.append(make_event(Trade(10_000 + n, ACCOUNT, c.id, 1000.0, 1, 1, profit_and_loss=1.0,
                                           fees=0.1, order_id=10_000 + n, creation_timestamp=now)))
    warm = min(2000, len(events) // 4)
    samples: list[int] = []
    enforced = 0
    gc.collect()
    gc.disable()
    try:
        for i, event in enumerate(events):
            t = now + timedelta(milliseconds=i)
            t0 = time.perf_counter_ns()
            out = engine.handle(event, t)
            dt = time.perf_counter_ns() - t0
            enforced += sum(isinstance(a, BROKER_ACTIONS) for a in out)
            if i >= warm:
                samples.append(dt)
    finally:
        gc.enable()
    if enforced:
        return fail("rule_eval", f"the stream triggered {enforced} enforcement actions; limits too low")
    result = {"bench": "rule_eval", "positions": len(contracts), "rules_enabled": 13,
              **latency_summary(samples, "us"), "target_p99_us": 100, "machine": machine()}
    result["pass"] = result["p99_us"] <= 100
    emit(result)
    return 0
