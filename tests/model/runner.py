"""One day through world and checker; violations shrink to a short replayable step list."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.checker import Checker, Violation, describe, lock_sets, summary
from model.days import EXTRA_KINDS, Day, shrink
from model.world import World

DAY_BOUND_S = 240.0  # one generated day, however unlucky, ends within this


@dataclass
class DayResult:
    day: Day
    violations: list[Violation]
    checks: int = 0
    steps: int = 0
    restarts: int = 0  # kills included
    faults: int = 0
    seconds: float = 0.0
    summary: Any = None
    stats: dict[str, int] = field(default_factory=dict)


async def run_day(day: Day, root: Path) -> DayResult:
    t0 = time.monotonic()
    world = World(day, root)
    checker = Checker(world, day)
    try:
        await asyncio.wait_for(_drive(world, checker, day), DAY_BOUND_S)
        result_summary = summary(world)
    except TimeoutError:
        checker.fail("I2", -1, f"the day did not end within {DAY_BOUND_S} s")
        result_summary = None
    finally:
        await world.close()
    return DayResult(day, checker.violations, checker.checks, world.steps_run, world.restarts + world.kills,
                     world.faults, time.monotonic() - t0, result_summary,
                     {"kills": world.kills, "kills_mid_enforcement": world.kills_mid,
                      "jumps": sum(1 for s in day.steps if s[0] == "jump"), "process_day": int(day.process)})


async def _drive(world: World, checker: Checker, day: Day) -> None:
    await world.start()
    checker.after_step(-1, await world.settle())
    steps = day.steps
    locks_before: dict[int, set[str]] = {}
    mark = 0
    for i, step in enumerate(steps):
        kill_next = i + 1 < len(steps) and steps[i + 1][0] == "kill9"
        if kill_next:
            locks_before, mark = lock_sets(world), world.audit_mark()
            if step[0] == "cantrade" and step[2] is True:  # this step ends R10's lock: not a loss
                locks_before.get(world.accounts[step[1] % len(world.accounts)], set()).discard("R10")
        if step[0] == "restart":
            await world.settle()
            before, n = lock_sets(world), len(world.enforcements)
            await world.run_step(step)
            settled = await world.settle()
            checker.restart_unchanged(i, before, lock_sets(world), world.enforcements[n:])
        elif step[0] == "kill9":
            # Killed while the previous step's enforcement runs; what it left half done is finished
            # after the restart (so new enforcements are allowed), but no reported lock is lost.
            world.steps_run += 1
            await world.kill9(step[1], mark)
            settled = await world.settle()
            checker.restart_unchanged(i, locks_before, lock_sets(world), [])
        elif kill_next:
            await world.run_step(step)  # no settling: the kill comes in the middle of it
            continue
        else:
            await world.run_step(step)
            settled = await world.settle()
        checker.after_step(i, settled)
    await world.trader.fault("clear")
    checker.after_step(len(day.steps), await world.settle())


def run_day_sync(day: Day) -> DayResult:
    with tempfile.TemporaryDirectory(prefix="rm-model-") as tmp:
        return asyncio.run(run_day(day, Path(tmp)))


def compare_runs(with_restarts: DayResult, without: DayResult) -> list[Violation]:
    """I3: a restart changes nothing — same locks (rule, expiry class), same enforcements."""
    if with_restarts.summary is None or without.summary is None or with_restarts.day.kills:
        return []  # a kill -9 mid-enforcement may change which call finished it: not compared
    out = []
    (locks_a, acts_a), (locks_b, acts_b) = with_restarts.summary, without.summary
    if locks_a != locks_b:
        out.append(Violation("I3", -1, f"locks differ with restarts: only with {sorted(locks_a - locks_b)}, "
                                       f"only without {sorted(locks_b - locks_a)}"))
    if acts_a != acts_b:
        out.append(Violation("I3", -1, f"enforcements differ with restarts: only with {sorted(acts_a - acts_b)}, "
                                       f"only without {sorted(acts_b - acts_a)}"))
    return out


def report(day: Day, violations: list[Violation], budget: int = 12) -> str:
    """Shrink against the first violation's invariant and say how to replay it."""
    target = violations[0].invariant

    def fails(candidate: Day) -> bool:
        return any(v.invariant == target for v in run_day_sync(candidate).violations)

    small = shrink(day, fails, budget=budget)
    path = Path(tempfile.gettempdir()) / f"rm-model-seed{day.seed}.json"
    path.write_text(json.dumps({"seed": day.seed, "steps": small.steps}))
    extras = "" if day.process or day.fills or any(s[0] in EXTRA_KINDS for s in day.steps) else "RM_MODEL_EXTRAS=0 "
    return (f"model day seed={day.seed}: {len(violations)} violation(s)\n"
            + "\n".join(f"  - {v}" for v in violations)
            + f"\naccounts={day.accounts} syms={day.syms}\nrules={json.dumps(day.rules)}\n"
            + f"shrunk from {len(day.steps)} to {len(small.steps)} steps (target {target}):\n{describe(small.steps)}\n"
            + f"replay: {extras}RM_MODEL_SEED={day.seed} RM_MODEL_STEPS_N={day.n_steps} RM_MODEL_STEPS={path} "
              f"uv run pytest -p no:cacheprovider "
              f"tests/model -k replay\n")
