"""The gateway client's errors, translated at the executor's seam (daemon/adapters.py), decide what
the executor does next (enforcement/faults.py): by type, never by a class name."""

from __future__ import annotations

import pytest

from risk_manager.daemon.adapters import broker_error
from risk_manager.enforcement.faults import Fault, classify, retry_after_s
from risk_manager.enforcement.ports import BrokerRateLimited, BrokerUncertain, RejectedByBroker
from risk_manager.gateway.errors import (
    AuthError,
    GatewayError,
    GatewayHTTPError,
    GatewayUnavailable,
    MutationUncertain,
    RateLimited,
)

CASES = [
    (RateLimited("Order/cancel", 2.5), BrokerRateLimited, Fault.RATE_LIMITED),
    (GatewayError("Order/cancel", 3, "Rejected", "cannot be cancelled (status 5)"), RejectedByBroker, Fault.REJECTED),
    (GatewayHTTPError("Order/cancel", 404, "not found"), RejectedByBroker, Fault.REJECTED),
    (GatewayHTTPError("Order/cancel", 403, "forbidden"), BrokerUncertain, Fault.UNCERTAIN),
    (MutationUncertain("Order/cancel", {}, "timeout"), BrokerUncertain, Fault.UNCERTAIN),
    (GatewayUnavailable("Order/cancel", "connection refused", sent=False), BrokerUncertain, Fault.UNCERTAIN),
    (AuthError("Order/cancel", "401 after a fresh token"), BrokerUncertain, Fault.UNCERTAIN),
]


@pytest.mark.parametrize(("gateway_exc", "seam_type", "fault"), CASES, ids=lambda v: type(v).__name__)
def test_each_gateway_error_maps_to_its_seam_error_and_fault(gateway_exc, seam_type, fault):
    seam = broker_error(gateway_exc)
    assert type(seam) is seam_type
    assert classify(seam) is fault
    assert str(gateway_exc) in str(seam)  # the audit keeps what the gateway said


def test_retry_after_comes_from_the_rate_limit_only():
    assert retry_after_s(broker_error(RateLimited("Order/cancel", 2.5)), 0.1) == 2.5
    assert retry_after_s(broker_error(RateLimited("Order/cancel", None)), 0.1) == 0.1
    assert retry_after_s(BrokerUncertain("5xx"), 0.3) == 0.3


def test_anything_untranslated_is_uncertain_so_the_executor_reconciles_first():
    class LooksRateLimited(Exception):  # a name no longer decides anything
        status = 429
        retry_after = 1

    assert classify(LooksRateLimited()) is Fault.UNCERTAIN
    assert classify(TimeoutError()) is Fault.UNCERTAIN
