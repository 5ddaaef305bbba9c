"""`bench memory --daemon` measures a real `risk-manager run` process against the simulator.

A 20 s run (0.5 simulated hours at 90×, 2 accounts, 20 round trips): the one JSON line carries
every field the report needs, the daemon saw the trader's fills and a quote stream, nothing locked
or acted (loose rules), and the RSS figures are those of a live Python process. No timing or size
targets are asserted (shared, noisy machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("simulated_hours", "speed", "wall_s", "events", "quotes", "orders_placed", "daemon_trades_today",
          "rss_ready_mb", "rss_10pct_mb", "rss_end_mb", "rss_max_mb", "hwm_mb",
          "rss_slope_mb_per_sim_hour_2nd_half", "samples", "daemon_cpu_pct", "sim_cpu_pct")


def test_memory_daemon_short_run_reports_sane_fields() -> None:
    run = subprocess.run([sys.executable, "-m", "bench", "memory", "--daemon", "--hours", "0.5", "--speed", "90",
                          "--accounts", "2", "--fills", "20", "--sample-s", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout
    result = json.loads(lines[0])
    missing = [f for f in FIELDS if result.get(f) is None]
    assert not missing, (missing, result)
    assert result["bench"] == "memory" and result["mode"] == "daemon" and result["simulated_hours"] == 0.5
    assert 19.0 <= result["wall_s"] < 40.0
    assert result["orders_placed"] == 40 and result["orders_refused"] == 0
    assert result["daemon_trades_today"] == 40, "the daemon did not see every fill"
    assert result["quotes"] > 100 and result["events"] >= result["quotes"] - result["quotes_coalesced"]
    assert result["locked_accounts"] == 0 and result["actions"] == 0
    assert result["engine_errors"] == 0 and result["journal_errors"] == 0 and result["daemon_exit_code"] == 0
    assert 15 <= result["samples"] <= 25
    assert 20.0 < result["rss_ready_mb"] <= result["hwm_mb"] < 1000.0
    assert result["rss_min_mb"] <= result["rss_end_mb"] <= result["rss_max_mb"] <= result["hwm_mb"]


def test_memory_daemon_refuses_bad_arguments_without_a_number() -> None:
    run = subprocess.run([sys.executable, "-m", "bench", "memory", "--daemon", "--speed", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and run.stdout == "" and "cannot measure" in run.stderr


def test_slope_is_least_squares_mb_per_hour() -> None:
    from bench._memory_daemon import slope_per_hour

    assert slope_per_hour([(0.0, 50.0), (1.0, 52.0), (2.0, 54.0)]) == pytest.approx(2.0)
    assert slope_per_hour([(0.0, 50.0), (1.0, 50.0)]) == 0.0
    assert slope_per_hour([(1.0, 50.0)]) is None and slope_per_hour([(1.0, 50.0), (1.0, 51.0)]) is None
