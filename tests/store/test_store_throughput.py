"""Journal append cost with synchronous=FULL, printed for the record (never asserted: the
machine is shared and noisy). Numbers for the report come from a longer run of the same code."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from store_helpers import order_event

from risk_manager.clock import ManualClock
from risk_manager.store import Store


@pytest.mark.parametrize("sync", ["FULL", "NORMAL"])
def test_print_journal_append_throughput(
    tmp_path: Path, clock: ManualClock, sync: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path / "t.db", clock, journal_synchronous=sync)  # type: ignore[arg-type]
    event = order_event()
    single = 200
    t0 = time.perf_counter()
    for _ in range(single):
        store.append_event(event)
    per_single = (time.perf_counter() - t0) / single

    batch, batches = 100, 20
    t0 = time.perf_counter()
    for _ in range(batches):
        store.append_events([event] * batch)
    per_batched = (time.perf_counter() - t0) / (batch * batches)

    assert store.last_seq() == single + batch * batches
    with capsys.disabled():
        print(
            f"\n[store] journal append, synchronous={sync}: single {per_single * 1e6:.0f} us/event "
            f"({1 / per_single:.0f}/s); batch of {batch}: {per_batched * 1e6:.0f} us/event "
            f"({1 / per_batched:.0f}/s)"
        )
    store.close()
