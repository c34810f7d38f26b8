"""The console's shared plumbing: the context it serves, sessions, pages rendered once per
change and filled in per viewer, signed banners, and the shape of every action."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..draft import Actor, Draft, DraftState, actions_for
from ..errors import LivetweetError
from ..inbox import clean_text
from ..service import InboxService, Service, readmodels, segment_started
from ..store import SegmentRow
from . import display
from .auth import SESSION_COOKIE, ConsoleAuth, Session
from .guard import BODY_LIMIT, body_limit, same

HERE = Path(__file__).parent
PAGE_SIZE = 50
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


VERIFY_SLOTS = 2  # password checks at once (argon2 takes memory and most of a second)
MAX_FORM_FIELDS = 64
IMAGE_FIELDS = frozenset({"image1", "image2", "image3", "image4"})
PAGES = frozenset({"/", "/login", "/queue", "/inbox", "/posted", "/history", "/compose", "/live/confirm"})


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
    # A person's "post now" and "compose now" wait this long (wall seconds) so that a slip can be cancelled.
    hold_seconds: float = 10.0

    @property
    def zone(self) -> ZoneInfo:
        return self.service.zone(self.event_id)

    @property
    def hold(self) -> timedelta:
        """The hold on the event's clock (a rehearsal's runs faster: the person still gets the seconds)."""
        return timedelta(seconds=self.hold_seconds * self.speed)


class ChangeWatch:
    """The store's change marker, read every 0.1 s by one thread instead of once per request.

    Its value also turns every `tick` seconds: what needs a person (a draft due in five minutes
    and not approved) changes with time alone, and every page shows it.
    """

    def __init__(self, read: Callable[[], str], every: float = 0.1, tick: float = 5.0) -> None:
        self._store_marker = read
        self._tick = tick
        self.value = self._read()
        self._every = every
        threading.Thread(target=self._loop, name="console-watch", daemon=True).start()

    def _read(self) -> str:
        return f"{self._store_marker()}:{int(time.monotonic() // self._tick)}"

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
_SLOTS = {name: Markup(f"<!--livetweet:{name}-->") for name in ("csrf", "operator", "banner", "now_slot")}
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


def _store_part(seen: str) -> str:
    """The store's change marker in a watch value (without the time tick)."""
    return seen.rpartition(":")[0]


def _clean_form(form: FormData) -> FormData:
    """Every field of every form in one normal form: no NUL, control or bidi characters."""
    return FormData(
        [(key, clean_text(value) if isinstance(value, str) else value) for key, value in form.multi_items()]
    )


class Shell:
    """What every view shares: the service, the templates, the change watch, the shared page
    cache; and the plumbing of sessions, pages, messages and actions."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.autoescape = True
        self.inbox = InboxService(ctx.service)
        self.store = ctx.service.store
        self.event_row = self.store.event(ctx.event_id)
        self.watch = ChangeWatch(self.store.change_marker)
        if ctx.auth.store is None:
            ctx.auth.store = self.store  # sessions and link tokens live in the console's store
        self.cache: dict[str, tuple[str, str]] = {}
        self.cache_locks: dict[str, threading.Lock] = {}
        self.rendering: set[str] = set()  # pages being rendered again in the background
        self._alarms: tuple[str, list[readmodels.Alarm]] | None = None
        self.verify_slots = asyncio.Semaphore(VERIFY_SLOTS)
        env = self.templates.env
        env.filters["hm"] = self.hm
        env.filters["when"] = lambda moment: display.when(moment, self.ctx.zone, self.ctx.service.clock.now())
        env.filters["iso"] = lambda when: when.isoformat() if when else ""
        env.filters["rich"] = display.rich
        env.filters["words"] = display.words
        # A delivery's length limit and account, by its network (Bluesky 300, Mastodon 500, X 280).
        env.filters["limit"] = self.ctx.service.limit_of
        env.filters["account"] = self.account_label
        # A draft's buttons are the operator's actions the table allows from its state.
        env.tests["allowed"] = lambda d, name: name in actions_for(d.state, Actor.OPERATOR)
        env.tests["held"] = self.held

    def account_label(self, draft: Draft) -> str:
        """The account a delivery posts to ("" when the event posts to its X account alone)."""
        accounts = self.ctx.service.accounts(draft.event_id)
        if len(accounts) < 2 and draft.account in accounts:
            return ""
        account = accounts.get(draft.account)
        if account is None:
            return draft.account
        network = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon"}.get(account.network, account.network)
        return f"{network} {account.handle}"

    def running_segment(self, now: datetime) -> SegmentRow | None:
        """The segment running now, by the service's rule (None before the first starts)."""
        return segment_started(self.ctx.service, self.ctx.event_id, now)

    def alarms(self) -> list[readmodels.Alarm]:
        """What needs a person, read once per change (or tick) and shown on every page."""
        seen = self.watch.value
        cached = self._alarms
        if cached is not None and cached[0] == seen:
            return cached[1]
        found = readmodels.alarms(self.ctx.service, self.ctx.event_id, self.ctx.service.clock.now())
        self._alarms = (seen, found)
        return found

    def held(self, d: Draft) -> bool:
        """A person's post-now or compose-now still in its hold: the card offers Cancel."""
        if d.state is not S.APPROVED or d.approved_at is None or d.at <= d.approved_at:
            return False
        return d.at - d.approved_at <= self.ctx.hold + timedelta(seconds=1) and d.at > self.ctx.service.clock.now()

    def hm(self, when: datetime | None) -> str:
        return when.astimezone(self.ctx.zone).strftime("%H:%M:%S %Z") if when else "-"

    def session_of(self, request: Request) -> tuple[str | None, Session | None]:
        sid = request.cookies.get(SESSION_COOKIE)
        return sid, self.ctx.auth.session(sid)  # called in a thread: it may read the store

    def banner(self, request: Request, session: Session) -> Markup:
        """The page's message, only if this console said it to this session (no spoofed banners)."""
        text = request.query_params.get("msg", "")[:500]
        mark = request.query_params.get("sig", "")
        if not text or not session.signed(text, mark):
            return Markup("")
        if text.startswith("error:"):
            return Markup('<p class="banner error" role="alert">{}</p>').format(text[6:])
        return Markup('<p class="banner ok" role="status">{}</p>').format(text)

    def render(self, name: str, request: Request, values: dict[str, Any], **viewer: Any) -> str:
        return self.templates.get_template(name).render(
            request=request,
            paused=self.store.paused(),
            alarms=self.alarms(),
            mode=self.ctx.mode,
            event=self.event_row,
            zone=self.ctx.zone.key,
            speed=self.ctx.speed,
            hold=self.ctx.hold_seconds,
            path=request.url.path,
            **{**_SLOTS, **viewer},
            **values,
        )

    def page(self, name: str, request: Request, session: Session, status: int = 200, **values: Any) -> Response:
        """A page rendered for this viewer alone (a refused form kept open with what they typed)."""
        html = self.render(
            name,
            request,
            values,
            operator=session.operator,
            csrf=session.csrf,
            banner=self.banner(request, session),
            now_slot=self.ctx.service.clock.now().isoformat(),
        )
        return Response(html, status_code=status, media_type="text/html; charset=utf-8")

    def fill(self, html: str, request: Request, session: Session) -> str:
        """A shared page with this viewer's values in its slots (escaped where they are text)."""
        for name, value in (
            ("csrf", session.csrf),
            ("operator", session.operator),
            ("banner", self.banner(request, session)),
            ("now_slot", self.ctx.service.clock.now().isoformat()),
        ):
            html = html.replace(_SLOTS[name], str(escape(value)))  # escape() leaves the banner's Markup as it is
        return html

    async def cached_page(
        self, name: str, request: Request, session: Session, data: Callable[[], dict[str, Any]]
    ) -> Response:
        """Pages that change only when the store does are rendered once per change and shared
        by every session (its CSRF token and name filled in), so that a busy room stays fast."""
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("msg", "sig")]
        key = request.url.path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
        seen = self.watch.value
        hit = self.cache.get(key)

        def build() -> str:
            lock = self.cache_locks.setdefault(key, threading.Lock())
            with lock:  # one render per change and page, not one per waiting session
                again = self.cache.get(key)
                if again is not None and again[0] == seen:
                    return again[1]
                html = self.render(name, request, data())
                if len(self.cache) > 256:
                    self.cache.clear()
                    self.cache_locks.clear()
                self.cache[key] = (seen, html)
                return html

        if hit is not None and hit[0] == seen:
            html = hit[1]
        elif hit is not None and _store_part(hit[0]) == _store_part(seen):
            # Only time moved on (the tick): the page a moment old is right but for a countdown
            # the browser runs itself; it is served while the next one renders.
            html = hit[1]
            if key not in self.rendering:
                self.rendering.add(key)
                task = asyncio.get_running_loop().create_task(run_in_threadpool(build))
                task.add_done_callback(lambda _: self.rendering.discard(key))
        else:
            html = await run_in_threadpool(build)
        return Response(self.fill(html, request, session), media_type="text/html; charset=utf-8")

    def back(
        self,
        request: Request,
        form: FormData,
        session: Session,
        message: str = "",
        error: str = "",
        goto: Goto | None = None,
    ) -> RedirectResponse:
        """Back to the page the action came from (or `goto`'s), with its message signed for this session."""
        if goto is not None:
            path, message, anchor = goto.path, goto.message, goto.anchor
        else:
            target = str(form.get("next") or request.headers.get("referer") or "/")
            parts = urlsplit(target)
            path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else "/"
            kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("msg", "sig")] if path in PAGES else []
            path += "?" + urlencode(kept) if kept else ""  # the page as the operator had it: its filter, its search
            anchor = str(form.get("anchor") or "")
        text = f"error:{error}" if error else message
        text = text[:500]
        query = f"{'&' if '?' in path else '?'}msg={quote(text)}&sig={session.sign(text)}" if text else ""
        anchor = "".join(c for c in anchor if c.isalnum() or c in "-_")[:40]
        return RedirectResponse(path + query + (f"#{anchor}" if anchor else ""), status_code=303)

    def guarded(
        self, handler: Callable[[Request, Session], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self.ctx.auth.known_session(request.cookies.get(SESSION_COOKIE))  # no thread, no store
            if session is None:
                _, session = await run_in_threadpool(self.session_of, request)
            if session is None:
                if request.method == "GET" and request.url.path != "/events":
                    return RedirectResponse("/login", status_code=303)
                return JSONResponse({"error": "log in first"}, status_code=401)
            return await handler(request, session)

        return endpoint

    def action(
        self,
        do: Callable[[Request, FormData, Session], str | Goto | Response],
    ) -> Callable[[Request], Awaitable[Response]]:
        """A state-changing POST: needs a session and its CSRF token; errors come back as messages."""

        async def handler(request: Request, session: Session) -> Response:
            try:
                form = await self.read_form(request)
            except BadRequest as exc:
                return PlainTextResponse(str(exc), status_code=400)
            if not same(str(form.get("csrf") or ""), session.csrf):
                return JSONResponse({"error": "missing or wrong CSRF token: reload the page"}, status_code=403)
            try:
                message = await run_in_threadpool(do, request, form, session)
            except BadRequest as exc:
                return PlainTextResponse(str(exc), status_code=400)
            except LivetweetError as exc:
                return self.back(request, form, session, error=display.words(str(exc)))
            except Exception:
                # No exception text reaches a page; the run's terminal has the traceback.
                log.exception("console action %s failed", request.url.path)
                return PlainTextResponse(
                    "the console could not do that (an internal error, shown on the run's screen): "
                    "look at the page again before you retry",
                    status_code=500,
                )
            finally:
                await run_in_threadpool(self.watch.refresh)  # the next page shows this operator's own change
            if isinstance(message, Response):
                return message
            if isinstance(message, Goto):
                return self.back(request, form, session, goto=message)
            return self.back(request, form, session, message)

        return self.guarded(handler)

    async def read_form(self, request: Request) -> FormData:
        """The form of a POST: fields only, except images in image1..image4 where images go."""
        files = 4 if body_limit(request.url.path) > BODY_LIMIT else 0  # images only where they go
        form = await request.form(max_files=files, max_fields=MAX_FORM_FIELDS)
        for key, value in form.multi_items():
            if not isinstance(value, str) and key not in IMAGE_FIELDS:
                raise BadRequest(f"a file was sent as {key[:30]!r}: only images, in image1 to image4, are taken")
        return _clean_form(form)

    def int_field(self, form: FormData, name: str) -> int | None:
        value = str(form.get(name) or "")
        return int(value) if value.isdigit() else None

    def marker(self) -> str:
        return self.watch.value
