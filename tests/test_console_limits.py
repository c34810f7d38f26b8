"""The console's connection bounds after the first request (issue 10 item 4): a connection that
answered once and then sends its next request's headers slowly is closed, like a new one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from livetweet.clock import SystemClock
from livetweet.console import ConsoleAuth, ConsoleContext, create_app, server as console_server
from livetweet.console.server import ConsoleServer, allowed_hosts
from livetweet.service import Service
from livetweet.store import Store

from .support.events import X_ONLY_SCHEDULE


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_slow_headers_on_a_kept_alive_connection_are_cut_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_server.GuardedH11, "header_timeout", 0.5)
    store = Store(f"sqlite:///{tmp_path / 'slow.db'}")
    service = Service(store, SystemClock())
    event_id = service.load(X_ONLY_SCHEDULE).event_id
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = ConsoleContext(
        service, event_id, "approval", ConsoleAuth(password="pw"), allowed_hosts=allowed_hosts("127.0.0.1", port)
    )
    server = ConsoleServer(create_app(context), "127.0.0.1", port, max_connections=4).start()
    request = f"GET /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
    try:
        for sock in held:
            sock.sendall(request)
            assert _answer(sock).startswith(b"HTTP/1.1 200")
            sock.sendall(f"GET /login HTTP/1.1\r\nHost: 127.0.0.1:{port}".encode())  # and never the end
        for sock in held:
            assert sock.recv(1) == b""  # cut at the header timeout, not held forever
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fresh:
            fresh.sendall(request)
            assert _answer(fresh).startswith(b"HTTP/1.1 200")  # the console has room again
    finally:
        for sock in held:
            sock.close()
        server.stop()
        store.close()


def test_a_browser_that_logged_in_before_passes_a_flood_of_guesses(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from livetweet.console.auth import DEVICE_DAYS, DEVICE_FAILURES

    store = Store(f"sqlite:///{tmp_path / 'devices.db'}")
    now, wall = [0.0], [datetime(2020, 11, 12, 12, 0, tzinfo=UTC)]
    auth = ConsoleAuth(password="pw", store=store, clock=lambda: now[0], wall=lambda: wall[0], max_wait=30.0)
    try:
        cookie = auth.device_cookie()  # what the operator's browser got at yesterday's rehearsal
        for i in range(200):  # guesses from many addresses fill the shared budget
            auth.attempt(f"127.0.0.{2 + i % 20}")
        assert auth.attempt("127.0.0.1") is None  # a browser never seen before waits with them (refused)
        device = auth.trusted_device(cookie)
        assert device is not None and auth.attempt("127.0.0.1", device) == 0.0  # the operator's does not
        auth.succeeded("127.0.0.1", device)

        # A device cookie cannot be made up, reused after expiry, or used to guess without end.
        assert auth.trusted_device(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
        assert auth.trusted_device("x.1.y") is None and auth.trusted_device(None) is None
        for _ in range(DEVICE_FAILURES):
            wait = auth.attempt("127.0.0.1", device)
            assert wait is not None
            now[0] += wait
        assert auth.trusted_device(cookie) is None  # failed too often: it queues with everybody else
        wall[0] += timedelta(days=DEVICE_DAYS + 1)
        assert auth.trusted_device(auth.device_cookie()) is not None
        old = cookie
        assert auth.trusted_device(old) is None  # expired
        # Every console on this store signs with the same key (the next run, the standby).
        other = ConsoleAuth(password="pw", store=store, clock=lambda: now[0], wall=lambda: wall[0])
        assert other.trusted_device(auth.device_cookie()) is not None
    finally:
        store.close()
