"""Hot-path benchmarks (run with --benchmark-enable for numbers; by default each runs once)."""

from __future__ import annotations

from risk_manager.gateway import decode, signalr_protocol as sp

ORDER = {"action": 1, "data": {
    "id": 2934939764, "accountId": 20258288, "contractId": "CON.F.US.MYM.M26", "symbolId": "F.US.MYM",
    "creationTimestamp": "2026-05-06T13:36:03.4962794+00:00", "updateTimestamp": "2026-05-06T13:36:03.4962794+00:00",
    "status": 6, "type": 2, "side": 0, "size": 15, "fillVolume": 0}}
QUOTE = ["CON.F.US.MNQ.U26", {"symbol": "F.US.MNQ", "bestBid": 29547, "bestAsk": 29547.5,
                              "lastUpdated": "2026-08-19T20:51:31.4347534+00:00",
                              "timestamp": "2026-08-19T20:51:31.348+00:00", "contract": "CON.F.US.MNQ.U26"}]


def test_bench_decode_user_order(benchmark):
    events = benchmark(decode.decode_invocation, "GatewayUserOrder", [ORDER], received_ns=1)
    assert events[0].data.size == 15


def test_bench_decode_quote(benchmark):
    events = benchmark(decode.decode_invocation, "GatewayQuote", QUOTE, received_ns=1)
    assert events[0].data.best_ask == 29547.5


def test_bench_frame_to_order_event(benchmark):
    """Framing + JSON + decode of one user-hub record, as the hub does per record."""
    frame = sp.encode(sp.invocation("GatewayUserOrder", [ORDER]))
    decoder = sp.RecordDecoder()

    def run():
        (raw,) = decoder.feed(frame)
        msg = sp.parse(raw)
        return decode.decode_invocation(msg["target"], msg["arguments"], received_ns=1)

    assert benchmark(run)[0].data.id == 2934939764
