"""Malformed hub payloads (hypothesis-generated) are counted and skipped; enforcement continues."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e.helpers import BUY, MNQ, SELL, account_locks, get_status, wait_for

pytestmark = pytest.mark.e2e

TARGETS = ["GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade", "GatewayUserAccount",
           "GatewayQuote", "GatewayTrade", "GatewayDepth", "Nonsense"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries({}, optional={
    "id": JSON, "accountId": JSON, "contractId": JSON, "status": JSON, "type": JSON, "side": JSON,
    "size": JSON, "averagePrice": JSON, "price": JSON, "profitAndLoss": JSON, "canTrade": JSON,
})
ARGUMENTS = st.one_of(JSON, st.lists(st.one_of(JSON, FIELDS, st.fixed_dictionaries(
    {"action": JSON, "data": st.one_of(FIELDS, st.lists(FIELDS, max_size=3))})), max_size=3))


def _generate() -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []

    @settings(max_examples=200, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(TARGETS), ARGUMENTS)
    def collect(target: str, arguments: object) -> None:
        out.append((target, arguments))

    collect()
    return out


async def test_malformed_payloads_counted_and_enforcement_continues(start_rig):
    rig = await start_rig({"daily_realized_loss": {"loss_limit": 50, "include_unrealized": False}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.price(MNQ, 19970.0)
    await t.place(rig.account, MNQ, SELL, 1)

    async def locked():
        return account_locks(await get_status(rig.daemon.status_url), rig.account)

    await wait_for(locked, what="R03 lock")
    pipeline = rig.daemon.pipeline
    for target, arguments in _generate():
        pipeline.feed_invocation(target, arguments)  # must never raise
    assert pipeline.counters["malformed"] > 50
    # Still enforcing: a new position of the locked account is closed.
    await t.place(rig.account, MNQ, BUY, 1)
    await wait_for(lambda: t.flat(rig.account), what="kill switch still works")
    assert (await get_status(rig.daemon.status_url))["ready"]
