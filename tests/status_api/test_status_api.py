"""The daemon's status API over real loopback HTTP/WebSocket, with an in-memory daemon behind it."""

from __future__ import annotations

import asyncio
import socket
import stat
from datetime import timedelta

import aiohttp
import pytest

from risk_manager import admin_auth
from risk_manager.clock import ManualClock
from risk_manager.daemon.status_api import LoginLimiter, StatusAPI, StatusProvider
from status_fakes import T0, InMemoryDaemon

PASSWORD = "correct horse battery"


@pytest.fixture
async def server(tmp_path):
    admin_auth.set_password(tmp_path, PASSWORD)
    daemon = InMemoryDaemon()
    clock = ManualClock(T0)
    api = StatusAPI(daemon, host="127.0.0.1", port=0, clock=clock,
                    password_file=admin_auth.password_path(tmp_path), client_queue_size=64,
                    login_limiter=LoginLimiter(free_failures=3, window_s=60, base_delay_s=0.01,
                                                max_delay_s=0.05))
    daemon.api = api
    await api.start()
    async with aiohttp.ClientSession(base_url=api.url, timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield api, daemon, clock, http
    await api.stop()


async def login(http) -> str:
    async with http.post("/admin/login", json={"password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["token"]


def test_fake_daemon_satisfies_protocol():
    assert isinstance(InMemoryDaemon(), StatusProvider)


def test_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        StatusAPI(InMemoryDaemon(), host="0.0.0.0", port=0)


async def test_binds_loopback_only(server):
    api, *_ = server
    assert api.port and api.port > 0
    assert api.bound_addresses == [("127.0.0.1", api.port)]
    # Not reachable through any other local address.
    other = socket.gethostbyname(socket.gethostname())
    if other != "127.0.0.1" and not other.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((other, api.port), timeout=2).close()


async def test_status_and_metrics(server):
    api, daemon, _, http = server
    async with http.get("/status") as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["ready"] is True and doc["accounts"][0]["id"] == 123
    async with http.get("/metrics") as r:
        text = await r.text()
    assert r.status == 200 and r.content_type == "text/plain"
    assert "rm_events_total 42" in text and "risk_manager_status_api_event_clients 0.0" in text


async def test_foreign_host_header_refused(server):
    _, _, _, http = server
    async with http.get("/status", headers={"Host": "evil.example:8765"}) as r:
        assert r.status == 403


async def test_events_fan_out_in_order(server):
    api, _, _, http = server
    async with http.ws_connect("/events") as ws1, http.ws_connect("/events") as ws2:
        await _wait(lambda: api.client_count == 2)
        for i in range(3):
            api.publish({"type": "quote", "account_id": None, "ts": T0, "data": {"i": i}})
        for ws in (ws1, ws2):
            got = [(await ws.receive_json(timeout=5))["data"]["i"] for _ in range(3)]
            assert got == [0, 1, 2]
    await _wait(lambda: api.client_count == 0)


async def test_events_foreign_origin_refused(server):
    _, _, _, http = server
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await http.ws_connect("/events", headers={"Origin": "https://evil.example"})
    assert exc.value.status == 403


async def test_unserialisable_event_skipped(server):
    api, _, _, http = server
    async with http.ws_connect("/events") as ws:
        await _wait(lambda: api.client_count == 1)
        api.publish({"type": "x", "data": float("nan") if False else object.__new__(_Unjsonable)})
        api.publish({"type": "quote", "account_id": 1, "ts": "t", "data": {}})
        assert (await ws.receive_json(timeout=5))["type"] in ("x", "quote")


class _Unjsonable:
    def __str__(self):
        raise TypeError("no")


async def test_slow_events_client_dropped_without_blocking(server):
    api, _, _, http = server
    # A raw client that completes the handshake and then never reads.
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    writer.write(
        b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"101" in head.split(b"\r\n")[0]
    async with http.ws_connect("/events") as fast:
        await _wait(lambda: api.client_count == 2)
        payload = "x" * 20_000
        sent = 0
        while not api.dropped_clients and sent < 2000:  # ~40 MB cap; drops long before
            for _ in range(20):  # publish never awaits, whatever the clients do
                api.publish({"type": "quote", "account_id": 1, "ts": "t", "data": {"i": sent, "pad": payload}})
                sent += 1
            for expected in range(sent - 20, sent):  # the fast client keeps up
                assert (await fast.receive_json(timeout=5))["data"]["i"] == expected
        await _wait(lambda: api.dropped_clients == 1)
        assert api.client_count == 1  # the fast one is still there
    writer.close()


async def test_login_and_admin_commands(server):
    api, daemon, clock, http = server
    token = await login(http)
    auth = {"Authorization": f"Bearer {token}"}
    async with http.post("/admin/lock", json={"account_id": 123, "until_reset": True, "reason": "done"},
                         headers=auth) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["result"]["ends"] == "reset"
    assert daemon.accounts[123]["locked"]
    assert daemon.calls[-1] == ("lock", (123, None, True, "done", "admin@127.0.0.1"))
    until = (T0 + timedelta(hours=1)).isoformat()
    async with http.post("/admin/lock", json={"account_id": 123, "until": until}, headers=auth) as r:
        assert r.status == 200
    assert daemon.calls[-1][1][1].isoformat() == until
    async with http.post("/admin/unlock", json={"account_id": 123, "reason": "ok now"}, headers=auth) as r:
        assert r.status == 200
        assert (await r.json())["result"] == {"cleared": ["manual"]}
    async with http.post("/admin/apply-pending", headers=auth) as r:
        assert r.status == 200
    async with http.post("/admin/reload", headers=auth) as r:
        assert r.status == 200
    assert [c[0] for c in daemon.calls] == ["lock", "lock", "unlock", "apply_pending", "reload"]
    assert ("admin_login", daemon.audit_log[0][1]) == daemon.audit_log[0]


@pytest.mark.parametrize(
    "path,body,status,fragment",
    [
        ("/admin/lock", {"until_reset": True}, 400, "account_id"),
        ("/admin/lock", {"account_id": 999, "until_reset": True}, 404, "unknown account 999"),
        ("/admin/lock", {"account_id": 123, "until": "tomorrow"}, 400, "ISO-8601"),
        ("/admin/lock", {"account_id": 123, "until": "2026-11-21T18:00:00"}, 400, "timezone"),
        ("/admin/lock", {"account_id": 123, "until": "2020-01-01T00:00:00+00:00"}, 400, "past"),
        ("/admin/lock", {"account_id": 123, "until": "2026-11-21T18:00:00+00:00", "until_reset": True},
         400, "not both"),
        ("/admin/unlock", {"account_id": 123}, 400, "reason"),
        ("/admin/unlock", {"account_id": 123, "reason": "   "}, 400, "reason"),
        ("/admin/unlock", {"account_id": 123, "reason": "x"}, 409, "no active lock"),
    ],
)
async def test_admin_bad_requests(server, path, body, status, fragment):
    _, daemon, _, http = server
    token = await login(http)
    async with http.post(path, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == status
        assert fragment in (await r.json())["error"]


async def test_admin_bad_json(server):
    _, _, _, http = server
    token = await login(http)
    async with http.post("/admin/lock", data=b"{not json", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as r:
        assert r.status == 400 and "JSON" in (await r.json())["error"]


async def test_admin_requires_valid_unexpired_token(server):
    api, daemon, clock, http = server
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        async with http.post("/admin/reload", headers=headers) as r:
            assert r.status == 401
    token = await login(http)
    clock.advance(901)  # past the 900 s session lifetime
    async with http.post("/admin/reload", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401 and "expired" in (await r.json())["error"]
    token = await login(http)
    async with http.post("/admin/logout", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200
    async with http.post("/admin/reload", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401
    assert daemon.calls == []


async def test_failed_logins_slowed_and_audited(server):
    api, daemon, clock, http = server
    for _ in range(4):
        async with http.post("/admin/login", json={"password": "wrong"}) as r:
            assert r.status == 401 and (await r.json())["error"] == "wrong password"
    # The right password is never refused, however many wrong ones came before (issue 12).
    await login(http)
    events = [e for e, _ in daemon.audit_log]
    assert events[0] == "admin_login_failed" and events[-1] == "admin_login"
    assert PASSWORD not in str(daemon.audit_log)
    assert api.failed_logins == 4


async def test_login_without_password_file(tmp_path):
    api = StatusAPI(InMemoryDaemon(), port=0, password_file=tmp_path / "admin_password.hash")
    await api.start()
    try:
        async with aiohttp.ClientSession() as http, \
                http.post(f"{api.url}/admin/login", json={"password": "whatever1"}) as r:
            assert r.status == 503 and "set-password" in (await r.json())["error"]
    finally:
        await api.stop()


def test_password_file_is_0600_and_verifies(tmp_path):
    path = admin_auth.set_password(tmp_path, "s3cret-pass")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("scrypt$16384$8$1$") and "s3cret-pass" not in text
    assert admin_auth.verify_password(tmp_path, "s3cret-pass")
    assert not admin_auth.verify_password(tmp_path, "s3cret-pasS")
    first = text
    admin_auth.set_password(tmp_path, "s3cret-pass")
    assert path.read_text() != first  # fresh salt each time
    with pytest.raises(ValueError, match="at least"):
        admin_auth.set_password(tmp_path, "short")


def test_corrupt_hash_file(tmp_path):
    (tmp_path / "admin_password.hash").write_text("md5$abc\n")
    with pytest.raises(admin_auth.PasswordFileError, match="format"):
        admin_auth.verify_password(tmp_path, "whatever")
    (tmp_path / "admin_password.hash").write_text("scrypt$3$8$1$AAAA$AAAA\n")
    with pytest.raises(admin_auth.PasswordFileError, match="parameters"):
        admin_auth.verify_password(tmp_path, "whatever")


async def _wait(cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f} s")
        await asyncio.sleep(0.01)


async def test_parallel_wrong_logins_cannot_race_the_limiter(server):
    api, daemon, clock, http = server

    async def attempt():
        async with http.post("/admin/login", json={"password": "guess"}) as r:
            return r.status

    statuses = await asyncio.gather(*(attempt() for _ in range(8)))
    assert statuses == [401] * 8
    # Counted one by one under the lock: the limiter saw every guess.
    assert api.login_limiter.failures(clock.monotonic()) == 8
