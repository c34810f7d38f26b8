"""The console against an attacker on the same machine (issue 10), over real HTTP.

Most tests start a real `livetweet run --rehearse` with its console (tests/support/console.py's
`Console`) and attack it with requests, raw sockets and Chromium. The tests about the event
loop serve the console in this process (real uvicorn, real sockets) so that a password check
or a count can be held at a known point while another request is made.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher

import livetweet.console.views.live as console_live
from livetweet.clock import SystemClock
from livetweet.console import ConsoleAuth, ConsoleContext, create_app
from livetweet.console.guard import MEDIA_BODY
from livetweet.console.server import ConsoleServer, allowed_hosts
from livetweet.fakes import FakeXServer
from livetweet.inbox import IncomingMessage
from livetweet.publishers.base import Posted, PublisherError, Refused
from livetweet.publishers.x import XPublisher
from livetweet.service import InboxService, Service
from livetweet.store import Store

from .support.cli import cli
from .support.console import CHROMIUM, PASSWORD, Console, free_port, playwright_or_skip
from .support.events import REPO, X_ONLY_SCHEDULE, write_event
from .support.waiting import wait_for
from .support.world import X_TEST_CREDENTIALS

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = Console(tmp_path, speed=20, start_in=60)  # nothing posts during these tests
    yield c
    c.stop()


# --- helpers -------------------------------------------------------------------------------


def raw(port: int, data: bytes, source: str = "127.0.0.1", timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """Send `data` as it is on a new connection (from `source`) and read one response.

    A server that waited for more of the body than was sent would never answer: the read
    times out and the test fails."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # the server may answer and close before it took it all
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def request_bytes(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def logged_in(url: str, name: str = "alice") -> tuple[requests.Session, str]:
    """A session logged in through the form, and its CSRF token (read from a page)."""
    session = requests.Session()
    response = session.post(url + "/login", data={"name": name, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    match = re.search(r'data-csrf="([^"]+)"', session.get(url + "/queue", timeout=10).text)
    assert match
    return session, match.group(1)


def timed_login(url: str, headers: dict[str, str] | None = None) -> tuple[float, requests.Response]:
    started = time.monotonic()
    response = requests.post(
        url + "/login",
        data={"name": "mallory", "password": "guess"},
        headers=headers or {},
        allow_redirects=False,
        timeout=60,
    )
    return time.monotonic() - started, response


class InProcessConsole:
    """The console served by uvicorn in this process, on a fresh store with the shipped schedule."""

    def __init__(self, tmp_path: Path, auth: ConsoleAuth) -> None:
        self.store = Store(f"sqlite:///{tmp_path / 'inproc.db'}")
        service = Service(self.store, SystemClock())
        event_id = service.load(X_ONLY_SCHEDULE).event_id
        self.port = free_port()
        self.auth = auth
        context = ConsoleContext(
            service, event_id, "approval", auth, allowed_hosts=allowed_hosts("127.0.0.1", self.port)
        )
        self.server = ConsoleServer(create_app(context), "127.0.0.1", self.port).start()
        self.url = f"http://127.0.0.1:{self.port}"
        sid = auth.login("203.0.113.9", "alice")
        self.session = requests.Session()
        self.session.cookies.set("livetweet_session", sid)
        self.csrf = auth.session(sid).csrf  # type: ignore[union-attr]

    def stop(self) -> None:
        self.server.stop()
        self.store.close()


# --- 1. login throttling -------------------------------------------------------------------


def test_forwarded_for_is_ignored_and_parallel_guesses_queue_up(console: Console) -> None:
    """Each guess claims another X-Forwarded-For and all are sent at once: they still queue up
    behind each other (0, 0.25, 0.75, 1.75 s), because the address is the peer's and each guess
    is counted before it waits."""
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda i: timed_login(console.url, {"X-Forwarded-For": f"198.51.100.{i}"}), range(1, 5))
        )
    assert all(r.status_code == 303 and "wrong" in r.headers["location"] for _, r in results)
    waits = sorted(elapsed for elapsed, _ in results)
    # Each wait counts from the first guess's arrival; the threads start a little apart.
    assert waits[1] >= 0.2 and waits[2] >= 0.6 and waits[3] >= 1.5, waits
    # One more, from yet another "forwarded" address, after the others: still slowed down.
    elapsed, response = timed_login(console.url, {"X-Forwarded-For": "203.0.113.77"})
    assert response.status_code == 303 and elapsed >= 1.0, elapsed


def test_a_global_budget_slows_guesses_from_many_addresses(console: Console) -> None:
    """21 guesses from 21 loopback addresses (each new, so no per-client delay): the 21st is
    past the global budget of 20 and waits for it (3 s)."""
    body = b"name=mallory&password=guess"
    data = request_bytes(
        console.port,
        "POST",
        "/login",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body)), "Connection": "close"},
        body,
    )

    def guess(i: int) -> tuple[float, int]:
        started = time.monotonic()
        status, _, _ = raw(console.port, data, source=f"127.0.0.{i + 2}")
        return time.monotonic() - started, status

    with ThreadPoolExecutor(21) as pool:
        results = list(pool.map(guess, range(21)))
    assert all(status == 303 for _, status in results)
    waits = sorted(elapsed for elapsed, _ in results)
    assert waits[19] < 2.0 <= waits[20], waits


def test_the_per_client_map_is_bounded_and_an_overflow_is_still_throttled() -> None:
    now = [1000.0]
    auth = ConsoleAuth(password="right", max_clients=8, global_budget=10_000, max_wait=1e9, clock=lambda: now[0])
    waits = [auth.attempt(f"10.0.{i // 256}.{i % 256}") for i in range(1000)]
    assert waits[:8] == [0.0] * 8  # each new address: no wait of its own
    assert auth.tracked_clients() == 8  # not 1,000
    # The newcomers beyond the cap share one bucket: they are slowed down together.
    assert waits[8:11] == [0.0, 0.25, 0.75] and waits[-1] is not None and waits[-1] > 4000
    now[0] += 1e6  # idle clients are forgotten: a new one gets its own bucket again
    assert auth.attempt("10.2.0.1") == 0
    assert auth.tracked_clients() == 1


def test_an_attempt_that_would_wait_too_long_is_refused_at_once() -> None:
    now = [0.0]
    auth = ConsoleAuth(password="right", max_wait=3.0, clock=lambda: now[0])
    waits = [auth.attempt("10.0.0.1") for _ in range(5)]
    assert waits[:4] == [0.0, 0.25, 0.75, 1.75] and waits[4] is None  # 3.75 s > 3 s: refused


# --- 2. Host allow-list, Origin check, relative redirects ----------------------------------


def test_a_foreign_host_gets_a_refusal_before_anything_else(console: Console) -> None:
    for host in ("evil.example", f"evil.example:{console.port}", "127.0.0.1", f"127.0.0.1:{console.port + 1}"):
        for method, path in (("GET", "/login"), ("GET", "/"), ("GET", "/static/console.css"), ("GET", "/events")):
            response = requests.request(method, console.url + path, headers={"Host": host}, timeout=10)
            assert response.status_code == 421, (host, path)
            assert response.headers["content-type"].startswith("text/plain")
            assert "does not answer to that Host" in response.text and "<form" not in response.text
        login = requests.post(
            console.url + "/login",
            data={"name": "mallory", "password": PASSWORD},
            headers={"Host": host},
            allow_redirects=False,
            timeout=10,
        )
        assert login.status_code == 421 and "set-cookie" not in login.headers
    for host in (f"127.0.0.1:{console.port}", f"localhost:{console.port}", f"[::1]:{console.port}"):
        assert requests.get(console.url + "/login", headers={"Host": host}, timeout=10).status_code == 200, host


def test_a_state_changing_request_from_another_origin_is_refused(console: Console) -> None:
    session, csrf = logged_in(console.url)
    draft = console.draft("q1")
    forged = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://evil.example:{console.port}"},
        {"Referer": "http://evil.example/page"},
    ]
    for headers in forged:
        response = session.post(
            console.url + f"/drafts/{draft['id']}/approve",
            data={"csrf": csrf},
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 403 and "another site" in response.text, headers
    assert console.draft("q1")["state"] == "pending"
    login = requests.post(
        console.url + "/login",
        data={"name": "mallory", "password": PASSWORD},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 403 and "set-cookie" not in login.headers
    # The console's own pages pass.
    ok = session.post(
        console.url + f"/drafts/{draft['id']}/approve",
        data={"csrf": csrf},
        headers={"Origin": console.url, "Referer": console.url + "/queue"},
        allow_redirects=False,
        timeout=10,
    )
    assert ok.status_code == 303 and console.draft("q1")["state"] == "approved"


def test_redirects_never_reflect_the_host(console: Console) -> None:
    host = {"Host": f"localhost:{console.port}"}
    slash = requests.get(console.url + "/queue/?state=pending", headers=host, allow_redirects=False, timeout=10)
    assert slash.status_code == 307 and slash.headers["location"] == "/queue?state=pending"
    assert (
        requests.get(console.url + "/", headers=host, allow_redirects=False, timeout=10).headers["location"] == "/login"
    )
    for path in ("//evil.example/", "/%5Cevil.example/"):
        response = requests.get(console.url + path, headers=host, allow_redirects=False, timeout=10)
        assert response.status_code == 404 and "location" not in response.headers, path
    login = requests.post(
        console.url + "/login",
        data={"name": "alice", "password": PASSWORD},
        headers=host,
        allow_redirects=False,
        timeout=10,
    )
    assert login.headers["location"] == "/"


def test_dns_rebinding_in_chromium_gets_nothing_but_a_refusal(console: Console) -> None:
    playwright_api = playwright_or_skip()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP rebind.example 127.0.0.1"],
        )
        try:
            page = browser.new_page()
            response = page.goto(f"http://rebind.example:{console.port}/login")
            assert response is not None and response.status == 421
            assert page.locator("form").count() == 0
            assert "does not answer to that Host" in page.content()
            # The page's own script (same origin as the rebound name) can read nothing either.
            statuses = page.evaluate(
                """async () => {
                    const login = await fetch('/login', {method: 'POST', body: new URLSearchParams(
                        {name: 'mallory', password: 'guess'})});
                    const queue = await fetch('/queue');
                    return [login.status, queue.status];
                }"""
            )
            assert statuses == [421, 421]
        finally:
            browser.close()


# --- 3. body limits --------------------------------------------------------------------------


def test_an_oversized_content_length_is_refused_without_reading_the_body(console: Console) -> None:
    session, csrf = logged_in(console.url)
    cookie = f"livetweet_session={session.cookies['livetweet_session']}"
    paths = (("/login", 4096), ("/logout", 4096), ("/drafts/1/approve", 65536), ("/api/count", 65536))
    paths += (("/compose", MEDIA_BODY), ("/drafts/1/edit", MEDIA_BODY))  # photos go there, no more
    for path, limit in paths:
        for length in (limit + 1, 990_000_000):
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(length)}
            headers |= {"Cookie": cookie, "X-CSRF-Token": csrf}
            # Only the headers are sent: a server reading the body first would wait for ever.
            status, _, body = raw(console.port, request_bytes(console.port, "POST", path, headers))
            assert status == 413 and b"too large" in body, (path, length)
    # Just under the limit is served.
    text = "x" * 60_000
    count = session.post(console.url + "/api/count", json={"text": text}, headers={"X-CSRF-Token": csrf}, timeout=30)
    assert count.status_code == 200 and count.json()["weighted_length"] == 60_000


def test_a_chunked_body_is_cut_at_the_limit_while_it_is_read(console: Console) -> None:
    session, csrf = logged_in(console.url)
    cookie = f"livetweet_session={session.cookies['livetweet_session']}"
    for path, limit, content_type in (
        ("/login", 4096, "application/x-www-form-urlencoded"),
        ("/api/count", 65536, "application/json"),
    ):
        headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked", "Cookie": cookie}
        headers["X-CSRF-Token"] = csrf
        chunk = b"a" * 1024
        body = b"".join(b"400\r\n" + chunk + b"\r\n" for _ in range(limit // 1024 + 2))
        # No last chunk: the body never ends; only a server that counts while it reads answers.
        status, _, answer = raw(console.port, request_bytes(console.port, "POST", path, headers, body))
        assert status == 413 and b"too large" in answer, path


def test_no_file_parts_are_accepted(console: Console) -> None:
    files = {"upload": ("big.bin", b"\0" * 3000, "application/octet-stream")}
    login = requests.post(
        console.url + "/login",
        data={"name": "mallory", "password": PASSWORD},
        files=files,
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 400 and "set-cookie" not in login.headers
    session, csrf = logged_in(console.url)
    before = len(console.drafts())
    compose = session.post(
        console.url + "/compose",
        data={"csrf": csrf, "text": "A post with a file part", "when": "now"},
        files=files,
        allow_redirects=False,
        timeout=10,
    )
    assert compose.status_code == 400 and len(console.drafts()) == before
    # Where images go, a file is taken only as an image, and only after it was re-encoded as one.
    program = {"image1": ("photo.jpg", b"MZ\x90\x00" + b"\0" * 3000, "image/jpeg")}  # a renamed .exe
    refused = session.post(
        console.url + "/compose",
        data={"csrf": csrf, "text": "A post with a program as its photo", "when": "now", "alt1": "A photo"},
        files=program,
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 422 and "Not saved" in refused.text and len(console.drafts()) == before


# --- 5. the routing adapter ------------------------------------------------------------------


def test_every_x_host_goes_to_the_base_url_and_any_other_host_is_refused() -> None:
    fake = FakeXServer().start()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    publisher = XPublisher(dict(X_TEST_CREDENTIALS), fake.url)
    original = publisher.client.session.request
    target = ["https://api.x.com"]

    def rewritten(method: str, url: str, **kwargs: Any) -> requests.Response:
        return original(method, url.replace("https://api.twitter.com", target[0]), **kwargs)

    publisher.client.session.request = rewritten  # type: ignore[method-assign]
    try:
        for host in ("https://api.x.com", "https://upload.twitter.com", "https://upload.x.com", "https://API.X.COM"):
            target[0] = host
            assert publisher.check().startswith("@UNMigNetwork on X at"), host
            assert isinstance(publisher.post(f"routed from {host}"), Posted), host
            assert fake.posts()[-1].text == f"routed from {host}"
        for host in (f"http://127.0.0.1:{listener.getsockname()[1]}", "https://api.x.com.evil.example"):
            target[0] = host
            with pytest.raises(PublisherError, match="refused a call"):
                publisher.check()
            outcome = publisher.post("hello")
            assert isinstance(outcome, Refused) and outcome.halt and "not sent" in str(outcome.reason)
            assert len(fake.posts()) == 4
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected to the other host
    finally:
        publisher.close()
        listener.close()
        fake.stop()


# --- 6 and 7. nothing slow on the event loop -------------------------------------------------


class HeldAuth(ConsoleAuth):
    """A real argon2 hash whose wrong-password checks wait for the test before they verify."""

    def __init__(self) -> None:
        super().__init__(password_hash=PasswordHasher().hash("s3cret"))
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self.started = threading.Semaphore(0)
        self._count = threading.Lock()

    def attempt(self, client: str, device: str | None = None) -> float | None:
        return 0.0  # the throttle is tested above; here every guess goes straight to the check

    def check_password(self, given: str) -> bool:
        with self._count:
            self.running += 1
            self.most = max(self.most, self.running)
        self.started.release()
        try:
            assert self.release.wait(30)
            return super().check_password(given)
        finally:
            with self._count:
                self.running -= 1


def test_password_checks_run_in_a_small_pool_off_the_event_loop(tmp_path: Path) -> None:
    auth = HeldAuth()
    console = InProcessConsole(tmp_path, auth)
    finished: list[int] = []

    def guess() -> None:
        response = requests.post(
            console.url + "/login", data={"name": "m", "password": "guess"}, allow_redirects=False, timeout=60
        )
        finished.append(response.status_code)

    threads = [threading.Thread(target=guess) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        assert auth.started.acquire(timeout=10) and auth.started.acquire(timeout=10)  # two checks in flight
        page = console.session.get(console.url + "/queue", timeout=10)
        assert page.status_code == 200 and "data-draft-id" in page.text
        assert finished == []  # the page answered while every login was still being checked
        assert auth.running == 2  # the others wait for a slot
    finally:
        auth.release.set()
        for t in threads:
            t.join(timeout=60)
        console.stop()
    assert finished == [303] * 4 and auth.most == 2


def test_count_runs_off_the_event_loop_and_has_a_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    console = InProcessConsole(tmp_path, ConsoleAuth(password=PASSWORD))
    real = console_live.as_posted
    entered, release = threading.Event(), threading.Event()

    def held(service: Any, text: str, *args: Any) -> Any:
        if text == "hold me":
            entered.set()
            assert release.wait(30)
        return real(service, text, *args)

    monkeypatch.setattr(console_live, "as_posted", held)
    answers: list[int] = []
    headers = {"X-CSRF-Token": console.csrf}

    def count() -> None:
        answers.append(
            console.session.post(console.url + "/api/count", json={"text": "hold me"}, headers=headers).status_code
        )

    thread = threading.Thread(target=count)
    try:
        thread.start()
        assert entered.wait(10)
        assert console.session.get(console.url + "/queue", timeout=10).status_code == 200
        assert answers == []  # the page was served while the count was still running
        release.set()
        thread.join(timeout=30)
        assert answers == [200]
        big = console.session.post(console.url + "/api/count", json={"text": "x" * 70_000}, headers=headers, timeout=30)
        assert big.status_code == 413
        nested = console.session.post(
            console.url + "/api/count", data="[" * 60_000, headers=headers | {"Content-Type": "application/json"}
        )
        assert nested.status_code == 400
    finally:
        release.set()
        console.stop()


# --- 10. terminal output -----------------------------------------------------------------------


def on_a_terminal(*args: str, env: dict[str, str]) -> bytes:
    """Run `livetweet ARGS` with its output on a pseudo-terminal (click keeps escapes there)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "livetweet", *args], cwd=REPO, env=env, stdout=slave, stderr=slave, stdin=slave
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            proc.kill()
            raise AssertionError("livetweet did not finish: " + out.decode(errors="replace"))
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=30) == 0, out.decode(errors="replace")
    return out


def test_history_inbox_queue_and_show_print_escapes_inert(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'term.db'}"
    env = {**os.environ, "NO_COLOR": "1"}

    def setup(*args: str) -> None:  # in this process; what is shown on a terminal is shown by real processes
        result = cli("--db", db, *args, cwd=REPO, env={"NO_COLOR": "1"})
        assert result.returncode == 0, result.stdout + result.stderr

    setup("load", str(X_ONLY_SCHEDULE))
    setup("approve", "3", "--as", HOSTILE)  # a name typed at the command line is cleaned at the edge ...
    setup("reject", "2", "--as", "bob", "--reason", HOSTILE)
    store = Store(db)
    service = Service(store, SystemClock())
    service.approve(1, HOSTILE)  # ... one stored by some other way (an older livetweet) is not
    InboxService(service).keep(
        [IncomingMessage("1001", "Hello " + HOSTILE + "\nsecond line", "42", HOSTILE, datetime.now(UTC), "c1")]
    )
    assert [e.operator for e in store.audit() if e.draft_id == 3 and e.action == "approve"] == ["[2J]0;pwned31mevil"]
    store.close()
    outputs = {
        "history 1": on_a_terminal("--db", db, "history", "1", env=env),
        "history 2": on_a_terminal("--db", db, "history", "2", env=env),
        "inbox": on_a_terminal("--db", db, "inbox", env=env),
        "show 1": on_a_terminal("--db", db, "show", "1", env=env),
        "queue": on_a_terminal("--db", db, "queue", env=env),
    }
    for name, out in outputs.items():
        for byte in (b"\x1b", b"\x07", "\x9b".encode(), "\u202e".encode()):
            assert byte not in out, (name, byte, out)
    assert b"\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202eevil" in outputs["history 1"]  # shown, not obeyed
    assert b"\\x1b[2J" in outputs["history 2"] and b"@\\x1b[2J" in outputs["inbox"]
    assert b"second line" in outputs["inbox"]


# --- 14. token comparisons and the store's mode ------------------------------------------------


def test_tokens_are_compared_safely_whatever_they_hold(console: Console) -> None:
    session, csrf = logged_in(console.url)
    draft = console.draft("q1")
    for wrong in ("é" * len(csrf), csrf[:-1], csrf + "x", ""):
        response = session.post(
            console.url + f"/drafts/{draft['id']}/approve",
            data={"csrf": wrong},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 403, wrong
        count = session.post(
            console.url + "/api/count", json={"text": "hi"}, headers={"X-CSRF-Token": wrong.encode().decode("latin-1")}
        )
        assert count.status_code == 403, wrong
    assert console.draft("q1")["state"] == "pending"


def test_the_store_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask: files would be world-readable
    try:
        c = Console(tmp_path, speed=20, start_in=60)
    finally:
        os.umask(previous)
    try:
        files: Callable[[], list[Path]] = lambda: [c.db, *(c.db.with_name(c.db.name + s) for s in ("-wal", "-shm"))]  # noqa: E731
        wait_for(lambda: all(p.exists() for p in files()), "the store's -wal and -shm files", 30)
        for path in files():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        c.stop()


# --- item 11: a bad id, page or duration gets a 400 with a plain message ----------------------


def test_bad_ids_pages_and_durations_get_a_plain_400_and_no_exception_text(console: Console) -> None:
    session, csrf = logged_in(console.url)
    page = session.get(console.url + "/queue?page=" + "9" * 25, timeout=10)
    assert page.status_code == 200
    for path, needle in [
        ("/drafts/" + "9" * 24 + "/approve", "there is no draft"),
        ("/inbox/" + "9" * 23 + "/dismiss", "there is no message"),
    ]:
        response = session.post(console.url + path, data={"csrf": csrf}, allow_redirects=False, timeout=10)
        assert (response.status_code, needle in response.text) == (400, True), response.text
        assert "Traceback" not in response.text and "Error" not in response.text
    shift = session.post(
        console.url + "/live/shift",
        data={"csrf": csrf, "duration": "+99999999999999h"},
        allow_redirects=False,
        timeout=10,
    )
    assert shift.status_code == 400 and '"+99999999999999h" is longer than 100 days' in shift.text, shift.text
    assert "magnitude" not in shift.text  # Python's own words never reach the page
    assert console.proc.poll() is None  # the run goes on


def test_a_huge_duration_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    write_event(tmp_path)
    assert cli("load", "schedules/demo.yaml", cwd=tmp_path).returncode == 0
    result = cli("shift", "+99999999999999h", cwd=tmp_path)
    assert result.returncode == 2
    assert '"+99999999999999h" is longer than 100 days' in result.stderr and "Traceback" not in result.stderr


# --- 4. connections: a cap, a header timeout, and a run whose screen errors do not end it --------


def test_connections_past_the_cap_are_closed_and_idle_ones_time_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from livetweet.console import server as console_server

    monkeypatch.setattr(console_server.GuardedH11, "header_timeout", 0.5)
    store = Store(f"sqlite:///{tmp_path / 'cap.db'}")
    service = Service(store, SystemClock())
    event_id = service.load(X_ONLY_SCHEDULE).event_id
    port = free_port()
    context = ConsoleContext(
        service, event_id, "approval", ConsoleAuth(password=PASSWORD), allowed_hosts=allowed_hosts("127.0.0.1", port)
    )
    server = ConsoleServer(create_app(context), "127.0.0.1", port, max_connections=20).start()
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(30)]
    try:
        closed_at_once = 0
        for sock in sockets[20:]:
            assert sock.recv(1) == b""  # closed by the server before anything was said
            closed_at_once += 1
        assert closed_at_once == 10
        for sock in sockets[:20]:
            assert sock.recv(1) == b""  # idle: closed when the header timeout passed
        status, _, body = raw(port, request_bytes(port, "GET", "/login", {}))
        assert status == 200 and b"livetweet" in body  # and the console serves again
    finally:
        for sock in sockets:
            sock.close()
        server.stop()
        store.close()


def test_the_fd_limit_is_raised_where_the_hard_limit_allows() -> None:
    import resource

    from livetweet.console.server import FD_RESERVE, connection_limit, raise_fd_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        raised = raise_fd_limit()
        assert raised == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert raised == min(hard, 65536) if hard != resource.RLIM_INFINITY else raised == 65536
        assert connection_limit(raised) <= raised - FD_RESERVE or connection_limit(raised) == 16
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_errors_in_the_runs_screen_do_not_end_the_run(tmp_path: Path) -> None:
    from livetweet.dispatch import Dispatcher, LeaseKeeper, Runner
    from livetweet.publishers.dryrun import DryRunPublisher

    store = Store(f"sqlite:///{tmp_path / 'screen.db'}")
    service = Service(store, SystemClock())
    event_id = service.load(X_ONLY_SCHEDULE).event_id
    keeper = LeaseKeeper.take(store, "live", None)
    runner = Runner(Dispatcher(service, DryRunPublisher(echo=lambda _t: None), event_id, keeper=keeper))
    calls = []

    def idle() -> None:
        calls.append(1)
        if len(calls) >= 5:
            runner.stopped.set()
        raise OSError(24, "Too many open files")  # what a connection flood did to Store.drafts

    try:
        assert runner.wait(on_idle=idle, poll=0.001) == "stopped"  # not an exception: it went on
        assert len(calls) == 5
    finally:
        keeper.release()
        store.close()


# --- 8. per-viewer values never reach into stored text ---------------------------------------------


def test_stored_text_cannot_pull_a_viewers_token_or_name_into_a_shared_page(tmp_path: Path) -> None:
    console = InProcessConsole(tmp_path, ConsoleAuth(password=PASSWORD))
    try:
        draft = console.store.drafts(event_id=None)[0]
        markers = (
            "<!--livetweet:csrf--> <!--livetweet:operator--> <!--livetweet:banner--> \x00csrf\x00 \x00operator\x00"
        )
        service = Service(console.store, SystemClock())  # another operator's edit, stored
        service.edit(draft.id, f"Markers {markers} #GCM #GlobalCompactforMigration", "mallory")
        bob = requests.Session()
        assert bob.post(console.url + "/login", data={"name": "bob", "password": PASSWORD}, timeout=30).ok
        for path in ("/queue", "/history", "/"):
            page = bob.get(console.url + path, timeout=10).text
            csrf = re.search(r'data-csrf="([^"]+)"', page)
            assert csrf, path
            fields = page.count('name="csrf"')
            assert page.count(csrf.group(1)) == fields + 1, path  # the body's and each form's: nowhere else
            assert "<!--livetweet:" not in page, path  # every slot filled, none left open
        queue = bob.get(console.url + "/queue", timeout=10).text
        assert "&lt;!--livetweet:csrf--&gt;" in queue  # the stored text, shown as it is
        assert "\x00" not in queue
        edit_box = re.search(r"<textarea[^>]*>([^<]*)</textarea>", queue)
        assert edit_box and "&lt;!--livetweet:csrf--&gt;" in queue and csrf.group(1) not in edit_box.group(1)
    finally:
        console.stop()


def test_every_form_field_is_cleaned_of_control_characters_at_the_edge(tmp_path: Path) -> None:
    console = InProcessConsole(tmp_path, ConsoleAuth(password=PASSWORD))
    try:
        draft = console.store.drafts(event_id=None)[0]
        text = "Hello\x00 \u202eworld\x1b[2J #GCM #GlobalCompactforMigration\r\nsecond line"
        response = console.session.post(
            console.url + f"/drafts/{draft.id}/edit",
            data={"csrf": console.csrf, "text": text, "version": str(draft.version)},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 303
        stored = console.store.get(draft.id).text
        assert stored == "Hello world[2J #GCM #GlobalCompactforMigration\nsecond line"
        history = console.store.audit()
        assert all("\x00" not in (e.operator + (e.reason or "")) for e in history)
    finally:
        console.stop()


# --- 9. sessions in the store, a login link logs in once ----------------------------------------------


def test_a_login_link_works_once_even_after_logout(tmp_path: Path) -> None:
    c = Console(tmp_path, speed=20, start_in=60, password=None)
    try:
        line = next(line for line in c.first_lines if line.startswith("Console: "))
        link = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=(\S+))", line)
        assert link, line
        token = link.group(2)
        first = requests.Session()
        answer = first.post(c.url + "/login", data={"name": "alice", "password": token}, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        page = first.get(c.url + "/queue", timeout=10)
        csrf = re.search(r'data-csrf="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf
        assert first.post(c.url + "/logout", data={"csrf": csrf.group(1)}, allow_redirects=False).status_code == 303
        for name in ("alice", "mallory"):
            again = requests.post(c.url + "/login", data={"name": name, "password": token}, allow_redirects=False)
            assert again.status_code == 303 and again.headers["location"] == "/login?error=wrong", name
        assert token not in (c.db.read_bytes() + c.db.with_name(c.db.name + "-wal").read_bytes()).decode("latin-1")

        # Another link, from another terminal, logs in one more browser.
        out = cli("--db", f"sqlite:///{c.db}", "console-link", "--json", cwd=REPO)
        assert out.returncode == 0, out.stderr
        made = json_loads(out.stdout)
        assert made["serving"] is True and made["link"].startswith(c.url + "/login?token=")
        fresh = made["link"].split("token=")[1]
        bob = requests.Session()
        assert (
            bob.post(c.url + "/login", data={"name": "bob", "password": fresh}, allow_redirects=False).status_code
            == 303
        )
        assert bob.get(c.url + "/queue", allow_redirects=False, timeout=10).status_code == 200
        reuse = requests.post(c.url + "/login", data={"name": "eve", "password": fresh}, allow_redirects=False)
        assert reuse.headers["location"] == "/login?error=wrong"
    finally:
        c.stop()


def json_loads(text: str) -> Any:
    import json

    return json.loads(text)


def test_sessions_survive_a_restart_of_the_console(tmp_path: Path) -> None:
    first = InProcessConsole(tmp_path, ConsoleAuth(password=PASSWORD))
    browser_session = requests.Session()
    assert browser_session.post(first.url + "/login", data={"name": "alice", "password": PASSWORD}, timeout=30).ok
    cookie = browser_session.cookies.get("livetweet_session")
    assert cookie and cookie not in (tmp_path / "inproc.db").read_bytes().decode("latin-1")
    first.stop()
    second = InProcessConsole(tmp_path, ConsoleAuth(password=PASSWORD))
    try:
        again = requests.Session()
        again.cookies.set("livetweet_session", cookie)
        page = again.get(second.url + "/queue", allow_redirects=False, timeout=10)
        assert page.status_code == 200 and "alice" in page.text
    finally:
        second.stop()


def test_sessions_expire_when_idle_and_when_old(tmp_path: Path) -> None:
    from datetime import timedelta

    from livetweet.console.auth import CHECK_EVERY, SESSION_IDLE, SESSION_MAX

    store = Store(f"sqlite:///{tmp_path / 'expiry.db'}")
    wall = [datetime(2020, 11, 12, 12, 0, tzinfo=UTC)]
    tick = [0.0]
    auth = ConsoleAuth(password=PASSWORD, store=store, wall=lambda: wall[0], clock=lambda: tick[0])

    def later(delta: timedelta) -> None:
        wall[0] += delta
        tick[0] += CHECK_EVERY + delta.total_seconds()

    try:
        idle = auth.login("127.0.0.1", "alice")
        later(SESSION_IDLE - timedelta(minutes=1))
        assert auth.session(idle) is not None  # used in time: it lives on, and its use is noted
        later(SESSION_IDLE - timedelta(minutes=1))
        assert auth.session(idle) is not None
        later(SESSION_IDLE)
        assert auth.session(idle) is None  # left alone too long
        assert auth.session(idle) is None  # and gone from the store

        busy = auth.login("127.0.0.1", "bob")
        for _ in range(int(SESSION_MAX / timedelta(hours=1)) - 1):
            later(timedelta(hours=1))
            assert auth.session(busy) is not None
        later(timedelta(hours=1))
        assert auth.session(busy) is None  # however busy, a session ends SESSION_MAX after its login

        assert auth.session("not-a-session") is None and auth.session("x" * 5000) is None
    finally:
        store.close()


# --- 12. the simulated X against a web page ---------------------------------------------------------------


def test_the_simulated_x_refuses_foreign_hosts_non_json_control_calls_and_big_bodies() -> None:
    fake = FakeXServer().start()
    port = fake.server_address[1]
    try:
        foreign = {"Host": f"rebind.example:{port}"}
        assert requests.get(fake.url + "/fake/state", headers=foreign, timeout=10).status_code == 421
        assert requests.get(fake.url + "/", headers=foreign, timeout=10).status_code == 421
        body = b'{"from": "mallory", "text": "injected"}'
        # What a web page can send without asking first: text/plain, or a form.
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            answer = requests.post(fake.url + "/fake/dm", data=body, headers={"Content-Type": kind}, timeout=10)
            assert answer.status_code == 415, kind
        fault = requests.post(
            fake.url + "/fake/faults", data=b'{"kind": "500"}', headers={"Content-Type": "text/plain"}
        )
        assert fault.status_code == 415
        other_site = requests.post(
            fake.url + "/fake/dm",
            data=body,
            headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
        )
        assert other_site.status_code == 403
        big = requests.post(
            fake.url + "/fake/dm", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
        )
        assert big.status_code == 413
        with fake.state.lock:
            assert fake.state.dms == [] and fake.state.faults == {}  # nothing got in
        ok = requests.post(fake.url + "/fake/dm", json={"from": "amina", "text": "hello"}, timeout=10)
        assert ok.status_code == 201  # the CLI's and the tests' own way still works
        for name in ("127.0.0.1", "localhost"):
            assert requests.get(f"http://{name}:{port}/fake/state", timeout=10).status_code == 200
    finally:
        fake.stop()


# --- 13. the session cookie never goes to the simulated X's page ----------------------------------------


def test_the_timeline_link_is_under_another_name_so_the_cookie_stays_home(tmp_path: Path) -> None:
    playwright_api = playwright_or_skip()
    console = InProcessConsole(tmp_path, ConsoleAuth(password=PASSWORD))
    fake = FakeXServer().start()
    timeline = fake.page_url("127.0.0.1") + "/"
    try:
        assert timeline.startswith("http://localhost:")
        assert fake.page_url("localhost").startswith("http://127.0.0.1:")
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                context = browser.new_context()
                page = context.new_page()
                page.goto(console.url + "/login")
                page.fill("input[name=name]", "alice")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(console.url + "/")
                same_name = f"http://127.0.0.1:{fake.server_address[1]}/"
                # Cookies ignore ports: by the console's own name the simulated X would get it ...
                assert [c["name"] for c in context.cookies(same_name)] == ["livetweet_session"]
                # ... by the name livetweet prints for it, it does not.
                assert context.cookies(timeline) == []
                page.goto(timeline)
                assert "Simulated X" in page.content()
            finally:
                browser.close()
    finally:
        fake.stop()
        console.stop()


# --- 14. banners are the console's own words ---------------------------------------------------------------


def test_a_banner_cannot_be_set_through_the_address(console: Console) -> None:
    session, csrf = logged_in(console.url)
    spoof = session.get(console.url + "/queue?msg=Posting+is+paused.+Call+%2B41+00+000", timeout=10).text
    assert "Call +41" not in spoof and "banner" not in spoof.split("<main", 1)[-1].split("data-draft-id")[0]
    assert "Call +41" not in session.get(console.url + "/?msg=Call+%2B41&sig=00", timeout=10).text
    login = requests.get(console.url + "/login?error=Your+password+expired%3A+call+%2B41", timeout=10).text
    assert "call +41" not in login
    draft = console.draft("q1")
    answer = session.post(
        console.url + f"/drafts/{draft['id']}/approve",
        data={"csrf": csrf},
        headers={"Referer": console.url + "/queue"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303
    target = answer.headers["location"]
    own = session.get(console.url + target, timeout=10).text
    assert f"Approved {draft['slot']}: it goes out at" in own  # the console's own message is shown ...
    bob, _ = logged_in(console.url, "bob")
    assert (
        f"Approved {draft['slot']}: it goes out at" not in bob.get(console.url + target, timeout=10).text
    )  # ... to its session only
