from datetime import UTC, datetime

from risk_manager.events import Event, EventKind, Order, Position, Quote, Trade, make_event


def test_event_json_round_trip_keeps_every_field():
    ts = datetime(2026, 8, 19, 14, 15, 48, 611387, tzinfo=UTC)
    for payload in (
        Order(1, 2, "CON.F.US.MNQ.U26", 1, 4, 1, 1, stop_price=29500.25, creation_timestamp=ts),
        Position(9, 2, "CON.F.US.MNQ.U26", 2, 3, 29398.5, creation_timestamp=ts),
        Trade(3005729833, 2, "CON.F.US.MNQ.U26", 29542.25, 1, 1, profit_and_loss=6.5, fees=0.36),
        Quote("CON.F.US.MNQ.U26", best_bid=29547, best_ask=29547.5, timestamp=ts),
    ):
        event = make_event(payload, received_at=ts, received_ns=5)
        assert Event.from_json(event.to_json()) == event


def test_trade_pnl_basis():
    t = Trade(1, 2, "C", 1.0, 0, 1, profit_and_loss=-49, fees=0.36, commissions=0.25)
    assert t.pnl("gross") == -49
    assert abs(t.pnl("net") - (-49.61)) < 1e-9
    assert Trade(1, 2, "C", 1.0, 0, 1).pnl() is None


def test_short_position_signed_size():
    assert Position(1, 2, "C", 2, 3, 1.0).signed_size == -3
    assert make_event(Position(1, 2, "C", 0, 0, 1.0)).kind is EventKind.POSITION


def test_payload_json_of_a_one_field_dataclass() -> None:
    """attrgetter of a single name returns the value itself, not a 1-tuple: still a full dict."""
    from dataclasses import dataclass
    from datetime import UTC, datetime

    from risk_manager.events import _payload_json

    @dataclass
    class One:
        at: datetime

    assert _payload_json(One(datetime(2026, 1, 2, tzinfo=UTC))) == {"at": "2026-01-02T00:00:00+00:00"}
