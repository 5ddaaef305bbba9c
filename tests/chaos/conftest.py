"""Fault and soak suite: short versions in CI, long ones with RM_CHAOS_LONG=1.

Reuses the e2e harness (tests/e2e/helpers.py), the gateway engineers' scriptable fake server
(tests/gateway/gw_fake_server.py) and the daemon-subprocess rig of the benchmarks (bench/_rig.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
if str(_TESTS / "gateway") not in sys.path:  # gw_fake_server (bench/ is on pytest's pythonpath)
    sys.path.insert(0, str(_TESTS / "gateway"))

#: RM_CHAOS_LONG=1: the full runs of issue 7 (50 kill -9 runs, 10 000 fuzz cases, 30 min soak).
LONG = os.environ.get("RM_CHAOS_LONG") == "1"


def scale(short: int, long: int) -> int:
    return long if LONG else short
