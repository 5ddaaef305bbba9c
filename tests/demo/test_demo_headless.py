"""`risk-manager demo --headless` run as a user runs it: the real CLI in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

STEP_RULES = ("R02", "R04", "R08", "R03", "Kill switch")
REACTION = re.compile(r"\[reaction +(\d+(?:\.\d+)?) ms")


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("risk-manager")
    return [str(script)] if script.exists() else [sys.executable, "-m", "risk_manager"]


def _temp_dir(output: str) -> Path:
    match = re.search(r"temp dir\s+(\S+)", output)
    assert match, output
    return Path(match.group(1))


@pytest.mark.timeout(150)
def test_headless_demo_shows_every_rule_firing_with_action_and_reaction_time():
    started = time.monotonic()
    proc = subprocess.run([*_cli(), "demo", "--headless"], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{proc.stderr}"
    assert took < 120, f"the demo took {took:.0f} s"

    step_lines = [line for line in out.splitlines() if REACTION.search(line)]
    assert len(step_lines) == 6, out
    for rule in STEP_RULES:
        lines = [line for line in step_lines if rule in line]
        assert lines, f"{rule} missing:\n{out}"
        for line in lines:
            assert " OK " in line and "->" in line, line  # status, then trigger -> action taken
    for line in step_lines:
        assert float(REACTION.search(line).group(1)) >= 0.0
    # The actions, as observed at the gateway.
    assert "partial close of 1 contract" in out
    assert "closed the position, cancelled its stop" in out
    assert "lockout until the daily reset" in out
    assert "the daemon cancelled it" in out
    # The daemon's own reasons come from its /events stream.
    assert "daemon: Daily loss limit" in out
    assert out.rstrip().splitlines()[-1].startswith("PASS: 6 of 6 enforcements observed")
    assert not _temp_dir(out).exists(), "the temp dir must be removed at exit"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_the_demo_leaves_nothing_behind(sig):
    proc = subprocess.Popen([*_cli(), "demo", "--headless"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = ""
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while "Step 3/5" not in seen:  # interrupt mid-script: a position is open, the daemon busy
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, f"demo ended early or hung:\n{seen}"
            seen += line
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, f"exit {proc.returncode}\n{seen}{rest}\n{err}"
    assert "demo interrupted" in err
    assert not _temp_dir(seen).exists()
