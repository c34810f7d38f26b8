"""What every simulated network shares: its server on 127.0.0.1, its handler's plumbing, its faults.

The server (`FakeServer`) answers only to its own loopback names and serves from a thread;
the handler (`FakeHandler`) writes replies, refuses at the front door (a stranger's Host, a bad
Content-Length, a body over the limit), lets a control route take only JSON from no other
site, records each request, and hangs or drops a connection for a fault. The state
(`NetworkState`) holds the lock, the faults waiting (`Fault`) and the request log. Each network
keeps its own routes, answers and words (`_error_body`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar
from urllib.parse import urlsplit

from ..clock import Clock

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
# Nothing on a timeline page runs: no script at all, images from this server only.
PAGE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
PAGE_STYLE = (
    "body{font:16px system-ui;max-width:40rem;margin:auto;padding:1rem}li{list-style:none;"
    "border-bottom:1px solid #ddd;padding:.5rem 0}time{color:#666}"
)
POLL_SECONDS = 0.05  # serve_forever's poll: stop() returns at once, not half a second later


def sniff(data: bytes) -> str | None:
    """The image type read from the bytes themselves, as every network does (never from a name)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def iso_millis(when: datetime) -> str:
    """A time in UTC with milliseconds and a Z, as Bluesky and Mastodon write one."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def timeline_page(title: str, posts: int, rows: str, style: str) -> str:
    """A simulated network's timeline as one page; `style` is what its posts add to the shared look."""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{title}</title><style>{PAGE_STYLE}{style}</style>"
        f"<h1>{title}</h1><p>{posts} posts, newest first.</p><ul>{rows}</ul></html>"
    )


@dataclass
class Fault:
    """A fault on request: `kind` answers the next `times` calls (a 429's reset `reset_seconds` of real time away)."""

    kind: str
    times: int
    reset_seconds: float = 30.0


class NetworkState:
    """What the state of every simulated network holds: its clock, the lock, the faults waiting, the request log."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.faults: dict[str, deque[Fault]] = {}
        self.requests: list[tuple[str, str]] = []  # (route, outcome) in order
        self.journal: list[str] = []  # the same, with when, the port and the key: a story
        self.hang_release = threading.Event()  # set on stop(): every hanging request lets go

    def add_fault(self, route: str, fault: Fault) -> None:
        """Queue `fault` for the next calls on `route` (under the lock)."""
        self.faults.setdefault(route, deque()).append(fault)

    def take_fault(self, route: str) -> Fault | None:
        """The fault this call on `route` answers with, counted off its queue (under the lock)."""
        queue = self.faults.get(route)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault


S = TypeVar("S", bound=NetworkState)


class FakeServer(ThreadingHTTPServer, Generic[S]):
    """A simulated network's threaded server: `start()` serves it from a thread, `url` says where."""

    daemon_threads = True
    allow_reuse_address = True
    thread_name = "fake"
    state: S

    def __init__(self, host: str, port: int, handler: type[FakeHandler], hang_seconds: float) -> None:
        super().__init__((host, port), handler)
        bound = self.server_address[1]
        names = {*LOOPBACK_NAMES, host if ":" not in host else f"[{host}]"}
        self.hosts = frozenset(f"{name.lower()}:{bound}" for name in names)  # the Host headers it answers
        self.hang_seconds = hang_seconds
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where it listens: http://host:port."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Serve from a daemon thread, polling briefly so that stop() is quick."""
        self._thread = threading.Thread(
            target=self.serve_forever, args=(POLL_SECONDS,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Let every hanging request go, stop serving, close the socket."""
        self.state.hang_release.set()
        self.shutdown()
        self.server_close()


class FakeHandler(BaseHTTPRequestHandler):
    """The plumbing every simulated network's handler shares; its `_dispatch` routes a request."""

    server: FakeServer[Any]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    network = "network"  # its name where it refuses a stranger's Host
    wrong_host_status = 421
    _raw: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and rehearsals print what matters themselves."""
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        """Answer the request (each network routes its own)."""
        raise NotImplementedError

    def _error_body(self, status: int, message: str) -> Any:
        """The network's own body for an error (each network words its own)."""
        raise NotImplementedError

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = "") -> None:
        """Answer with `body`: bytes as they are, a str encoded, anything else as JSON."""
        if isinstance(body, bytes):
            data = body
        else:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type or JSON_TYPE)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, status: int, message: str) -> None:
        """Answer and close: the body (if any) is left unread."""
        self.close_connection = True
        self._send(status, self._error_body(status, message), {"Connection": "close"})

    def _journal_detail(self) -> str:
        """What the journal adds about a request: its idempotency key and the start of its text, where it has them."""
        key = (self.headers.get("Idempotency-Key") or "")[:12]
        form = getattr(self, "_form", None) or {}
        text = (form.get("status") or form.get("text") or [""])[0][:30]
        return f"{key} {text!r}" if text else key

    def _record(self, route: str, outcome: str) -> None:
        """Add the request to the log a test reads back."""
        line = f"{time.monotonic():.3f} :{self.client_address[1]} {route} {outcome} {self._journal_detail()}".rstrip()
        with self.server.state.lock:
            self.server.state.requests.append((route, outcome))
            self.server.state.journal.append(line)

    # --- the front door ---------------------------------------------------------------

    def _from_own_host(self) -> bool:
        """Only its own names, else refused: a web page whose name was made to resolve to 127.0.0.1
        (DNS rebinding) can neither read the rehearsal's state nor inject messages and faults."""
        if (self.headers.get("Host") or "").strip().lower() in self.server.hosts:
            return True
        self._refuse(
            self.wrong_host_status, f"the simulated {self.network} answers to 127.0.0.1, localhost and [::1] only"
        )
        return False

    def _content_length(self) -> int | None:
        """The body's declared length; None when it is not a number (then refused)."""
        length_text = (self.headers.get("Content-Length") or "0").strip()
        if not length_text.isdigit():
            self._refuse(400, "bad Content-Length")
            return None
        return int(length_text)

    def _read_body(self, length: int, limit: int) -> bool:
        """Read the whole body first, whatever the answer (leftovers would poison keep-alive);
        False when it is over `limit` (then refused, unread)."""
        if length > limit:
            self._refuse(413, f"request body too large (at most {limit} bytes)")
            return False
        self._raw = self.rfile.read(length) if length else b""
        return True

    def _control_allowed(self) -> bool:
        """A POST to a control route takes JSON from this server's own pages only, else refused:
        a web page can send text/plain or a form without asking, but JSON needs a CORS
        preflight, which no simulated network grants."""
        if self.command != "POST":
            return True
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            self._refuse(415, "send JSON (Content-Type: application/json)")
            return False
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc.lower() not in self.server.hosts:
            self._refuse(403, "refused: this request comes from another site")
            return False
        return True

    # --- faults -------------------------------------------------------------------------

    def _hang(self) -> None:
        """A fault's hang: no answer until the server's `hang_seconds` pass (or it stops), then close."""
        self.server.state.hang_release.wait(self.server.hang_seconds)
        self.close_connection = True

    def _drop(self) -> None:
        """A fault's drop: the connection is cut with no answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)
