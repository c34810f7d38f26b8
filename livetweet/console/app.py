"""The console's pages and actions: a thin shell over the same service the CLI uses.

Every rule lives in the service; a view only reads the request, calls the service as the
logged-in operator, and shows the result. Pages are rendered on the server with autoescape;
a little JavaScript (static/console.js, no inline script) adds the live counter, countdowns,
and a reload when Server-Sent Events say the store changed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..draft import Actor, DraftState, actions_for
from ..errors import BadValue, LivetweetError
from ..inbox import SHOWN_LENGTH, clean_text, shorten
from ..plan.values import format_duration, parse_clock_time, parse_signed_duration
from ..service import InboxService, Service, as_posted, compose_draft
from ..store import shift_for
from .auth import SESSION_COOKIE, ConsoleAuth, Session
from .server import LOOPBACK

HERE = Path(__file__).parent
PAGE_SIZE = 50
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
S = DraftState
log = logging.getLogger("livetweet.console")
MAX_ID = 2**62  # ids past this are not ids (SQLite's integers end at 2**63)
MAX_PAGE = 100_000


class BadRequest(ValueError):
    """A request livetweet cannot make sense of (an id, a page, a duration): a 400, said plainly."""


def _id(value: object, what: str) -> int:
    number = value if isinstance(value, int) else -1
    if not 0 < number < MAX_ID:
        raise BadRequest(f"there is no {what} {str(value)[:30]}")
    return number


SMALL_BODY = 4 * 1024  # /login and /logout: a name, a password, a token
BODY_LIMIT = 64 * 1024  # every other request: a post's text is 280 characters
SMALL_BODY_PATHS = frozenset({"/login", "/logout"})
VERIFY_SLOTS = 2  # password checks at once (argon2 takes memory and most of a second)
MAX_FORM_FIELDS = 64
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGES = frozenset({"/login", "/queue", "/inbox", "/posted", "/history", "/compose"})


@dataclass
class ConsoleContext:
    """What the console serves: one event of one store, on the run's clock."""

    service: Service
    event_id: str
    mode: str
    auth: ConsoleAuth
    post_link: Callable[[str], str] = lambda tweet_id: f"https://x.com/i/status/{tweet_id}"
    speed: float = 1.0
    # Checks X's credentials again before a resume after X refused them (the run gives it).
    verify_credentials: Callable[[], str] | None = None
    # The Host values it answers to (server.allowed_hosts); empty: the loopback names, any port.
    allowed_hosts: frozenset[str] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return self.service.zone(self.event_id)


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
                headers = [h for h in message.get("headers", []) if h[0].lower() not in ours]
                message["headers"] = [*headers, *_SECURITY_HEADERS]
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
        limit = SMALL_BODY if scope["path"] in SMALL_BODY_PATHS else BODY_LIMIT
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


class ChangeWatch:
    """The store's change marker, read every 0.1 s by one thread instead of once per request."""

    def __init__(self, read: Callable[[], str], every: float = 0.1) -> None:
        self._read = read
        self.value = read()
        self._every = every
        threading.Thread(target=self._loop, name="console-watch", daemon=True).start()

    def refresh(self) -> None:
        self.value = self._read()

    def _loop(self) -> None:
        while True:
            time.sleep(self._every)
            try:
                self.refresh()
            except Exception:
                continue


# Shared (cached) pages are rendered with these in place of each viewer's values. They are
# markup: autoescape turns any "<" of stored text into "&lt;", so no stored text, DM or name
# can ever contain one, and filling them in cannot reach into what people wrote.
_SLOTS = {name: Markup(f"<!--livetweet:{name}-->") for name in ("csrf", "operator", "banner")}
_LOGIN_ERRORS = {
    "wrong": "wrong password or token",
    "name": "say who you are: your name goes in the audit trail",
    "busy": "too many failed logins: try again in a minute",
}


@dataclass(frozen=True)
class Goto:
    """An action's answer that leads to another page than the one it came from."""

    path: str
    message: str
    anchor: str = ""


def _clean_form(form: FormData) -> FormData:
    """Every field of every form in one normal form: no NUL, control or bidi characters."""
    return FormData(
        [(key, clean_text(value) if isinstance(value, str) else value) for key, value in form.multi_items()]
    )


def create_app(ctx: ConsoleContext) -> Starlette:
    """The console's ASGI application."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    inbox = InboxService(ctx.service)
    store = ctx.service.store
    event_row = store.event(ctx.event_id)
    watch = ChangeWatch(store.change_marker)
    if ctx.auth.store is None:
        ctx.auth.store = store  # sessions and link tokens live in the console's store
    cache: dict[str, tuple[str, str]] = {}
    cache_lock = threading.Lock()
    verify_slots = asyncio.Semaphore(VERIFY_SLOTS)

    def hm(when: datetime | None) -> str:
        return when.astimezone(ctx.zone).strftime("%H:%M:%S %Z") if when else "-"

    templates.env.filters["hm"] = hm
    templates.env.filters["iso"] = lambda when: when.isoformat() if when else ""
    # A draft's buttons are the operator's actions the table allows from its state.
    templates.env.tests["allowed"] = lambda d, name: name in actions_for(d.state, Actor.OPERATOR)

    # --- plumbing ------------------------------------------------------------------

    def session_of(request: Request) -> tuple[str | None, Session | None]:
        sid = request.cookies.get(SESSION_COOKIE)
        return sid, ctx.auth.session(sid)  # called in a thread: it may read the store

    def banner(request: Request, session: Session) -> Markup:
        """The page's message, only if this console said it to this session (no spoofed banners)."""
        text = request.query_params.get("msg", "")[:500]
        mark = request.query_params.get("sig", "")
        if not text or not session.signed(text, mark):
            return Markup("")
        if text.startswith("error:"):
            return Markup('<p class="banner error" role="alert">{}</p>').format(text[6:])
        return Markup('<p class="banner ok" role="status">{}</p>').format(text)

    def render(name: str, request: Request, values: dict[str, Any], **viewer: Any) -> str:
        return templates.get_template(name).render(
            request=request,
            paused=store.paused(),
            mode=ctx.mode,
            event=event_row,
            path=request.url.path,
            **{**_SLOTS, **viewer},
            **values,
        )

    def page(name: str, request: Request, session: Session, **values: Any) -> Response:
        html = render(
            name, request, values, operator=session.operator, csrf=session.csrf, banner=banner(request, session)
        )
        return Response(html, media_type="text/html; charset=utf-8")

    def fill(html: str, request: Request, session: Session) -> str:
        """A shared page with this viewer's values in its slots (escaped where they are text)."""
        for name, value in (
            ("csrf", session.csrf),
            ("operator", session.operator),
            ("banner", banner(request, session)),
        ):
            html = html.replace(_SLOTS[name], str(escape(value)))  # escape() leaves the banner's Markup as it is
        return html

    async def cached_page(
        name: str, request: Request, session: Session, data: Callable[[], dict[str, Any]]
    ) -> Response:
        """Pages that change only when the store does are rendered once per change and shared
        by every session (its CSRF token and name filled in), so that a busy room stays fast."""
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("msg", "sig")]
        key = request.url.path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
        marker = watch.value
        hit = cache.get(key)

        def build() -> str:
            with cache_lock:  # one render per change, not one per waiting session
                again = cache.get(key)
                if again is not None and again[0] == marker:
                    return again[1]
                html = render(name, request, data())
                if len(cache) > 256:
                    cache.clear()
                cache[key] = (marker, html)
                return html

        html = hit[1] if hit is not None and hit[0] == marker else await run_in_threadpool(build)
        return Response(fill(html, request, session), media_type="text/html; charset=utf-8")

    def back(
        request: Request, form: FormData, session: Session, message: str = "", error: str = "", goto: Goto | None = None
    ) -> RedirectResponse:
        """Back to the page the action came from (or `goto`'s), with its message signed for this session."""
        if goto is not None:
            path, message, anchor = goto.path, goto.message, goto.anchor
        else:
            target = str(form.get("next") or request.headers.get("referer") or "/")
            parts = urlsplit(target)
            path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else "/"
            anchor = str(form.get("anchor") or "")
        text = f"error:{error}" if error else message
        text = text[:500]
        query = f"?msg={quote(text)}&sig={session.sign(text)}" if text else ""
        anchor = "".join(c for c in anchor if c.isalnum() or c in "-_")[:40]
        return RedirectResponse(path + query + (f"#{anchor}" if anchor else ""), status_code=303)

    def guarded(handler: Callable[[Request, Session], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            _, session = await run_in_threadpool(session_of, request)
            if session is None:
                if request.method == "GET" and request.url.path != "/events":
                    return RedirectResponse("/login", status_code=303)
                return JSONResponse({"error": "log in first"}, status_code=401)
            return await handler(request, session)

        return endpoint

    def action(
        do: Callable[[Request, FormData, Session], str | Goto],
    ) -> Callable[[Request], Awaitable[Response]]:
        """A state-changing POST: needs a session and its CSRF token; errors come back as messages."""

        async def handler(request: Request, session: Session) -> Response:
            form = await read_form(request)
            if not same(str(form.get("csrf") or ""), session.csrf):
                return JSONResponse({"error": "missing or wrong CSRF token: reload the page"}, status_code=403)
            try:
                message = await run_in_threadpool(do, request, form, session)
            except BadRequest as exc:
                return PlainTextResponse(str(exc), status_code=400)
            except LivetweetError as exc:
                return back(request, form, session, error=str(exc))
            except Exception:
                # No exception text reaches a page; the run's terminal has the traceback.
                log.exception("console action %s failed", request.url.path)
                return PlainTextResponse(
                    "the console could not do that (an internal error, shown on the run's screen): "
                    "look at the page again before you retry",
                    status_code=500,
                )
            finally:
                await run_in_threadpool(watch.refresh)  # the next page shows this operator's own change
            if isinstance(message, Goto):
                return back(request, form, session, goto=message)
            return back(request, form, session, message)

        return guarded(handler)

    async def read_form(request: Request) -> FormData:
        """The form of a POST: fields only, no file parts (none is expected anywhere)."""
        return _clean_form(await request.form(max_files=0, max_fields=MAX_FORM_FIELDS))

    def int_field(form: FormData, name: str) -> int | None:
        value = str(form.get(name) or "")
        return int(value) if value.isdigit() else None

    # --- login -------------------------------------------------------------------------

    async def login_page(request: Request) -> Response:
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "token": request.query_params.get("token", ""),
                "uses_token": ctx.auth.uses_token,
                "error": _LOGIN_ERRORS.get(request.query_params.get("error", ""), ""),
                "event": store.event(ctx.event_id),
            },
        )

    async def login(request: Request) -> Response:
        # The peer's own address: uvicorn runs with proxy_headers off, X-Forwarded-For is ignored.
        client = request.client.host if request.client else "?"
        form = await read_form(request)
        name = " ".join(str(form.get("name") or "").split())[:60]
        wait = ctx.auth.attempt(client)  # counted as a failure before it waits: guesses queue up
        if wait is None:
            later = max(1, round(ctx.auth.retry_after(client)))
            return _plain(429, f"too many failed logins: try again in {later} s", {"retry-after": str(later)})
        if wait:
            await asyncio.sleep(wait)  # slows down password guessing
        if not name:  # asked before the password is checked: a link's token is not spent for nothing
            return RedirectResponse("/login?error=name", status_code=303)
        async with verify_slots:  # argon2 in a thread, a few at a time: the pages stay responsive
            right = await run_in_threadpool(ctx.auth.check_password, str(form.get("password") or ""))
        if not right:
            return RedirectResponse("/login?error=wrong", status_code=303)
        sid = await run_in_threadpool(ctx.auth.login, client, name)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, sid, httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https"
        )
        return response

    async def logout(request: Request) -> Response:
        sid, session = await run_in_threadpool(session_of, request)
        form = await read_form(request)
        if session is None or not same(str(form.get("csrf") or ""), session.csrf):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        await run_in_threadpool(ctx.auth.logout, sid)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- pages ---------------------------------------------------------------------------

    def running_segment(now: datetime) -> dict[str, Any] | None:
        segments = store.segments(ctx.event_id)
        shifts = store.shifts(ctx.event_id)
        started = [s for s in segments if s["planned_start"] + shift_for(shifts, s["planned_start"]) <= now]
        return started[-1] if started else None

    async def now_page(request: Request, session: Session) -> Response:
        def data() -> dict[str, Any]:
            now = ctx.service.clock.now()
            upcoming = [d for d in store.drafts(event_id=ctx.event_id, states=[S.APPROVED, S.PENDING])]
            return {
                "now": now,
                "speed": ctx.speed,
                "segment": running_segment(now),
                "segments": store.segments(ctx.event_id),
                "upcoming": upcoming[:8],
            }

        values = await run_in_threadpool(data)
        return await run_in_threadpool(lambda: page("now.html", request, session, **values))

    async def queue_page(request: Request, session: Session) -> Response:
        state = request.query_params.get("state") or None
        raw_page = request.query_params.get("page", "1")
        number = min(int(raw_page), MAX_PAGE) if raw_page.isdigit() and len(raw_page) < 10 and int(raw_page) else 1
        states = [DraftState(state)] if state in {s.value for s in DraftState} else None

        def data() -> dict[str, Any]:
            total = store.count_drafts(event_id=ctx.event_id, states=states)
            drafts = store.drafts(
                event_id=ctx.event_id, states=states, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
            )
            return {
                "drafts": drafts,
                "total": total,
                "page": number,
                "pages": max(1, -(-total // PAGE_SIZE)),
                "state": state or "",
                "states": [s.value for s in DraftState],
            }

        return await cached_page("queue.html", request, session, data)

    async def inbox_page(request: Request, session: Session) -> Response:
        include_all = request.query_params.get("all") == "1"

        def data() -> dict[str, Any]:
            messages = inbox.messages(include_all)
            return {"messages": [(m, shorten(m.text, SHOWN_LENGTH)) for m in messages], "all": include_all}

        return await cached_page("inbox.html", request, session, data)

    async def posted_page(request: Request, session: Session) -> Response:
        def data() -> dict[str, Any]:
            drafts = store.drafts(event_id=ctx.event_id, states=[S.POSTED])
            rows = [
                (d, (d.posted_at - d.at).total_seconds() if d.posted_at else None, ctx.post_link(d.tweet_id or ""))
                for d in sorted(drafts, key=lambda d: d.posted_at or d.at)
            ]
            return {"rows": rows}

        return await cached_page("posted.html", request, session, data)

    async def history_page(request: Request, session: Session) -> Response:
        query = request.query_params.get("q", "").strip()

        def data() -> dict[str, Any]:
            entries = store.audit()
            slots = {d.id: d.slot for d in store.drafts(event_id=ctx.event_id)}
            rows = [(e, slots.get(e.draft_id or 0, "")) for e in reversed(entries)]
            if query:
                needle = query.casefold()
                rows = [
                    (e, slot)
                    for e, slot in rows
                    if needle
                    in " ".join(
                        str(x) for x in (e.operator, e.action, e.to_state, e.reason, slot, e.draft_id)
                    ).casefold()
                ]
            return {"rows": rows[:500], "q": query}

        return await cached_page("history.html", request, session, data)

    async def compose_page(request: Request, session: Session) -> Response:
        def data() -> dict[str, Any]:
            now = ctx.service.clock.now()
            segment = running_segment(now)
            return {
                "segment": segment,
                "hashtags": json.loads(segment["hashtags"]) if segment else [],
                "text": request.query_params.get("text", ""),
            }

        values = await run_in_threadpool(data)
        return await run_in_threadpool(lambda: page("compose.html", request, session, **values))

    # --- actions -----------------------------------------------------------------------------

    def draft_action(request: Request, form: FormData, session: Session) -> str:
        draft_id = _id(request.path_params["draft_id"], "draft")
        verb = request.path_params["verb"]
        seen = int_field(form, "version")
        by = session.operator
        if verb == "approve":
            d = ctx.service.approve(draft_id, by, int_field(form, "revision"), seen)
            return f"Approved draft {d.id} ({d.slot})."
        if verb == "unapprove":
            d = ctx.service.unapprove(draft_id, by, seen)
            return f"Draft {d.id} ({d.slot}) is on hold."
        if verb == "reject":
            d = ctx.service.reject(draft_id, by, str(form.get("reason") or "").strip() or None, seen)
            return f"Rejected draft {d.id} ({d.slot})."
        if verb == "edit":
            d, added = ctx.service.edit(draft_id, str(form.get("text") or ""), by, None, seen)
            extra = f" (added {' '.join(added)})" if added else ""
            return f"Draft {d.id} is now revision {d.revision}{extra}: it needs approval."
        if verb == "post-now":
            d = ctx.service.post_now(draft_id, by)
            return f"Draft {d.id} ({d.slot}) goes out now."
        raise BadRequest(f"unknown action {verb}")

    def inbox_action(request: Request, form: FormData, session: Session) -> str | Goto:
        message_id = _id(request.path_params["message_id"], "message")
        if request.path_params["verb"] == "reshare":
            text = str(form.get("text") or "").strip() or None
            draft = inbox.reshare(message_id, session.operator, text=text, event_id=ctx.event_id)
            return Goto("/queue", f"Draft {draft.id} made from message {message_id}: approve it.", f"draft-{draft.id}")
        inbox.dismiss(message_id, session.operator)
        return f"Message {message_id} dismissed."

    def live_action(request: Request, form: FormData, session: Session) -> str:
        verb = request.path_params["verb"]
        by = session.operator
        if verb == "pause":
            ctx.service.pause(by, str(form.get("reason") or "").strip() or None)
            return "Posting is paused."
        if verb == "resume":
            ctx.service.resume(by, ctx.verify_credentials)
            return "Posting resumed."
        if verb == "shift":
            text = str(form.get("duration") or "").strip()
            try:
                delta = parse_signed_duration(text)
            except BadValue as exc:
                raise BadRequest(f'"{text[:40]}" {exc}') from None
            moved = ctx.service.shift(delta, by, str(form.get("from") or "") or None, ctx.event_id)
            return f"Moved {len(moved)} posts by {format_duration(delta)}."
        if verb == "cue":
            delta, moved = ctx.service.cue(str(form.get("segment") or ""), by, ctx.event_id)
            return f"Cued: moved {len(moved)} posts by {format_duration(delta)}."
        raise BadRequest(f"unknown action {verb}")

    def compose_action(request: Request, form: FormData, session: Session) -> Goto:
        at: datetime | None = None
        at_text = str(form.get("at") or "").strip()
        if form.get("when") == "at" and at_text:
            try:
                clock = parse_clock_time(at_text)
            except BadValue as exc:
                raise BadRequest(f'"{at_text[:40]}" {exc}') from None
            event = store.event(ctx.event_id)
            assert event is not None
            at = datetime.combine(event["starts_at"].astimezone(ctx.zone).date(), clock, tzinfo=ctx.zone)
        draft, added = compose_draft(ctx.service, str(form.get("text") or ""), session.operator, at, ctx.event_id)
        when = "now" if at is None else f"at {hm(draft.at)}"
        tags = f" (added {' '.join(added)})" if added else ""
        note = f"Composed draft {draft.id}{tags}, approved; it goes out {when}."
        return Goto("/queue", note, f"draft-{draft.id}")

    async def count(request: Request, session: Session) -> Response:
        if not same(request.headers.get("x-csrf-token") or "", session.csrf):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        try:
            body = await request.json()  # at most BODY_LIMIT bytes (RequestGuard)
        except (ValueError, RecursionError):
            return JSONResponse({"error": 'send JSON like {"text": "..."}'}, status_code=400)
        text = body.get("text") if isinstance(body, dict) else None
        draft = body.get("draft") if isinstance(body, dict) else None
        if not isinstance(text, str) or not (draft is None or isinstance(draft, int)):
            return JSONResponse({"error": 'send JSON like {"text": "...", "draft": 12}'}, status_code=400)

        def posted() -> Any:
            # What would be posted: the normal form, with the hashtags livetweet adds (of the
            # draft being edited, or of the running segment for a composed post).
            return as_posted(ctx.service, text, _id(draft, "draft") if draft is not None else None, ctx.event_id)

        try:
            tagged = await run_in_threadpool(posted)  # not on the event loop
        except (BadRequest, LivetweetError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        result = tagged.parsed
        return JSONResponse(
            {
                "weighted_length": result.weighted_length,
                "valid": result.valid,
                "permillage": result.permillage,
                "added": list(tagged.appended),
                "missing": list(tagged.missing),
            }
        )

    # --- live updates ------------------------------------------------------------------

    def marker() -> str:
        return watch.value

    async def events(request: Request, session: Session) -> Response:
        async def stream() -> AsyncIterator[str]:
            last = marker()  # the watch thread reads the store; this reads its value
            yield f"event: hello\ndata: {last}\n\n"
            quiet = 0
            while not await request.is_disconnected():
                await asyncio.sleep(0.25)
                current = marker()
                quiet += 1
                if current != last:
                    last = current
                    quiet = 0
                    yield f"event: changed\ndata: {current}\n\n"
                elif quiet >= 60:
                    quiet = 0
                    yield ": still here\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", guarded(now_page), methods=["GET"]),
        Route("/queue", guarded(queue_page), methods=["GET"]),
        Route("/inbox", guarded(inbox_page), methods=["GET"]),
        Route("/posted", guarded(posted_page), methods=["GET"]),
        Route("/history", guarded(history_page), methods=["GET"]),
        Route("/compose", guarded(compose_page), methods=["GET"]),
        Route("/compose", action(compose_action), methods=["POST"]),
        Route("/drafts/{draft_id:int}/{verb}", action(draft_action), methods=["POST"]),
        Route("/inbox/{message_id:int}/{verb}", action(inbox_action), methods=["POST"]),
        Route("/live/{verb}", action(live_action), methods=["POST"]),
        Route("/api/count", guarded(count), methods=["POST"]),
        Route("/events", guarded(events), methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        # Starlette's own slash redirect builds an absolute URL from the Host header; this one
        # is relative, and only to the console's pages.
        path = request.url.path
        if request.method in SAFE_METHODS and path.endswith("/") and path.rstrip("/") in PAGES:
            query = request.url.query
            return RedirectResponse(path.rstrip("/") + (f"?{query}" if query else ""), status_code=307)
        return _plain(404, "not found")

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),  # adds headers only, to every answer (the guard's too)
            Middleware(RequestGuard, allowed_hosts=ctx.allowed_hosts),  # before anything else
        ],
        exception_handlers={404: not_found},
    )
    app.router.redirect_slashes = False
    return app
