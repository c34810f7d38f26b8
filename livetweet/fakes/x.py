"""The simulated X API: the routes tweepy uses, X's answers, and faults on request.

A plain threaded HTTP server on 127.0.0.1 with its own state. Tests and rehearsals drive
it with real tweepy over real HTTP; its clock can be the rehearsal's, so that rate-limit
resets and post times are in event time.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..clock import Clock, SystemClock
from ..plan.tweettext import parse_tweet

ACCOUNT_ID = "1318230912000000000"
FIRST_TWEET_ID = 1_326_000_000_000_000_000
RATE_WINDOW = timedelta(minutes=15)
RATE_LIMITS = {"POST /2/tweets": 100, "GET /2/dm_events": 15, "GET /2/users/:id/tweets": 900}
MAX_BODY = 1024 * 1024  # bytes: X's own limit for a post's JSON is far smaller
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
FAULT_KINDS = ("500", "503", "503-after-store", "429", "401", "403", "hang", "hang-after-store", "drop-after-store")


@dataclass
class Tweet:
    id: str
    text: str
    created_at: datetime
    in_reply_to: str | None
    arrived_monotonic: float = 0.0


@dataclass
class DirectMessage:
    id: str
    text: str
    sender_id: str
    sender_username: str
    created_at: datetime
    attachments: list[str] = field(default_factory=list)


@dataclass
class Fault:
    kind: str
    times: int
    reset_seconds: float = 30.0  # for a 429: seconds of real time until X's reset


class FakeXState:
    """Everything the simulated X API knows; every method takes the lock."""

    def __init__(self, clock: Clock, username: str, rate_limits: dict[str, int] | None) -> None:
        self.clock = clock
        self.username = username.lstrip("@")
        self.lock = threading.Lock()
        self.tweets: list[Tweet] = []
        self.deleted: list[str] = []
        self.dms: list[DirectMessage] = []
        self.users: dict[str, str] = {ACCOUNT_ID: self.username}
        self.faults: dict[str, deque[Fault]] = {}
        self.fault_reset: dict[str, float] = {}  # route -> real seconds to the reset of its injected 429
        self.requests: list[tuple[str, str]] = []  # (route, outcome) in order
        self.rate_limits = dict(RATE_LIMITS if rate_limits is None else rate_limits)
        self._windows: dict[str, tuple[datetime, int]] = {}
        self._ids = itertools.count(FIRST_TWEET_ID, 7)
        self._user_ids = itertools.count(2_000_000)
        self.hang_release = threading.Event()

    def next_id(self) -> str:
        return str(next(self._ids))

    def user_id(self, username: str) -> str:
        for uid, name in self.users.items():
            if name.lower() == username.lower():
                return uid
        uid = str(next(self._user_ids))
        self.users[uid] = username
        return uid

    def take_fault(self, route: str) -> str | None:
        queue = self.faults.get(route)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault.kind

    def rate(self, route: str) -> tuple[int, int, int, bool]:
        """(limit, remaining, reset epoch, allowed) for one more call on `route`."""
        limit = self.rate_limits.get(route)
        now = self.clock.now()
        if limit is None:
            return 0, 0, 0, True
        start, used = self._windows.get(route, (now, 0))
        if now - start >= RATE_WINDOW:
            start, used = now, 0
        allowed = used < limit
        if allowed:
            used += 1
        self._windows[route] = (start, used)
        return limit, max(limit - used, 0), self.wall_epoch(start + RATE_WINDOW), allowed

    def wall_epoch(self, when: datetime) -> int:
        """X's reset headers are wall-clock epochs: `when` (on this server's clock) as one, rounded up."""
        return math.ceil(time.time() + self.clock.real_seconds(when - self.clock.now()))


class _Handler(BaseHTTPRequestHandler):
    server: FakeXServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    _raw: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and rehearsals print what matters themselves

    # --- plumbing ---------------------------------------------------------------

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = "") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        title = HTTPStatus(status).phrase
        body = {"title": title, "detail": detail, "type": "about:blank", "status": status, **extra}
        self._send(status, body, headers)

    def _json_body(self) -> Any:
        try:
            return json.loads(self._raw or b"{}")
        except ValueError:
            return None

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.startswith("OAuth ") or auth.startswith("Bearer ")

    def _route(self) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        key = re.sub(r"^/2/users/(?!me$)[^/]+/tweets$", "/2/users/:id/tweets", path)
        key = re.sub(r"^/2/tweets/\d+$", "/2/tweets/:id", key)
        return f"{self.command} {key}", path, parse_qs(parts.query)

    def _refuse(self, status: int, detail: str) -> None:
        """Answer and close: the body (if any) is left unread."""
        self.close_connection = True
        self._problem(status, detail, {"Connection": "close"})

    def _dispatch(self) -> None:
        # Only its own names: a web page whose name was made to resolve to 127.0.0.1 (DNS
        # rebinding) can neither read the rehearsal's state nor inject messages and faults.
        if (self.headers.get("Host") or "").strip().lower() not in self.server.hosts:
            self._refuse(421, "the simulated X API answers to 127.0.0.1, localhost and [::1] only")
            return
        length_text = (self.headers.get("Content-Length") or "0").strip()
        if not length_text.isdigit():
            self._refuse(400, "bad Content-Length")
            return
        length = int(length_text)
        if length > MAX_BODY:
            self._refuse(413, f"request body too large (at most {MAX_BODY} bytes)")
            return
        # Read the whole body first, whatever the answer: leftovers would poison keep-alive.
        self._raw = self.rfile.read(length) if length else b""
        route, path, query = self._route()
        state = self.server.state
        if route.split()[1].startswith("/2/"):
            if not self._authorized():
                self._problem(401, "Unauthorized")
                return
            with state.lock:
                fault = state.take_fault(route)
                limit, remaining, reset, allowed = state.rate(route)
            rate_headers = (
                {
                    "x-rate-limit-limit": str(limit),
                    "x-rate-limit-remaining": str(remaining),
                    "x-rate-limit-reset": str(reset),
                }
                if limit
                else {}
            )
            if fault is not None and self._fault(route, fault, rate_headers):
                return
            if not allowed:
                self._record(route, "429")
                self._problem(429, "Too Many Requests", rate_headers)
                return
            handler = _API_ROUTES.get(route)
            if handler is None:
                self._problem(404, f"no such route in the simulated X API: {route}")
                return
            handler(self, path, query, rate_headers)
            return
        handler = _FAKE_ROUTES.get(route)
        if handler is None:
            self._problem(404, f"no such route: {route}")
            return
        if self.command == "POST":
            # Control routes take JSON only: a web page can send text/plain or a form without
            # asking, but JSON needs a CORS preflight, which this server never grants.
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind != "application/json":
                self._refuse(415, "send JSON (Content-Type: application/json)")
                return
            origin = self.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc.lower() not in self.server.hosts:
                self._refuse(403, "refused: this request comes from another site")
                return
        handler(self, path, query, {})

    def _record(self, route: str, outcome: str) -> None:
        with self.server.state.lock:
            self.server.state.requests.append((route, outcome))

    def _fault(self, route: str, kind: str, rate_headers: dict[str, str]) -> bool:
        """Answer with an injected fault; False when the fault lets the request go on."""
        self._record(route, f"fault:{kind}")
        if kind in ("500", "503"):
            self._problem(int(kind), "Service Unavailable" if kind == "503" else "Internal Server Error")
        elif kind == "503-after-store":  # X stored the post, then failed to say so
            body = self._json_body()
            if route == "POST /2/tweets" and isinstance(body, dict):
                _store_tweet(self.server.state, body)
            self._problem(503, "Service Unavailable")
        elif kind == "429":
            with self.server.state.lock:
                reset = int(time.time() + self.server.state.fault_reset.get(route, 30.0))
            self._problem(
                429,
                "Too Many Requests",
                {**rate_headers, "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
            )
        elif kind == "401":
            self._problem(401, "Unauthorized")
        elif kind == "403":
            self._problem(403, "You are not permitted to perform this action.")
        elif kind in ("hang", "hang-after-store"):
            body = self._json_body()
            if kind == "hang-after-store" and route == "POST /2/tweets" and isinstance(body, dict):
                _store_tweet(self.server.state, body)
            self.server.state.hang_release.wait(self.server.hang_seconds)
            self.close_connection = True
        elif kind == "drop-after-store":
            body = self._json_body()
            if route == "POST /2/tweets" and isinstance(body, dict):
                _store_tweet(self.server.state, body)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
        return True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()


def _store_tweet(state: FakeXState, body: dict[str, Any]) -> Tweet:
    import time

    reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
    with state.lock:
        tweet = Tweet(state.next_id(), body["text"], state.clock.now(), reply, time.monotonic())
        state.tweets.append(tweet)
    return tweet


def _tweet_json(t: Tweet) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": t.id,
        "text": t.text,
        "created_at": t.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "author_id": ACCOUNT_ID,
        "edit_history_tweet_ids": [t.id],
    }
    if t.in_reply_to:
        data["in_reply_to_user_id"] = ACCOUNT_ID
        data["referenced_tweets"] = [{"type": "replied_to", "id": t.in_reply_to}]
    return data


def _create_tweet(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    body = h._json_body()
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        h._record("POST /2/tweets", "400")
        h._problem(
            400,
            "One or more parameters to your request was invalid.",
            errors=[{"message": "the request body must be JSON with a text"}],
        )
        return
    text = body["text"]
    state = h.server.state
    if not parse_tweet(text).valid:
        h._record("POST /2/tweets", "400")
        h._problem(
            400,
            "One or more parameters to your request was invalid.",
            headers,
            errors=[{"message": "Your Tweet text is too long or contains invalid characters."}],
        )
        return
    reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
    with state.lock:
        duplicate = any(t.text == text for t in state.tweets if t.id not in state.deleted)
        known_parent = reply is None or any(t.id == reply for t in state.tweets)
    if duplicate:
        h._record("POST /2/tweets", "403-duplicate")
        h._problem(403, "You are not allowed to create a Tweet with duplicate content.", headers)
        return
    if not known_parent:
        h._record("POST /2/tweets", "400")
        h._problem(
            400,
            "One or more parameters to your request was invalid.",
            headers,
            errors=[{"message": f"The tweet to reply to ({reply}) does not exist."}],
        )
        return
    tweet = _store_tweet(state, body)
    h._record("POST /2/tweets", "201")
    h._send(201, {"data": {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}}, headers)


def _delete_tweet(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    tweet_id = path.rsplit("/", 1)[-1]
    state = h.server.state
    with state.lock:
        found = any(t.id == tweet_id for t in state.tweets) and tweet_id not in state.deleted
        if found:
            state.deleted.append(tweet_id)
    h._send(200, {"data": {"deleted": found}}, headers)


def _me(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    h._send(200, {"data": {"id": ACCOUNT_ID, "name": state.username, "username": state.username}}, headers)


def _page(
    items: list[Any], query: dict[str, list[str]], default: int, low: int, high: int
) -> tuple[list[Any], str | None]:
    size = int((query.get("max_results") or [str(default)])[0])
    size = max(low, min(high, size))
    offset = int((query.get("pagination_token") or ["0"])[0] or 0)
    page = items[offset : offset + size]
    next_token = str(offset + size) if offset + size < len(items) else None
    return page, next_token


def _user_tweets(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    user_id = path.split("/")[3]
    with state.lock:
        tweets = [t for t in state.tweets if t.id not in state.deleted] if user_id == ACCOUNT_ID else []
    since_id = (query.get("since_id") or [""])[0]
    start = (query.get("start_time") or [""])[0]
    if since_id:
        tweets = [t for t in tweets if int(t.id) > int(since_id)]
    if start:
        start_at = datetime.fromisoformat(start.replace("Z", "+00:00"))
        tweets = [t for t in tweets if t.created_at >= start_at]
    tweets = sorted(tweets, key=lambda t: int(t.id), reverse=True)
    page, next_token = _page(tweets, query, 10, 5, 100)
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, Any] = {"meta": meta}
    if page:
        body["data"] = [_tweet_json(t) for t in page]
    h._record("GET /2/users/:id/tweets", "200")
    h._send(200, body, headers)


def _dm_events(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        events = sorted(state.dms, key=lambda d: int(d.id), reverse=True)
    page, next_token = _page(events, query, 100, 1, 100)
    data = []
    for dm in page:
        item: dict[str, Any] = {
            "id": dm.id,
            "event_type": "MessageCreate",
            "text": dm.text,
            "sender_id": dm.sender_id,
            "created_at": dm.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "dm_conversation_id": f"{min(dm.sender_id, ACCOUNT_ID)}-{max(dm.sender_id, ACCOUNT_ID)}",
        }
        if dm.attachments:
            item["attachments"] = {"media_keys": dm.attachments}
        data.append(item)
    senders = {dm.sender_id: dm.sender_username for dm in page}
    body: dict[str, Any] = {"meta": {"result_count": len(page)}}
    if next_token:
        body["meta"]["next_token"] = next_token
    if data:
        body["data"] = data
        body["includes"] = {"users": [{"id": i, "username": u, "name": u} for i, u in senders.items()]}
    h._record("GET /2/dm_events", "200")
    h._send(200, body, headers)


# --- routes of the simulated API itself (not X's) ----------------------------------


def add_dm(state: FakeXState, sender: str, text: str, attachments: list[str] | None = None) -> DirectMessage:
    """An incoming direct message, as a participant would send it."""
    with state.lock:
        sender_name = sender.lstrip("@")
        sender_id = ACCOUNT_ID if sender_name.lower() == state.username.lower() else state.user_id(sender_name)
        dm = DirectMessage(state.next_id(), text, sender_id, sender_name, state.clock.now(), attachments or [])
        state.dms.append(dm)
    return dm


def _fake_dm(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    body = h._json_body()
    if not isinstance(body, dict) or not body.get("from") or not isinstance(body.get("text"), str):
        h._problem(400, 'send JSON like {"from": "username", "text": "..."}')
        return
    dm = add_dm(h.server.state, str(body["from"]), body["text"], list(body.get("media_keys") or []))
    h._send(201, {"data": {"id": dm.id, "sender_id": dm.sender_id}})


def _fake_faults(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    body = h._json_body()
    if not isinstance(body, dict) or body.get("kind") not in FAULT_KINDS:
        h._problem(400, f'send JSON like {{"route": "POST /2/tweets", "kind": one of {list(FAULT_KINDS)}, "times": 1}}')
        return
    route = str(body.get("route") or "POST /2/tweets")
    with h.server.state.lock:
        h.server.state.faults.setdefault(route, deque()).append(Fault(body["kind"], int(body.get("times") or 1)))
    h._send(201, {"ok": True})


def _fake_state(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        body = {
            "account": state.username,
            "tweets": [_tweet_json(t) for t in state.tweets],
            "deleted": list(state.deleted),
            "dms": len(state.dms),
            "requests": [list(r) for r in state.requests],
        }
    h._send(200, body)


def _timeline_page(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        tweets = [t for t in reversed(state.tweets) if t.id not in state.deleted]
        username = state.username
    rows = "\n".join(
        f"<li><time>{t.created_at:%Y-%m-%d %H:%M:%S} UTC</time>"
        + (f" <small>reply to {html.escape(t.in_reply_to)}</small>" if t.in_reply_to else "")
        + f"<p>{html.escape(t.text).replace(chr(10), '<br>')}</p></li>"
        for t in tweets
    )
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>Simulated X: @{html.escape(username)}</title>"
        "<style>body{font:16px system-ui;max-width:40rem;margin:auto;padding:1rem}li{list-style:none;"
        "border-bottom:1px solid #ddd;padding:.5rem 0}time{color:#666}</style>"
        f"<h1>Simulated X: @{html.escape(username)}</h1><p>{len(tweets)} posts, newest first.</p>"
        f"<ul>{rows}</ul></html>"
    )
    h._send(200, page, content_type="text/html; charset=utf-8")


_API_ROUTES = {
    "POST /2/tweets": _create_tweet,
    "DELETE /2/tweets/:id": _delete_tweet,
    "GET /2/users/me": _me,
    "GET /2/users/:id/tweets": _user_tweets,
    "GET /2/dm_events": _dm_events,
}
_FAKE_ROUTES = {
    "POST /fake/dm": _fake_dm,
    "POST /fake/faults": _fake_faults,
    "GET /fake/state": _fake_state,
    "GET /": _timeline_page,
}


class FakeXServer(ThreadingHTTPServer):
    """The simulated X API; `start()` serves it from a thread, `url` says where."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        username: str = "UNMigNetwork",
        rate_limits: dict[str, int] | None = None,
        hang_seconds: float = 30.0,
    ) -> None:
        super().__init__((host, port), _Handler)
        bound = self.server_address[1]
        names = {*LOOPBACK_NAMES, host if ":" not in host else f"[{host}]"}
        self.hosts = frozenset(f"{name.lower()}:{bound}" for name in names)
        self.state = FakeXState(clock or SystemClock(), username, rate_limits)
        self.hang_seconds = hang_seconds
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def page_url(self, console_host: str = "127.0.0.1") -> str:
        """Its timeline's address for a browser, by another name than the console's: cookies do
        not care about ports, so the console's session cookie never comes here."""
        host, port = self.server_address[:2]
        if host not in ("127.0.0.1", "localhost"):
            return self.url
        name = "localhost" if console_host.strip("[]") in ("127.0.0.1", "::1") else "127.0.0.1"
        return f"http://{name}:{port}"

    def start(self) -> FakeXServer:
        parse_tweet("warm")  # its patterns are built on first use: not during the first post
        self._thread = threading.Thread(target=self.serve_forever, name="fake-x", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.hang_release.set()
        self.shutdown()
        self.server_close()

    # Conveniences for tests and the CLI.
    def inject_fault(
        self, kind: str, route: str = "POST /2/tweets", times: int = 1, reset_seconds: float = 30.0
    ) -> None:
        """Answer the next `times` calls on `route` with `kind` (a 429's reset `reset_seconds` of real time away)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self.state.lock:
            self.state.faults.setdefault(route, deque()).append(Fault(kind, times, reset_seconds))
            self.state.fault_reset[route] = reset_seconds

    def posts(self) -> list[Tweet]:
        with self.state.lock:
            return [t for t in self.state.tweets if t.id not in self.state.deleted]
