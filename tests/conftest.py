"""Shared test fixtures. Network traffic only to loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "projectx-live"


@pytest.fixture(scope="session")
def live_fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"captured fixtures not found at {FIXTURES} (shared/ must sit beside the repo)")
    return FIXTURES


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text())
