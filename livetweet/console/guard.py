"""What every request to the console passes first: its Host, its Origin, its body's size; and the
security headers on every answer. Plain ASGI, before the application sees anything."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .server import LOOPBACK

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
# The report (`livetweet report`'s page) carries its styles and its chart inline and runs nothing.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
SMALL_BODY = 4 * 1024  # /login and /logout: a name, a password, a token
BODY_LIMIT = 64 * 1024  # every other request: a post's text is 280 characters
MEDIA_BODY = 40 * 1024 * 1024  # a compose or an edit with images: four photos as phones take them
SMALL_BODY_PATHS = frozenset({"/login", "/logout"})


def body_limit(path: str) -> int:
    """How many bytes a request to `path` may send: a little, or room for photos where they go."""
    if path in SMALL_BODY_PATHS:
        return SMALL_BODY
    if path == "/compose" or (path.startswith("/drafts/") and path.endswith("/edit")):
        return MEDIA_BODY
    return BODY_LIMIT


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # forms return to the page they came from
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds the security headers to every response (plain ASGI: no task per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = {name for name, _ in _SECURITY_HEADERS}
                given = message.get("headers", [])
                # An image is named by its content (SHA-256): it may be kept; nothing else is.
                cached = [h for h in given if h[0].lower() == b"cache-control" and b"immutable" in h[1]]
                headers = [h for h in given if h[0].lower() not in ours]
                message["headers"] = [*headers, *_SECURITY_HEADERS]
                if scope["path"] == "/report":  # a self-contained page: its own inline styles, no script at all
                    message["headers"] = [
                        (k, REPORT_CSP.encode()) if k == b"content-security-policy" else (k, v)
                        for k, v in message["headers"]
                    ]
                if cached:
                    message["headers"] = [h for h in message["headers"] if h[0] != b"cache-control"] + cached
            await send(message)

        await self.app(scope, receive, send_with_headers)


def same(given: str, expected: str) -> bool:
    """Token comparison in constant time (bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


class BodyTooLarge(Exception):
    """The request body grew past its limit while it was read."""


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> PlainTextResponse:
    return PlainTextResponse(text + "\n", status_code=status, headers={"connection": "close", **(headers or {})})


class RequestGuard:
    """Checks every request before the application sees it (plain ASGI), in this order:

    1. its Host is one the console answers to (else 421): a web page whose name was made to
       resolve to 127.0.0.1 (DNS rebinding) gets nothing, not even the login page;
    2. a state-changing request comes from the console's own pages: its Origin (or, without
       one, its Referer) names an allowed host (else 403);
    3. its body fits the limit of its path (else 413): a Content-Length over it is refused
       before a byte is read, and a chunked body is counted while it is read and cut there.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    def host_allowed(self, value: str) -> bool:
        value = value.strip().lower()
        if self.allowed_hosts:
            return value in self.allowed_hosts
        name, _, port = value.rpartition(":")
        if not port.isdigit() or (value.startswith("[") and not name.endswith("]")):
            name = value
        return name.strip("[]") in LOOPBACK

    def origin_allowed(self, headers: Headers) -> bool:
        origin = headers.get("origin")
        if origin is None:
            referer = headers.get("referer")
            if referer is None:
                return True  # not a browser's request (curl, scripts): the CSRF token still decides
            origin = referer
        parts = urlsplit(origin.strip())
        return parts.scheme in ("http", "https") and bool(parts.netloc) and self.host_allowed(parts.netloc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not self.host_allowed(headers.get("host", "")):
            message = "This console does not answer to that Host name: open it by the address `livetweet run` printed."
            await _plain(421, message)(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and not self.origin_allowed(headers):
            await _plain(403, "refused: this request comes from another site than the console")(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _plain(400, "bad Content-Length")(scope, receive, send)
                return
            if int(length) > limit:
                await _plain(413, f"request body too large (at most {limit} bytes here)")(scope, receive, send)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await _plain(413, f"request body too large (at most {limit} bytes here)")(scope, receive, send)
