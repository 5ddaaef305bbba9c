from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # receivers.py beside the tests

from receivers import HttpReceiver  # noqa: E402


@pytest.fixture
async def http():
    """A loopback HTTP receiver the alert channels post to."""
    receiver = await HttpReceiver().start()
    yield receiver
    await receiver.close()
