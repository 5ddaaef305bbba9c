"""Fixtures shared by the gateway client tests."""

from __future__ import annotations

import pytest

from gw_fake_server import FakeGateway


@pytest.fixture
async def fake():
    server = FakeGateway()
    await server.start()
    yield server
    await server.stop()
