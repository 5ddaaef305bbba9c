"""Fixtures shared by the gateway client tests."""

from __future__ import annotations

import pytest

from gw_fake_server import FakeGateway
from risk_manager.gateway.hub import HubClient


@pytest.fixture
async def fake():
    server = FakeGateway()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def hubs():
    """The hub clients a test started (`start_hub`); stopped at the end."""
    started: list[HubClient] = []
    yield started
    for hub in started:
        await hub.stop()
