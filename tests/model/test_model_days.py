"""Generated trading days against the real simulator and the real daemon, held against I1–I6.

Short mode (CI): three fixed base seeds (one also run without its restarts, for I3), one fixed
day with the extras (kill -9 of `risk-manager run`, brackets, a losing exit filling in several fills
over a thin book) and one random extras day. `RM_MODEL_LONG=1`: at least
200 generated extras days (`RM_MODEL_DAYS=N`, `RM_MODEL_BASE_SEED=S` to shard). Replay one day:
`RM_MODEL_SEED=123 uv run pytest tests/model -k replay` (`RM_MODEL_EXTRAS=0` for a base day; add
`RM_MODEL_STEPS=file.json` for a shrunk step list the checker printed)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from model.days import generate_day
from model.runner import compare_runs, report, run_day_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

#: Chosen for what their reverts show (tests/model/README.md): 3 a restart after an R06 breach
#: (issue 11 item 2, I3) and the guard's own closes (item 4, I4), run also without its restarts
#: (I3: the same locks and enforcements); 4 R06/R07 counting the guard's fills (item 6, I5); 39 R01
#: close_all with resting orders (item 3, I4). Every day catches item 1 (I1).
FIXED_SEEDS = [3, 4, 39]
COMPARED_SEEDS = {3}
#: An extras process day: a kill -9, brackets, a thin book filling a losing exit in several fills
#: (R07 judged on the first fill, item 7, fails I5's timing check).
FIXED_EXTRAS_SEED = 213
LONG = os.environ.get("RM_MODEL_LONG") == "1"


def _judge(day, violations) -> None:
    """Fail on any violation, with the seed, the shrunk steps and the replay command."""
    if not violations:
        return
    pytest.fail(report(day, violations, budget=12), pytrace=False)


@pytest.mark.parametrize("seed", FIXED_SEEDS)
def test_day_fixed_seed_with_and_without_restarts(seed: int) -> None:
    day = generate_day(seed, n_steps=24)
    with_restarts = run_day_sync(day)
    if seed not in COMPARED_SEEDS or not any(s[0] == "restart" for s in day.steps):
        print(f"seed {seed}: {with_restarts.steps} steps, {with_restarts.checks} checks, {with_restarts.seconds:.1f} s")
        _judge(day, with_restarts.violations)
        return
    without = run_day_sync(day.without_restarts())
    print(f"seed {seed}: {with_restarts.steps} steps, {with_restarts.restarts} restarts, "
          f"{with_restarts.faults} faults, {with_restarts.checks + without.checks} checks, "
          f"{with_restarts.seconds + without.seconds:.1f} s")
    _judge(day, with_restarts.violations + without.violations + compare_runs(with_restarts, without))


def test_day_fixed_extras_seed() -> None:
    day = generate_day(FIXED_EXTRAS_SEED, n_steps=24, extras=True)
    assert day.process and day.kills and day.fills and any(s[0] == "lossexit" for s in day.steps)
    result = run_day_sync(day)
    print(f"seed {day.seed}: {result.steps} steps, {result.restarts} restarts and kills, "
          f"{result.faults} faults, {result.checks} checks, {result.seconds:.1f} s")
    _judge(day, result.violations)


def test_day_random_seed() -> None:
    seeds = [random.SystemRandom().randrange(1, 10**6)]
    for seed in seeds:
        day = generate_day(seed, n_steps=20, extras=True)
        result = run_day_sync(day)
        print(f"seed {seed}: {result.steps} steps, {result.checks} checks, {result.seconds:.1f} s")
        _judge(day, result.violations)


@pytest.mark.skipif("RM_MODEL_SEED" not in os.environ, reason="set RM_MODEL_SEED to replay a day")
def test_day_replay() -> None:
    seed = int(os.environ["RM_MODEL_SEED"])
    day = generate_day(seed, n_steps=int(os.environ.get("RM_MODEL_STEPS_N", "30")),
                       extras=os.environ.get("RM_MODEL_EXTRAS", "1") == "1")
    if os.environ.get("RM_MODEL_STEPS"):
        doc = json.loads(Path(os.environ["RM_MODEL_STEPS"]).read_text())
        day = day.with_steps([tuple(s) for s in doc["steps"]])
    result = run_day_sync(day)
    print(f"seed {seed}: {result.steps} steps, {result.checks} checks, {result.seconds:.1f} s")
    if result.violations:
        pytest.fail("\n".join(str(v) for v in result.violations), pytrace=False)


@pytest.mark.skipif(not LONG, reason="RM_MODEL_LONG=1 runs the long mode")
@pytest.mark.timeout(14 * 3600)
def test_day_long_run() -> None:
    days = int(os.environ.get("RM_MODEL_DAYS", "200"))
    base = int(os.environ.get("RM_MODEL_BASE_SEED", "1000"))
    t0 = time.monotonic()
    totals = {"days": 0, "steps": 0, "restarts": 0, "faults": 0, "checks": 0, "violations": 0,
              "kills": 0, "kills_mid_enforcement": 0, "jumps": 0, "process_day": 0}
    failures = []
    for seed in range(base, base + days):
        result = run_day_sync(generate_day(seed, n_steps=30, extras=True))
        totals["days"] += 1
        for k in ("steps", "restarts", "faults", "checks"):
            totals[k] += getattr(result, k)
        totals["violations"] += len(result.violations)
        for k, v in result.stats.items():
            totals[k] += v
        if result.violations:
            failures.append((seed, [str(v) for v in result.violations]))
        print(f"seed {seed}: {len(result.violations)} violation(s) {json.dumps(totals)} "
              f"{time.monotonic() - t0:.0f} s", flush=True)
    print(f"long run: {json.dumps(totals)} in {time.monotonic() - t0:.0f} s")
    assert not failures, "\n".join(f"RM_MODEL_SEED={s}: {v}" for s, v in failures)
