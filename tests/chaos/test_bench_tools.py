"""The benchmark tooling measures what it claims (bench/ has no other tests; they live here).

- busyday writes exactly `json.dumps(Event.to_json())` lines, time-ordered, deterministic by seed,
  with fills whose realized P&L adds up;
- the memory replay runs the engine over such a day;
- percentiles are nearest-rank; `python -m bench` dispatches and refuses unknown names;
- reaction finds each order's push emit time and a short real run measures every span;
- with the fill model, reaction races market orders and throughput feeds real fill event sets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]


def test_busyday_lines_are_exactly_event_to_json_and_deterministic(tmp_path: Path) -> None:
    from bench.busyday import generate_busy_day
    from risk_manager.events import Event, EventKind

    first = generate_busy_day(tmp_path / "a.jsonl", hours=0.02, fills=20, seed=3)
    second = generate_busy_day(tmp_path / "b.jsonl", hours=0.02, fills=20, seed=3)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first.quotes > 0.02 * 3600 * 40 * 3 * 0.5 and first.fills == 20
    assert (second.quotes, second.fills) == (first.quotes, first.fills)
    last_ns = 0
    realized: dict[int, float] = {}
    kinds = set()
    for line in (tmp_path / "a.jsonl").read_text().splitlines():
        event = Event.from_json(json.loads(line))
        assert json.dumps(event.to_json(), separators=(",", ":")) == line
        assert event.received_ns >= last_ns, "journal not in time order"
        last_ns = event.received_ns
        kinds.add(event.kind)
        if event.kind is EventKind.TRADE and event.data.profit_and_loss is not None:  # type: ignore[union-attr]
            pnl = event.data.pnl("net")  # type: ignore[union-attr]
            realized[event.account_id] = realized.get(event.account_id, 0.0) + pnl  # type: ignore[index]
    assert kinds == {EventKind.QUOTE, EventKind.ORDER, EventKind.TRADE, EventKind.POSITION, EventKind.ACCOUNT}
    assert {k: round(v, 2) for k, v in realized.items()} == first.realized


def test_memory_replay_runs_the_engine_over_a_day(tmp_path: Path) -> None:
    from bench.busyday import generate_busy_day
    from bench.memory import replay

    day = generate_busy_day(tmp_path / "day.jsonl", hours=0.01, fills=10, seed=1)
    result = replay(tmp_path / "day.jsonl", with_store=False)
    assert result["events"] == day.events and result["accounts"] == 2
    assert result["rss_end_mb"] > 0 and result["events_per_s"] > 0


def test_percentiles_are_nearest_rank() -> None:
    from bench._stats import latency_summary, percentile

    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7], 99) == 7
    summary = latency_summary([1_000_000, 2_000_000, 3_000_000])
    assert summary == {"n": 3, "p50_ms": 2.0, "p95_ms": 3.0, "p99_ms": 3.0, "max_ms": 3.0}
    with pytest.raises(ValueError):
        percentile([], 50)


def test_bench_dispatcher_lists_and_refuses_unknown_names() -> None:
    run = subprocess.run([sys.executable, "-m", "bench", "no_such_bench"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no benchmark named 'no_such_bench'" in run.stderr
    assert "reaction" in run.stderr and "throughput" in run.stderr


def test_reaction_takes_each_orders_first_working_push_as_its_emit_time() -> None:
    from bench.reaction import first_order_pushes

    def row(conn: int, t_ns: int, target: str, order_id: int, status: int | None) -> dict:
        return {"seq": t_ns, "t_ns": t_ns, "hub": "user", "conn": conn, "target": target,
                "account_id": 1, "id": order_id, "order_id": order_id, "status": status}

    pushes = [
        row(1, 100, "GatewayUserOrder", 7, 6), row(1, 100, "GatewayUserOrder", 7, 1),
        row(2, 90, "GatewayUserOrder", 7, 1),  # an earlier write on another connection counts
        row(1, 80, "GatewayUserOrder", 8, 3),  # cancelled: not a working order's push
        row(1, 120, "GatewayUserTrade", 8, None), row(1, 130, "GatewayUserOrder", 8, 1),
    ]
    emitted, connections = first_order_pushes(pushes)
    assert emitted == {7: 90, 8: 130} and connections == {1, 2}


def test_reaction_quick_run_reports_emit_to_cancel(tmp_path: Path) -> None:
    """A short real run (sim + `risk-manager run`): every latency is measured for every order."""
    run = subprocess.run(
        [sys.executable, "-m", "bench", "reaction", "--n", "5", "--floor-n", "0", "--quotes", "100",
         "--contracts", "2", "--gap", "0.2", "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout)
    assert result["headline"].startswith("emit_to_cancel") and result["user_hub_connections"] == 1
    keys = ("emit_to_cancel", "received_to_cancel", "place_to_cancel", "place_to_emit", "emit_to_received")
    assert all(result[key]["n"] == 5 for key in keys), {key: result[key] for key in keys}
    # Per order: place arrival <= emit <= daemon received <= cancel arrival, so every order
    # statistic of the shorter spans is at most the longer one's.
    for stat in ("p50_ms", "max_ms"):
        assert result["place_to_emit"][stat] >= 0 and result["emit_to_received"][stat] >= 0
        assert 0 < result["received_to_cancel"][stat] <= result["emit_to_cancel"][stat] <= result["place_to_cancel"][stat]


def test_reaction_with_the_fill_model_races_market_orders(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "reaction", "--n", "4", "--floor-n", "0", "--quotes", "100",
         "--contracts", "2", "--gap", "0.2", "--workdir", str(tmp_path),
         "--fills", '{"fill_latency_ms": 80, "depth": [1]}'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout)
    fills = result["fill_model"]
    assert fills["fill_latency_ms"] == 80 and fills["measured_orders"] == "market, 2 lots"
    race = fills["race"]
    assert sum(race.values()) == 4 and race["other"] == 0, race
    assert result["emit_to_cancel"]["n"] == 4 - race["filled_before_cancel"]


def test_throughput_fill_model_feeds_the_simulators_fill_event_sets() -> None:
    from bench.throughput import FillFeeder
    from risk_manager.events import EventKind
    from risk_manager.sim import Simulator

    sim = Simulator(accounts=2, seed=4)
    accounts = list(sim.engine.accounts)
    feeder = FillFeeder(accounts, sim.catalog, 4, sim.engine)
    opening = feeder.opening_events()
    assert [e.kind for e in opening if e.account_id == accounts[0]][:1] == [EventKind.ORDER]
    assert all(feeder.held[a] == 1 for a in accounts)
    events = [feeder.user_event(123) for _ in range(40)]
    assert all(e.received_ns == 123 and e.source == "stream" for e in events)
    kinds = {e.kind for e in events}
    assert {EventKind.ORDER, EventKind.TRADE, EventKind.POSITION, EventKind.ACCOUNT} <= kinds
    partial = [e for e in events if e.kind is EventKind.ORDER and e.data.status == 1 and e.data.fill_volume]
    assert partial, "a multi-lot order walks the 1-2 lot book in several fills"
    assert all(0 <= held <= 3 for held in feeder.held.values())
    assert sum(p.net for p in sim.engine.positions.values()) == sum(feeder.held.values())
