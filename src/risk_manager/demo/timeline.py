"""The enforcement timeline: one entry per scripted step, printed by `demo --headless`."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field


@dataclass
class StepResult:
    rule: str                    # "R02 per-instrument limit"
    trigger: str                 # what the trader did
    action: str                  # what the daemon did, as observed at the gateway
    ok: bool
    reaction_ms: float | None = None  # trigger's arrival → enforcement request's arrival
    reason: str | None = None    # the daemon's own words (its enforcement / lock message)
    at_s: float = 0.0            # seconds since the demo started
    note: str | None = None      # e.g. "after the 10 s grace period"
    timer_driven: bool = False   # fired by a timer, not by an event: left out of the reaction stats


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    steps: list[StepResult] = field(default_factory=list)

    def add(self, step: StepResult) -> StepResult:
        step.at_s = time.monotonic() - self.started
        self.steps.append(step)
        return step

    @property
    def all_ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def summary(self) -> str:
        seen = sum(s.ok for s in self.steps)
        reactions = [s.reaction_ms for s in self.steps
                     if s.ok and s.reaction_ms is not None and not s.timer_driven]
        text = f"{seen} of {len(self.steps)} enforcements observed"
        if reactions:
            text += (f"; event-driven reaction at the gateway: median {statistics.median(reactions):.1f} ms, "
                     f"max {max(reactions):.1f} ms")
        text += f"; took {time.monotonic() - self.started:.1f} s"
        verdict = "PASS" if self.all_ok else "FAIL"
        return f"{verdict}: {text}"


def format_step(step: StepResult) -> str:
    """One line per step (plus the daemon's reason, indented, when it gave one)."""
    status = "OK  " if step.ok else "MISS"
    reaction = f"{step.reaction_ms:8.1f} ms" if step.reaction_ms is not None else "       — ms"
    line = f"{step.at_s:6.1f}s  {status} {step.rule:<30} {step.trigger} -> {step.action}  [reaction {reaction.strip()}"
    line += f", {step.note}]" if step.note else "]"
    if step.reason:
        line += f"\n{'':14}daemon: {step.reason}"
    return line
