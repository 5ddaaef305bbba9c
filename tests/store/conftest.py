"""Fixtures for the store tests: real SQLite files in tmp dirs, a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import T0

from risk_manager.clock import ManualClock
from risk_manager.store import Store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "risk_manager.db"


@pytest.fixture
def store(db_path: Path, clock: ManualClock) -> Iterator[Store]:
    s = Store(db_path, clock)
    yield s
    s.close()


