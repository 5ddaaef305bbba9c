"""Hostile hub input (issue 12 items 1–2) against the real hub client and a scripted loopback server:
deep nesting, records without a separator, records and frames over the limits, a dying task."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from gw_fake_server import FakeGateway, start_hub, until
from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.hub import HubState, UserHub

ORDER = {"id": 3425270858, "accountId": 7, "contractId": "CON.F.US.MNQ.U26", "status": 1, "type": 1,
         "side": 0, "size": 1, "limitPrice": 19000.0}
GOOD = sp.encode(sp.invocation("GatewayUserOrder", [{"action": 1, "data": ORDER}]))
#: Backoff far longer than any wait below: a reconnect seen in time was made "at once".
SLOW_BACKOFF = dict(backoff_initial=30.0, backoff_max=60.0, handshake_timeout=2.0, invoke_timeout=2.0)


class Recorder:
    def __init__(self, fake: FakeGateway) -> None:
        self.fake = fake
        self.events: list = []
        self.log: list[str] = []

    async def token(self, refresh: bool = False) -> str:
        return self.fake.issue()

    def kw(self) -> dict:
        return dict(on_event=self.events.append,
                    on_disconnected=lambda reason: self.log.append(f"disconnected:{reason}"),
                    on_reconnected=lambda: self.log.append("reconnected"))


async def test_deeply_nested_record_is_skipped_and_the_feed_goes_on(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, **SLOW_BACKOFF, **rec.kw()), hubs)
    (conn,) = fake.live()
    await conn.ws.send_str("[" * 100_000 + "]" * 100_000 + sp.RS)
    # Depths around the recursion limit: some parse and then fail deeper (decoding, logging them).
    nested = "".join(f'{{"type":1,"target":"{target}","arguments":[' + "[" * d + "]" * d + "]}" + sp.RS
                     for d in range(850, 1000, 5)
                     for target in ("GatewayUserOrder", "GatewayQuote"))
    await conn.ws.send_str(nested)
    await conn.ws.send_str(GOOD)
    await until(lambda: len(rec.events) == 1)
    assert rec.events[0].data.id == ORDER["id"]
    assert hub.stats.malformed >= 1 + 30 and hub.stats.task_failures == 0
    assert hub.state is HubState.CONNECTED and rec.log == []  # no reconnect was needed


async def test_a_dying_hub_task_is_visible_and_the_hub_reconnects_at_once(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, **SLOW_BACKOFF, **rec.kw()), hubs)

    def broken(*args: object) -> None:  # a bug in the dispatch loop (once), not something a record can do
        del hub._handle_record
        raise RuntimeError("decoder bug")

    hub._handle_record = broken  # type: ignore[method-assign]
    with capture_logs() as logs:
        await fake.send(GOOD)
        await until(lambda: "reconnected" in rec.log, timeout=3.0)  # not after the 30 s backoff
    assert rec.log[0].startswith("disconnected:user-dispatch task failed: RuntimeError: decoder bug")
    assert hub.stats.task_failures == 1 and hub.last_disconnect_reason.startswith("user-dispatch task failed")
    failed = [e for e in logs if e["event"] == "hub task failed: replacing the connection"]
    assert failed and failed[0]["log_level"] == "error" and "decoder bug" in failed[0]["traceback"]
    (conn,) = await fake.wait_conns(1)
    await conn.ws.send_str(GOOD)
    await until(lambda: len(rec.events) == 1)
    assert hub.state is HubState.CONNECTED


async def test_failed_state_is_shown_while_the_connection_is_replaced(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, **SLOW_BACKOFF, **rec.kw()), hubs)
    seen: list[str] = []
    hub.on_disconnected = lambda reason: seen.append(hub.state.value)

    def broken(*args: object) -> None:
        del hub._handle_record
        raise RuntimeError("decoder bug")

    hub._handle_record = broken  # type: ignore[method-assign]
    await fake.send(GOOD)
    await until(lambda: hub.stats.reconnects == 1, timeout=3.0)
    assert seen == ["failed"]  # what /status shows while it is down


async def test_record_without_separator_over_the_limit_is_dropped_and_the_connection_recycled(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, max_record_bytes=64 * 1024,
                              **SLOW_BACKOFF, **rec.kw()), hubs)
    (conn,) = fake.live()
    await conn.ws.send_str(GOOD + '{"type":1,"target":"GatewayUserOrder","arguments":["')  # a good one first
    for _ in range(40):  # 160 KB in 4 KB frames, never a separator
        await conn.ws.send_str("x" * 4096)
    await until(lambda: "reconnected" in rec.log, timeout=3.0)
    assert "without a separator: connection recycled" in rec.log[0]
    assert hub.stats.oversized == 1 and hub.stats.malformed == 1
    assert [e.data.id for e in rec.events] == [ORDER["id"]]
    (conn,) = await fake.wait_conns(1)
    await conn.ws.send_str(GOOD)
    await until(lambda: len(rec.events) == 2)


async def test_complete_oversized_record_is_dropped_but_its_neighbours_are_handled(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, max_record_bytes=8 * 1024,
                              **SLOW_BACKOFF, **rec.kw()), hubs)
    huge = sp.encode(sp.invocation("GatewayUserOrder", [{"action": 1, "data": dict(ORDER, customTag="t" * 10_000)}]))
    second = sp.encode(sp.invocation("GatewayUserOrder", [{"action": 1, "data": dict(ORDER, id=5)}]))
    await fake.send(GOOD + huge + second)
    await until(lambda: "reconnected" in rec.log, timeout=3.0)
    assert [e.data.id for e in rec.events] == [ORDER["id"], 5]  # wire order kept
    assert hub.stats.oversized == 1 and "1 record(s) over 8192 characters dropped" in rec.log[0]


async def test_frame_over_the_transport_limit_recycles_the_connection(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, max_record_bytes=4096, max_frame_bytes=64 * 1024,
                              **SLOW_BACKOFF, **rec.kw()), hubs)
    await fake.send(GOOD * 1000)  # ~170 KB of good records in one frame: over the frame limit
    await until(lambda: "reconnected" in rec.log, timeout=3.0)
    assert "frame over 65536 bytes" in rec.log[0] and hub.stats.oversized == 1
    await (await fake.wait_conns(1))[0].ws.send_str(GOOD)
    await until(lambda: len(rec.events) == 1)


async def test_a_peer_that_keeps_sending_oversized_records_gets_the_backoff(fake, hubs):
    rec = Recorder(fake)
    hub = UserHub(f"{fake.base}/hubs/user", rec.token, max_record_bytes=4096, backoff_initial=0.4,
                  backoff_max=5.0, handshake_timeout=2.0, invoke_timeout=2.0, **rec.kw())
    hubs.append(hub)
    fake.handshake_reply = "{}" + sp.RS + "x" * 5000  # every connection starts with garbage
    await hub.start()
    await asyncio.sleep(1.5)
    attempts = fake.issued
    assert 2 <= attempts <= 5, attempts  # one at once, then exponential: not a hot loop


def test_decoder_limit_is_exact_and_the_stream_resumes():
    decoder = sp.RecordDecoder(max_record=100)
    assert decoder.feed("a" * 60) == [] and decoder.feed("b" * 40 + sp.RS) == ["a" * 60 + "b" * 40]
    with pytest.raises(sp.RecordTooLarge) as info:
        decoder.feed("c" * 60 + sp.RS + "d" * 101 + sp.RS + "e" + sp.RS)
    assert info.value.records == ["c" * 60, "e"] and decoder.pending == ""
    with pytest.raises(sp.RecordTooLarge):
        for _ in range(11):
            decoder.feed("f" * 10)  # 110 characters without a separator
    assert decoder.pending == "" and decoder.feed('{"type":6}' + sp.RS) == ['{"type":6}']
    with pytest.raises(sp.RecordTooLarge) as info:
        decoder.feed('{"type":6}' + sp.RS + "g" * 101)  # an unfinished tail already over the limit
    assert info.value.records == ['{"type":6}'] and decoder.pending == ""


def test_decoder_keeps_an_unfinished_record_as_pieces():
    """Linear buffering: frames without a separator are kept as they came, joined once."""
    decoder = sp.RecordDecoder(max_record=10 * 1024 * 1024)
    for i in range(2000):
        assert decoder.feed(f"{i:04d}" * 1024) == []
    assert len(decoder._parts) == 2000 and decoder._size == 2000 * 4096
    (record,) = decoder.feed(sp.RS)
    assert len(record) == 2000 * 4096 and record.startswith("0000" * 1024) and decoder.pending == ""


def test_parse_turns_deep_nesting_into_a_protocol_error():
    with pytest.raises(sp.ProtocolError, match="nested too deeply"):
        sp.parse("[" * 100_000 + "]" * 100_000)
    with pytest.raises(sp.ProtocolError, match="nested too deeply"):
        sp.parse('{"a":' * 50_000 + "1" + "}" * 50_000)
